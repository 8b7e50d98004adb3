"""Ship the bundled model v2.2: version 2.1 with the coherent-side autoencoder (``compact_vae_pan.json``)
and its DiT and conditioner fine-tuned on the new latents (``compact_dit_v22.json``); the text, audio and
video encoders and T_LUFS are version 2.1's.

    .venv/bin/python tools/ship_bundle_v2_2.py runs/compact_v22d

The candidate folder is ``tools/assemble_candidate.py model_weights/compact runs/compact_v22d --vae
runs/compact/vae_pan/weights.safetensors --dit runs/compact/dit_v22/weights.safetensors`` with
``train-loudness-head`` and ``train-gain-net`` run into it (the same weights ``reproduce`` assembles, since
both stages started from version 2.1's). The figures come from ``docs/training_runs/compact-v2.2/``:
``table3.json`` (``eval --rows all`` on the held-out set), ``dev_check.json``, ``bench_bundled.json`` and
``known_limits.json``. Version 2.1's manifest is kept there as ``manifest_v2_1.json``. The new bundle is
written beside ``model_weights/compact`` and renamed into place; the evaluation classifier carries over.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.2"
BUNDLE = ROOT / "model_weights" / "compact"
NEW_STAGES = ("vae_pan", "dit_v22")


def _manifest_extra(old: dict[str, Any], work: Path) -> dict[str, Any]:
    from triergon_studio.training.reproduce import stage_record

    training = copy.deepcopy(old["training"])
    for s in NEW_STAGES:
        training["stages"][s] = stage_record(work, s)
    training["total_seconds"] = round(sum(v["seconds"] for v in training["stages"].values()), 1)
    training["logs"] = (
        "docs/training_runs/compact-v2 (each first stage), docs/training_runs/compact-v2.1 (the decoder run), "
        "docs/training_runs/compact-v2.2 (the coherent side and the DiT fine-tune)"
    )
    dev = json.loads((RUNS / "dev_check.json").read_text())
    old_dev = old["dev_check"]
    rec, mel = dev["classifier_acc_vae_reconstruction"], dev["vae_mel_shape_error_db"]
    dev_check = {
        "seed": dev["seed"],
        "t_lufs_mae_lu": dev["t_lufs_mae_lu"],
        "text_embedding_acc_heldout_phrasings": old_dev["text_embedding_acc_heldout_phrasings"],
        "clips": dev["clips"],
        "classifier_acc_original": dev["classifier_acc_original"],
        "classifier_acc_vae_reconstruction": rec,
        "vae_mel_shape_error_db": mel,
        "stereo_balance": dev["stereo_balance"],
        "targets": {
            "classifier_acc_vae_reconstruction": {"target": 0.8, "met": rec >= 0.8},
            "vae_mel_shape_error_db": {"target": 4.0, "met": mel <= 4.0},
        },
        "v2.1": {k: old_dev[k] for k in ("classifier_acc_vae_reconstruction", "vae_mel_shape_error_db")},
        "v2": old_dev["v2"],
        "v1": old_dev["v1"],
    }
    return {
        "training": training,
        "eval": json.loads((RUNS / "table3.json").read_text()),
        "lufs_mode": old["lufs_mode"],
        "dev_check": dev_check,
        "benchmark": json.loads((RUNS / "bench_bundled.json").read_text()),
        "known_limits": json.loads((RUNS / "known_limits.json").read_text()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("candidate", type=Path, help="the candidate folder with its loudness head and gain net")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "compact", help="the stages' run folders")
    args = ap.parse_args()

    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import add_file_to_model_dir, load_model_dir, save_model_dir
    from triergon_studio.training.fileio import atomic_write_json

    for f in (HEAD_FILE, GAIN_NET_FILE):
        if not (args.candidate / f).is_file():
            raise SystemExit(f"{args.candidate / f}: missing; train it into the candidate first")
    old = json.loads((BUNDLE / "manifest.json").read_text())
    if old["version"] != "2.1":
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not 2.1; nothing to do")
    extra = _manifest_extra(old, args.work)
    atomic_write_json(RUNS / "manifest_v2_1.json", old)

    model = load_model_dir(args.candidate).eval()
    new = BUNDLE.with_name(".compact-v2.2")
    if new.exists():
        shutil.rmtree(new)
    save_model_dir(model, model.cfg, new, extra, version="2.2")
    add_file_to_model_dir(new, BUNDLE / "eval_classifier.safetensors", "eval_classifier.safetensors")
    for f in (HEAD_FILE, GAIN_NET_FILE):
        add_file_to_model_dir(new, args.candidate / f, f)
    retired = BUNDLE.with_name(".compact-v2.1")
    BUNDLE.rename(retired)
    new.rename(BUNDLE)
    shutil.rmtree(retired)
    print(json.dumps({"version": "2.2", "files": sorted(p.name for p in BUNDLE.iterdir())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
