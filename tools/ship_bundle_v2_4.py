"""Ship the bundled model v2.4: version 2.3 with its DiT and conditioner trained further on 3840 segments they
had not seen (``compact_dit_v24.json``). The autoencoder, the prompt encoders, T_LUFS, the loudness head, the
gain direction net and the evaluation classifier are version 2.3's, bit for bit (the head and the net read
only the autoencoder's latents and decodes).

    .venv/bin/python tools/ship_bundle_v2_4.py candidate runs/s18/cand --dit runs/compact/dit_v24
    bash docs/training_runs/compact-v2.4/dev.sh runs/s18/cand        # dev clips, against the bundle
    bash docs/training_runs/compact-v2.4/measure.sh runs/s18/cand    # the held-out set, once
    .venv/bin/python tools/ship_bundle_v2_4.py ship runs/s18/cand

``ship`` reads ``docs/training_runs/compact-v2.4/``: ``table3.json`` (every Table 3 row) and ``methods.json``
(the curve methods with the bundle's own guidance default, and the curves from motion), and
``known_limits.json``. It keeps version 2.3's manifest there as ``manifest_v2_3.json``, renames the new folder
into ``model_weights/compact`` and writes ``model_weights/compact_eval.md`` from the new figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.4"
BUNDLE = ROOT / "model_weights" / "compact"
STAGE = "dit_v24"
CARRIED = ("lufs_mode", "benchmark", "dev_check")  # manifest parts that a new DiT does not touch


def _bundle_version() -> str:
    return str(json.loads((BUNDLE / "manifest.json").read_text())["version"])


def candidate(out: Path, dit_run: Path) -> None:
    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import add_file_to_model_dir, load_model_dir, save_model_dir
    from triergon_studio.training.eval.dev_check import put_stage_weights

    if _bundle_version() != "2.3":
        raise SystemExit(f"{BUNDLE}: not version 2.3; nothing to do")
    model = load_model_dir(BUNDLE).eval()
    put_stage_weights(model, str(dit_run / "weights.safetensors"), ("dit.", "conditioner."), "dit")
    if out.exists():
        shutil.rmtree(out)
    save_model_dir(model, model.cfg, out, {"training": {"dit_run": str(dit_run)}}, version="2.4")
    for f in ("eval_classifier.safetensors", HEAD_FILE, GAIN_NET_FILE):
        add_file_to_model_dir(out, BUNDLE / f, f)
    print(json.dumps({"candidate": str(out), "files": sorted(p.name for p in out.iterdir())}))


def _manifest_extra(old: dict[str, Any], dit_run: Path) -> dict[str, Any]:
    from triergon_studio.training.eval.curve_methods import manifest_rows
    from triergon_studio.training.reproduce import stage_record

    training = copy.deepcopy(old["training"])
    training["stages"][STAGE] = stage_record(dit_run.parent, dit_run.name)
    training["total_seconds"] = round(sum(v["seconds"] for v in training["stages"].values()), 1)
    training["logs"] += ", docs/training_runs/compact-v2.4 (the DiT trained on)"
    training["hardware_note"] = training["hardware_note"].replace("dit 2;", f"dit 2, {STAGE} 2;")
    methods = json.loads((RUNS / "methods.json").read_text())
    guide = copy.deepcopy(old["guide_default"])
    guide["heldout"] = {
        "measured_after_the_choice": True,
        "report": str((RUNS / "methods.json").relative_to(ROOT)),
        "clips": methods["clips"],
        "rows": manifest_rows(methods),
        "targets": methods["targets"],
        "time_note": "run beside the Table 3 evaluation (one torch thread each on the 2 cores); the "
        "architecture and the guidance are version 2.2's, whose benchmarks/bench_curve_guidance.py figure "
        "for a 10 s take was 1.83x (docs/training_runs/compact-v2.2/bench_guidance_own_default.txt)",
        "v2.3": old["guide_default"]["heldout"]["rows"],
    }
    return {
        "training": training,
        "eval": json.loads((RUNS / "table3.json").read_text()),
        "guide_default": guide,
        "known_limits": json.loads((RUNS / "known_limits.json").read_text()),
        **{k: old[k] for k in CARRIED},
    }


def ship(folder: Path) -> None:
    from bundle_install import install_bundle

    from triergon_studio.training.fileio import atomic_write_json

    old = json.loads((BUNDLE / "manifest.json").read_text())
    if old["version"] != "2.3":
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not 2.3; nothing to do")
    cand = json.loads((folder / "manifest.json").read_text())
    extra = _manifest_extra(old, Path(cand["training"]["dit_run"]))
    atomic_write_json(RUNS / "manifest_v2_3.json", old)
    install_bundle(folder, BUNDLE, extra, "2.4")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("candidate", "ship"))
    ap.add_argument("folder", type=Path, help="the candidate folder")
    ap.add_argument("--dit", type=Path, help="with candidate: the dit stage's run folder")
    args = ap.parse_args()
    if args.action == "candidate":
        if args.dit is None:
            ap.error("candidate needs --dit RUN_FOLDER")
        candidate(args.folder, args.dit)
    else:
        ship(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
