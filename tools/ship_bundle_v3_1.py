"""Ship the bundled model v3.1: version 3 with its DiT and conditioner trained 600 more steps with the curve term
read through the band-PCA loudness track (the recipe's ``dit_track`` step; session 29). The autoencoder, the
prompt encoders, T_LUFS and the loudness head are version 3's, bit for bit.

    .venv/bin/python -m triergon_studio.training.reproduce --steps dit_track
    .venv/bin/python tools/assemble_candidate.py model_weights/compact runs/v3/c29_trk \
        --dit runs/compact/dit_track/weights.safetensors
    (dev clips against the paired control, docs/training_runs/compact-v3/session29; then the held-out set once:)
    bash docs/training_runs/compact-v2.4/measure.sh runs/v3/c29_trk \
        docs/training_runs/compact-v3/session29/heldout_trk
    .venv/bin/python tools/ship_bundle_v3_1.py runs/v3/c29_trk

It reads ``docs/training_runs/compact-v3/session29/``: ``heldout_trk/table3.json``, ``heldout_trk/methods.json``
and ``known_limits.json``, keeps version 3.0's manifest there as ``manifest_v3_0.json`` and puts the candidate
in place of ``model_weights/compact``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v3" / "session29"
BUNDLE = ROOT / "model_weights" / "compact"
WORK = ROOT / "runs" / "compact"
OLD, NEW = "3.0", "3.1"


def _read(name: str) -> Any:
    return json.loads((RUNS / name).read_text())


def _extra(old: dict[str, Any]) -> dict[str, Any]:
    from bundle_install import guide_with_heldout

    from triergon_studio.training.reproduce import TRACK_DIT, training_manifest

    training = training_manifest(WORK, TRACK_DIT)["training"]
    training["logs"] = old["training"]["logs"] + (
        ", docs/training_runs/compact-v3/session29 (the DiT's curve term through the loudness track)"
    )
    training["dit_track_note"] = (
        "the run started from version 3.0's model.safetensors, whose dit_mel, vae_mel and encoders tensors equal "
        "those run folders' weights (checked in session 29), as the recipe's config starts from them"
    )
    guide = guide_with_heldout(old, RUNS / "heldout_trk" / "methods.json", ROOT, OLD)
    return {
        "training": training,
        "eval": _read("heldout_trk/table3.json"),
        "guide_default": guide,
        "dev_check": old["dev_check"],  # the autoencoder and the prompt encoders are version 3.0's
        "benchmark": old["benchmark"],  # the same networks: the speed is version 3.0's
        "known_limits": _read("known_limits.json"),
        "lufs_mode": old["lufs_mode"],
        "eval_v3.0": old["eval"],
        "eval_v2.5": old["eval_v2.5"],
    }


def ship(folder: Path) -> None:
    from bundle_install import ship_measured

    ship_measured(folder, BUNDLE, (OLD, NEW), RUNS / "manifest_v3_0.json", _extra)


def main() -> int:
    from bundle_install import ship_measured_cli

    return ship_measured_cli(__doc__ or "", ship)


if __name__ == "__main__":
    sys.exit(main())
