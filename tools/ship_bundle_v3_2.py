"""Ship the bundled model v3.2: version 3.1 with its T_LUFS fine-tuned to read four pictures per curve frame (the
recipe's ``lufs_sub`` step; session 32). Everything else is version 3.1's, bit for bit.

    .venv/bin/python tools/ship_bundle_v3_2.py candidate runs/s32/cand --lufs runs/compact/lufs_sub
    .venv/bin/python tools/ship_bundle_v3_2.py measure runs/s32/cand    # dev, held-out T_LUFS, V+T+pred, once
    .venv/bin/python tools/ship_bundle_v3_2.py ship runs/s32/cand

``measure`` writes ``docs/training_runs/compact-v3/session32/heldout_sub/`` (``dev_check.json``,
``heldout_t_lufs.json``, ``table3_pred.json``); ``ship`` reads them and ``known_limits.json`` beside them,
keeps version 3.1's manifest there as ``manifest_v3_1.json`` and puts the candidate in place of
``model_weights/compact``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "docs" / "training_runs" / "compact-v3" / "session32"
OUT = RUNS / "heldout_sub"
BUNDLE = ROOT / "model_weights" / "compact"
WORK = ROOT / "runs" / "compact"
HELDOUT = ROOT / "runs" / "heldout"
OLD, NEW = "3.1", "3.2"
SIDE_FILES = ("eval_classifier.safetensors", "loudness_head.safetensors")


def _old_manifest() -> dict[str, Any]:
    old = json.loads((BUNDLE / "manifest.json").read_text())
    if str(old["version"]) != OLD:
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not {OLD}; nothing to do")
    return old


def candidate(out: Path, lufs_run: Path) -> None:
    from bundle_install import lufs_candidate

    from triergon_studio.engine.weights import load_model_dir

    _old_manifest()
    if out.exists():
        raise SystemExit(f"{out}: exists; choose another folder")
    over = json.loads((lufs_run / "config.json").read_text())["model_overrides"]["lufs_predictor"]
    old = load_model_dir(BUNDLE)
    lp = old.cfg.lufs_predictor
    assert lp is not None
    lp = dataclasses.replace(lp, frame_cnn=dataclasses.replace(lp.frame_cnn, **over["frame_cnn"]))
    cfg = dataclasses.replace(old.cfg, lufs_predictor=lp)
    lufs_candidate(old, cfg, lufs_run, out, "candidate", SIDE_FILES, BUNDLE)


def measure(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from lufs_measure import measure_t_lufs

    measure_t_lufs(folder, OUT, HELDOUT)


def _read(name: str) -> Any:
    return json.loads((OUT / name).read_text())


def _extra(old: dict[str, Any]) -> dict[str, Any]:
    from triergon_studio.training.eval.results import EvalReport, compute_targets
    from triergon_studio.training.reproduce import training_manifest

    training = training_manifest(WORK)["training"]
    training["logs"] = old["training"]["logs"] + (
        ", docs/training_runs/compact-v3/session32 (T_LUFS reading four pictures per curve frame)"
    )
    training["dit_track_note"] = old["training"]["dit_track_note"]
    training["lufs_sub_note"] = (
        "run as docs/training_runs/compact-v3/session32/lufs_sub4_seed36 (its init the lufs run's T_LUFS widened "
        "by tools/t_lufs_sub_frames_init.py, which the recipe's init_one_picture does the same way) and copied "
        "to the recipe's folder runs/compact/lufs_sub"
    )
    ev = copy.deepcopy(old["eval"])
    table = _read("table3_pred.json")
    ev["rows"]["V+T+pred"] = table["rows"]["V+T+pred"]
    ev["t_lufs_mae"] = table["t_lufs_mae"]
    report = EvalReport.from_dict(ev, OUT / "table3_pred.json")
    report.targets = compute_targets(report)
    dev_check = copy.deepcopy(old["dev_check"])
    dev = _read("dev_check.json")
    dev_check["v3.1"] = {k: old["dev_check"][k] for k in ("t_lufs_mae_lu", "t_lufs_breakdown")}
    dev_check["t_lufs_mae_lu"] = dev["t_lufs_mae_lu"]
    dev_check["t_lufs_breakdown"] = dev["t_lufs_breakdown"]
    return {
        "training": training,
        "eval": report.to_dict(),
        "guide_default": old["guide_default"],  # curve guidance reads no T_LUFS
        "dev_check": dev_check,
        "benchmark": old["benchmark"],  # generation is version 3.1's networks
        "known_limits": json.loads((RUNS / "known_limits.json").read_text()),
        "lufs_mode": old["lufs_mode"],
        "eval_v3.1": old["eval"],
        "eval_v3.0": old["eval_v3.0"],
        "eval_v2.5": old["eval_v2.5"],
    }


def ship(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from bundle_install import install_bundle

    from triergon_studio.training.fileio import atomic_write_json

    old = _old_manifest()
    extra = _extra(old)
    atomic_write_json(RUNS / "manifest_v3_1.json", old)
    install_bundle(folder, BUNDLE, extra, NEW)
    shutil.rmtree(folder)


def main() -> int:
    sys.path.insert(0, str(ROOT / "tools"))
    from bundle_install import lufs_ship_cli

    return lufs_ship_cli(__doc__ or "", candidate, measure, ship)


if __name__ == "__main__":
    sys.exit(main())
