"""The evaluation's rows T, V+T and V+T+GT on the 36 dev clips with the bundle's default CFG scale replaced
(session 26; never the held-out set). One torch thread, so two can run side by side on two cores.

    .venv/bin/python tools/cfg_dev_sweep.py CFG [--model DIR] [--dev-dir runs/devclips36]

Prints each row's class accuracy, KL(ref||gen), AV-Align ratio and raw adherence, and writes the report to
``runs/cfg_sweep_CFG.json``. T_LUFS is left out (no row here reads it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def main() -> None:
    import torch

    from triergon_studio.takes import load_model
    from triergon_studio.training.eval.classifier import load_classifier
    from triergon_studio.training.eval.report import evaluate, load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("cfg", type=float)
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--dev-dir", default="runs/devclips36")
    ap.add_argument("--clips", type=int, default=36)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    model.lufs_predictor = None  # no row here reads T_LUFS
    model.info = dataclasses.replace(
        model.info, defaults=dataclasses.replace(model.info.defaults, cfg=args.cfg)
    )
    clf, _ = load_classifier(Path(args.model) / "eval_classifier.safetensors")
    clips = load_clips(Path(args.dev_dir), args.clips)
    with torch.inference_mode():
        report = evaluate(model, clips, clf, rows=("T", "V+T", "V+T+GT")).to_dict()
    Path("runs").mkdir(exist_ok=True)
    Path(f"runs/cfg_sweep_{args.cfg}.json").write_text(json.dumps(report))
    for row, r in report["rows"].items():
        raw = r.get("lufs_mae_raw")
        print(
            f"cfg {args.cfg} {row}: acc {r['class_acc']} KL {r['kl_ref_gen']} AV {r['av_align_ratio']}"
            f" raw {raw['mean'] if raw else '-'}"
        )


if __name__ == "__main__":
    main()
