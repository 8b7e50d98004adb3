"""Ship the bundled model v2.6: version 2.5 with its decoder trained on with a loudness-curve term
(``compact_vae_loudness.json``: the encoder frozen, so the latents, the DiT trained on them and T_LUFS stay
version 2.5's, bit for bit). The loudness head and the gain direction net predict what the decoder makes, so
they are trained again for it by the shipped commands. No run has met its rule yet
(``docs/training_runs/compact-v2.6/PLAN.md``); the commands below name the first run's folder.

    .venv/bin/python tools/assemble_candidate.py model_weights/compact runs/s22/cand \
        --vae runs/compact/vae_loudness/weights.safetensors
    triergon-studio train-loudness-head runs/s22/cand --threads 1
    triergon-studio train-gain-net runs/s22/cand --threads 1
    bash docs/training_runs/compact-v2.6/dev.sh runs/s22/cand        # dev clips, against the bundle
    bash docs/training_runs/compact-v2.6/measure.sh runs/s22/cand    # the held-out set, once
    .venv/bin/python tools/ship_bundle_v2_6.py ship runs/s22/cand --run runs/compact/vae_loudness

Before ``ship``, add the run as the ``vae_loudness`` step of ``training.reproduce`` (after ``vae_pan``, its
decoder keys loaded after that stage's), so the one-command recipe makes the shipped bundle.

``ship`` reads ``docs/training_runs/compact-v2.6/``: ``table3.json`` (every Table 3 row), ``methods.json``
(the curve methods with the bundle's own guidance default, and the curves from motion), ``dev_check.json``
(the candidate's autoencoder on the dev-check clips) and ``known_limits.json``. It keeps version 2.5's manifest
there as ``manifest_v2_5.json``, puts the candidate (with the bundle's evaluation classifier) in place of
``model_weights/compact`` and writes ``model_weights/compact_eval.md`` from the new figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.6"
BUNDLE = ROOT / "model_weights" / "compact"
STAGE = "vae_loudness"
# the tokens-only comparison and the speed: the decoder's shape is unchanged
CARRIED = ("lufs_mode", "benchmark")
VAE_FIGURES = (
    "classifier_acc_vae_reconstruction",
    "vae_mel_shape_error_db",
    "stereo_balance",
    "vae_curve_mae_lu",
    "vae_curve_mae_after_offset_lu",
)


def _manifest_extra(old: dict[str, Any], run: Path) -> dict[str, Any]:
    from triergon_studio.training.eval.curve_methods import manifest_rows
    from triergon_studio.training.reproduce import stage_record

    training = copy.deepcopy(old["training"])
    rec = stage_record(run.parent, run.name)
    rec["config"] = "triergon_studio/training/configs/compact_vae_loudness.json"
    training["stages"][STAGE] = rec
    training["total_seconds"] = round(sum(v["seconds"] for v in training["stages"].values()), 1)
    training["logs"] += ", docs/training_runs/compact-v2.6 (the decoder with the loudness-curve term)"
    training["hardware_note"] = training["hardware_note"].replace("dit_v24 2;", f"dit_v24 2, {STAGE} 2;")
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
        "v2.5": old["guide_default"]["heldout"]["rows"],
    }
    if "motion" in methods:
        guide["heldout"]["motion_v2.6"] = methods["motion"]
    dev_check = copy.deepcopy(old["dev_check"])
    dev = json.loads((RUNS / "dev_check.json").read_text())
    before = json.loads((RUNS / "dev_check_v2_5.json").read_text())
    dev_check["v2.5"] = {k: before[k] for k in VAE_FIGURES}
    dev_check.update({k: dev[k] for k in VAE_FIGURES})
    for k, t in dev_check["targets"].items():
        t["met"] = dev[k] >= t["target"] if k.startswith("classifier") else dev[k] <= t["target"]
    return {
        "training": training,
        "eval": json.loads((RUNS / "table3.json").read_text()),
        "dev_check": dev_check,
        "guide_default": guide,
        "known_limits": json.loads((RUNS / "known_limits.json").read_text()),
        **{k: old[k] for k in CARRIED},
    }


def ship(folder: Path, run: Path) -> None:
    from bundle_install import install_bundle

    from triergon_studio.engine.weights import add_file_to_model_dir
    from triergon_studio.training.fileio import atomic_write_json

    old = json.loads((BUNDLE / "manifest.json").read_text())
    if old["version"] != "2.5":
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not 2.5; nothing to do")
    extra = _manifest_extra(old, run)
    clf = "eval_classifier.safetensors"
    if not (folder / clf).is_file():
        add_file_to_model_dir(folder, BUNDLE / clf, clf)
    atomic_write_json(RUNS / "manifest_v2_5.json", old)
    install_bundle(folder, BUNDLE, extra, "2.6")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("ship",))
    ap.add_argument("folder", type=Path, help="the candidate folder")
    ap.add_argument("--run", type=Path, required=True, help="the vae_loudness stage's run folder")
    args = ap.parse_args()
    ship(args.folder, args.run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
