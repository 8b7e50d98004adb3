"""Ship the bundled model v3.3: version 3.2 with its DiT reading the curve at every block
(``DiTConfig.lufs_frame_blocks``) and sampled with the curve's own CFG weight -0.5 (``SamplingDefaults.curve_cfg``;
session 36). The DiT and conditioner are the element-wise midpoint of two 1200-step fine-tunes of version 3.2's,
one with the v-objective alone and one with the curve term at 0.03; the autoencoder, the prompt encoders, T_LUFS
and the loudness head are version 3.2's, bit for bit.

    bash docs/training_runs/compact-v3/session36/train.sh
    .venv/bin/python tools/weight_soup.py --out runs/s36/s36_mid/weights.safetensors \
        runs/s36/s36_blk/weights.safetensors runs/s36/s36_blkw/weights.safetensors
    .venv/bin/python tools/assemble_candidate.py model_weights/compact runs/v36/mid_cc \
        --dit runs/s36/s36_mid/weights.safetensors --dit-set lufs_frame_blocks=true --sampling-set curve_cfg=-0.5
    (dev clips, docs/training_runs/compact-v3/session36; the evaluation classifier added; then once:)
    bash docs/training_runs/compact-v2.4/measure.sh runs/v36/mid_cc docs/training_runs/compact-v3/session36/heldout
    .venv/bin/python tools/ship_bundle_v3_3.py runs/v36/mid_cc

It reads ``docs/training_runs/compact-v3/session36/``: ``heldout/table3.json``, ``heldout/methods.json``,
``benchmark.json``, ``known_limits.json`` and the two runs' ``summary.json``; keeps version 3.2's manifest there
as ``manifest_v3_2.json`` and puts the candidate in place of ``model_weights/compact``.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "docs" / "training_runs" / "compact-v3" / "session36"
BUNDLE = ROOT / "model_weights" / "compact"
OLD, NEW = "3.2", "3.3"
FINE_TUNES = ("s36_blk", "s36_blkw")


def _read(name: str) -> Any:
    return json.loads((RUNS / name).read_text())


def _stage(run: str) -> dict[str, Any]:
    """A fine-tune's record in the manifest's ``training.stages`` form, its config this folder's."""
    from triergon_studio.training.reproduce import stage_record

    return {
        **stage_record(RUNS, run),
        "config": f"docs/training_runs/compact-v3/session36/{run}.json",
        "loudness_weight": _read(f"{run}/config.json").get("loudness_weight", 0.0),
    }


def _extra(old: dict[str, Any]) -> dict[str, Any]:
    from bundle_install import guide_with_heldout

    training = copy.deepcopy(old["training"])
    stages = {run: _stage(run) for run in FINE_TUNES}
    training["stages"].update(stages)
    training["total_seconds"] = round(
        old["training"]["total_seconds"] + sum(s["seconds"] for s in stages.values())
    )
    training["hardware_note"] += "; s36_blk 1, s36_blkw 1 (side by side)"
    training["logs"] += ", docs/training_runs/compact-v3/session36 (the curve at every block of the DiT)"
    training["dit_blocks_note"] = (
        "version 3.3's DiT and conditioner are the element-wise mean (training.reproduce step dit_mid) of s36"
        "_blk and s36_blkw (recipe steps dit_blk and dit_blkw: the same configs with the recipe's folders), b"
        "oth started from version 3.2's DiT and conditioner with the new per-block path zero-initialised, on "
        "the same batches of version 3's pool; the session's runs took that start from the bundle (session 35"
        "'s start.sh), which holds the recipe's dit_track weights as assembled"
    )
    guide = guide_with_heldout(old, RUNS / "heldout" / "methods.json", ROOT, OLD)
    return {
        "training": training,
        "eval": _read("heldout/table3.json"),
        "guide_default": guide,
        "dev_check": old["dev_check"],  # the autoencoder, the prompt encoders and T_LUFS are version 3.2's
        "benchmark": _read("benchmark.json"),
        "known_limits": _read("known_limits.json"),
        "lufs_mode": old["lufs_mode"],
        "eval_v3.2": old["eval"],
        "eval_v3.1": old["eval_v3.1"],
        "eval_v3.0": old["eval_v3.0"],
        "eval_v2.5": old["eval_v2.5"],
    }


def ship(folder: Path) -> None:
    from bundle_install import ship_measured

    ship_measured(folder, BUNDLE, (OLD, NEW), RUNS / "manifest_v3_2.json", _extra)


def main() -> int:
    from bundle_install import ship_measured_cli

    return ship_measured_cli(__doc__ or "", ship)


if __name__ == "__main__":
    sys.exit(main())
