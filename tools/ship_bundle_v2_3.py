"""Ship the bundled model v2.3: version 2.2 with the gated T_LUFS (``compact_lufs.json``: an audibility logit
per channel and the level fitted on audible frames only). Every other part is version 2.2's, bit for bit.

    .venv/bin/python tools/ship_bundle_v2_3.py candidate runs/s17/candidate --lufs runs/s17/lufs_gated_2800
    .venv/bin/python tools/ship_bundle_v2_3.py measure runs/s17/candidate      # dev, held-out T_LUFS, V+T+pred
    .venv/bin/python tools/ship_bundle_v2_3.py ship runs/s17/candidate

``candidate`` writes the new folder (the bundle's config with ``lufs_predictor.head = "gated"``, its weights
with the run's ``lufs_predictor.*``, its classifier, loudness head and gain net). ``measure`` writes
``dev_check.json`` (T_LUFS on the 54 dev clips), ``heldout_t_lufs.json`` and ``table3_pred.json`` (the
V+T+pred row on the held-out set, the only Table 3 row that reads T_LUFS) into
``docs/training_runs/compact-v2.3/``. ``ship`` puts those figures into the manifest, keeps version 2.2's as
``manifest_v2_2.json`` there, renames the candidate into ``model_weights/compact`` and writes
``model_weights/compact_eval.md`` from the merged figures.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.3"
BUNDLE = ROOT / "model_weights" / "compact"
HELDOUT = ROOT / "runs" / "heldout"
CARRIED = ("lufs_mode", "benchmark", "guide_default")  # manifest parts that T_LUFS does not touch


def candidate(out: Path, lufs_run: Path) -> None:
    import dataclasses

    from bundle_install import lufs_candidate

    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import load_model_dir

    old = load_model_dir(BUNDLE)
    if json.loads((BUNDLE / "manifest.json").read_text())["version"] != "2.2":
        raise SystemExit(f"{BUNDLE}: not version 2.2; nothing to do")
    assert old.cfg.lufs_predictor is not None
    cfg = dataclasses.replace(
        old.cfg, lufs_predictor=dataclasses.replace(old.cfg.lufs_predictor, head="gated")
    )
    lufs_candidate(
        old, cfg, lufs_run, out, "2.3", ("eval_classifier.safetensors", HEAD_FILE, GAIN_NET_FILE), BUNDLE
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
    training["logs"] += ", docs/training_runs/compact-v2.3 (the gated T_LUFS)"
    training["hardware_note"] = training["hardware_note"].replace(
        "resumed from a checkpoint: lufs from step 250, ", "resumed from a checkpoint: "
    )
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
    dev_check["t_lufs_mae_lu"] = dev["t_lufs_mae_lu"]
    dev_check["t_lufs_breakdown"] = dev["t_lufs_breakdown"]
    dev_check["v2.2"] = {"t_lufs_mae_lu": old["dev_check"]["t_lufs_mae_lu"]}
    limits = json.loads((RUNS / "known_limits.json").read_text())
    return {
        "training": training,
        "eval": ev,
        "dev_check": dev_check,
        "known_limits": limits,
        **{k: old[k] for k in CARRIED},
    }


def ship(folder: Path) -> None:
    from bundle_install import install_bundle

    from triergon_studio.training.fileio import atomic_write_json

    old = json.loads((BUNDLE / "manifest.json").read_text())
    if old["version"] != "2.2":
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not 2.2; nothing to do")
    lufs_run = Path(json.loads((folder / "manifest.json").read_text())["training"]["lufs_run"])
    extra = _manifest_extra(old, lufs_run)
    atomic_write_json(RUNS / "manifest_v2_2.json", old)
    install_bundle(folder, BUNDLE, extra, "2.3")


def main() -> int:
    from bundle_install import lufs_ship_cli

    return lufs_ship_cli(__doc__ or "", candidate, measure, ship)


if __name__ == "__main__":
    sys.exit(main())
