"""T_LUFS's figures for a candidate bundle (used by ``ship_bundle_v2_3`` and ``ship_bundle_v2_5``).

Writes into ``runs_dir``: ``dev_check.json`` (T_LUFS on the 54 dev clips, with the breakdown of its error),
``heldout_t_lufs.json`` (the held-out videos, frames decoded from the mp4s) and ``table3_pred.json`` (the
V+T+pred row on the held-out set, the only Table 3 row that reads T_LUFS).
"""

from __future__ import annotations

import json
from pathlib import Path


def measure_t_lufs(folder: Path, runs_dir: Path, heldout: Path) -> None:
    import torch

    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.eval.dev_check import (
        DEV_SEED,
        dev_pool_for,
        t_lufs_heldout,
        t_lufs_report,
    )
    from triergon_studio.training.eval.report import evaluate_model_dir
    from triergon_studio.training.fileio import atomic_write_json

    torch.set_num_threads(1)
    runs_dir.mkdir(parents=True, exist_ok=True)
    pred = load_model_dir(folder).eval().lufs_predictor
    dev = {
        "clips": 54,
        "seed": DEV_SEED,
        **t_lufs_report(pred, dev_pool_for(pred, 54)),
    }
    atomic_write_json(runs_dir / "dev_check.json", dev)
    atomic_write_json(
        runs_dir / "heldout_t_lufs.json", {"clips": 36, "t_lufs_mae_lu": t_lufs_heldout(pred, heldout)}
    )
    report = evaluate_model_dir(
        folder, heldout_dir=heldout, classifier_path=folder / "eval_classifier.safetensors", rows=["V+T+pred"]
    )
    atomic_write_json(runs_dir / "table3_pred.json", report.to_dict())
    held = json.loads((runs_dir / "heldout_t_lufs.json").read_text())
    print(json.dumps({"dev": dev["t_lufs_mae_lu"], "heldout": held}))
