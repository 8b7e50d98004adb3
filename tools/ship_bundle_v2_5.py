"""Ship the bundled model v2.5: version 2.4 with T_LUFS trained again from nothing by version 2.3's recipe, its
frame CNN also seeing the difference to the next picture (``FrameCNNConfig.motion_next``). Curve frame k
measures [k/6, (k+1)/6) and picture k is shown at its start, so the change across frame k's own window is
picture k+1 minus picture k. Every other part is version 2.4's, bit for bit.

    .venv/bin/python tools/ship_bundle_v2_5.py candidate runs/s20/cand --lufs runs/s20/lufs_next
    .venv/bin/python tools/ship_bundle_v2_5.py measure runs/s20/cand   # dev, held-out T_LUFS, V+T+pred
    triergon-studio eval runs/s20/cand --heldout-dir runs/heldout --methods none --variants nolufs,frame \
        --out docs/training_runs/compact-v2.5/motion.json
    .venv/bin/python tools/ship_bundle_v2_5.py ship runs/s20/cand

``ship`` reads ``docs/training_runs/compact-v2.5/`` (``dev_check.json``, ``table3_pred.json``,
``motion.json``, ``known_limits.json``), keeps version 2.4's manifest there as ``manifest_v2_4.json``, renames
the candidate into ``model_weights/compact`` and writes ``model_weights/compact_eval.md``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.5"
BUNDLE = ROOT / "model_weights" / "compact"
HELDOUT = ROOT / "runs" / "heldout"
CARRIED = ("lufs_mode", "benchmark")  # manifest parts that T_LUFS does not touch


def _bundle_version() -> str:
    return str(json.loads((BUNDLE / "manifest.json").read_text())["version"])


def candidate(out: Path, lufs_run: Path) -> None:
    from bundle_install import lufs_candidate

    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import load_model_dir

    if _bundle_version() != "2.4":
        raise SystemExit(f"{BUNDLE}: not version 2.4; nothing to do")
    old = load_model_dir(BUNDLE)
    lp = old.cfg.lufs_predictor
    assert lp is not None
    lp = dataclasses.replace(lp, frame_cnn=dataclasses.replace(lp.frame_cnn, motion_next=True))
    cfg = dataclasses.replace(old.cfg, lufs_predictor=lp)
    lufs_candidate(
        old, cfg, lufs_run, out, "2.5", ("eval_classifier.safetensors", HEAD_FILE, GAIN_NET_FILE), BUNDLE
    )


def measure(folder: Path) -> None:
    from lufs_measure import measure_t_lufs

    measure_t_lufs(folder, RUNS, HELDOUT)


def _manifest_extra(old: dict[str, Any], lufs_run: Path) -> dict[str, Any]:
    from triergon_studio.training.eval.results import TARGETS
    from triergon_studio.training.reproduce import stage_record

    training = copy.deepcopy(old["training"])
    rec = stage_record(lufs_run.parent, lufs_run.name)
    rec["config"] = "triergon_studio/training/configs/compact_lufs.json"
    training["stages"]["lufs"] = rec
    training["total_seconds"] = round(sum(v["seconds"] for v in training["stages"].values()), 1)
    training["logs"] += ", docs/training_runs/compact-v2.5 (T_LUFS seeing the next picture)"
    ev = copy.deepcopy(old["eval"])
    table = json.loads((RUNS / "table3_pred.json").read_text())
    ev["rows"]["V+T+pred"] = table["rows"]["V+T+pred"]
    ev["t_lufs_mae"] = table["t_lufs_mae"]
    t = TARGETS["t_lufs_mae"]
    ev["targets"]["t_lufs_mae"] = {
        "target": t,
        "measured": table["t_lufs_mae"],
        "met": table["t_lufs_mae"] <= t,
    }
    dev_check = copy.deepcopy(old["dev_check"])
    dev = json.loads((RUNS / "dev_check.json").read_text())
    dev_check["v2.4"] = {
        "t_lufs_mae_lu": old["dev_check"]["t_lufs_mae_lu"],
        "t_lufs_breakdown": old["dev_check"]["t_lufs_breakdown"],
    }
    dev_check["t_lufs_mae_lu"] = dev["t_lufs_mae_lu"]
    dev_check["t_lufs_breakdown"] = dev["t_lufs_breakdown"]
    guide = copy.deepcopy(old["guide_default"])
    motion = json.loads((RUNS / "motion.json").read_text())["motion"]
    guide["heldout"]["motion_v2.5"] = {"report": str((RUNS / "motion.json").relative_to(ROOT)), **motion}
    return {
        "training": training,
        "eval": ev,
        "dev_check": dev_check,
        "guide_default": guide,
        "known_limits": json.loads((RUNS / "known_limits.json").read_text()),
        **{k: old[k] for k in CARRIED},
    }


def ship(folder: Path) -> None:
    from bundle_install import install_bundle

    from triergon_studio.training.fileio import atomic_write_json

    old = json.loads((BUNDLE / "manifest.json").read_text())
    if old["version"] != "2.4":
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not 2.4; nothing to do")
    lufs_run = Path(json.loads((folder / "manifest.json").read_text())["training"]["lufs_run"])
    extra = _manifest_extra(old, lufs_run)
    atomic_write_json(RUNS / "manifest_v2_4.json", old)
    install_bundle(folder, BUNDLE, extra, "2.5")


def main() -> int:
    from bundle_install import lufs_ship_cli

    return lufs_ship_cli(__doc__ or "", candidate, measure, ship)


if __name__ == "__main__":
    sys.exit(main())
