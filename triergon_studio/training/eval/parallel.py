"""The held-out evaluation split over processes by Table 3 row (one torch thread each), then merged.

Every row generates each clip with the same seeds as the single-process run, so the figures are the same
(tested); only the wall time changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from triergon_studio.errors import StudioError


def row_groups(rows: tuple[str, ...], jobs: int) -> list[list[str]]:
    """Split rows into at most ``jobs`` groups, round robin (neighbouring rows cost about the same)."""
    n = max(1, min(jobs, len(rows)))
    groups: list[list[str]] = [[] for _ in range(n)]
    for i, r in enumerate(rows):
        groups[i % n].append(r)
    return groups


def _eval_cmd(model_dir: Path, rows: list[str], out: Path, heldout_dir: Path, n_clips: int,
              classifier: Path) -> list[str]:
    return [sys.executable, "-m", "triergon_studio", "eval", str(model_dir), "--heldout-dir", str(heldout_dir),
            "--clips", str(n_clips), "--rows", ",".join(rows), "--classifier", str(classifier), "--json",
            "--out", str(out)]


def merge_reports(parts: list[dict[str, Any]], order: tuple[str, ...]) -> dict[str, Any]:
    from triergon_studio.training.eval.report import targets

    if not parts:
        raise StudioError("no evaluation parts to merge")
    rep: dict[str, Any] = {"clips": parts[0]["clips"], "reference": parts[0]["reference"], "rows": {}}
    for p in parts:
        if p["clips"] != rep["clips"] or p["reference"] != rep["reference"]:
            raise StudioError("evaluation parts disagree on the clips they measured")
        rep["rows"].update(p["rows"])
        if "t_lufs_mae" in p:
            rep["t_lufs_mae"] = p["t_lufs_mae"]
    rep["rows"] = {r: rep["rows"][r] for r in order if r in rep["rows"]}
    rep["targets"] = targets(rep)
    return rep


def evaluate_parallel(model_dir: Path, work: Path, heldout_dir: Path, n_clips: int, jobs: int,
                      compare: Path | None = None) -> dict[str, Any]:
    """Run the rows of ``model_dir`` (and the V+T+GT row of ``compare``) in parallel processes."""
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.corpus.heldout import write_heldout
    from triergon_studio.training.eval.report import ROWS, lufs_mode_comparison

    if not (heldout_dir / "heldout.json").exists():  # written once, before the processes could race on it
        write_heldout(heldout_dir, n_clips)
    classifier = work / "classifier.safetensors"
    jobs_list: list[tuple[Path, list[str], Path]] = [
        (model_dir, g, work / f"eval_part{i}.json") for i, g in enumerate(row_groups(ROWS, jobs - (compare is not None)))]
    if compare is not None:
        jobs_list.append((compare, ["V+T+GT"], work / "eval_compare.json"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for model, rows, out in jobs_list:
        log = out.with_suffix(".log").open("w")
        procs.append((subprocess.Popen(_eval_cmd(model, rows, out, heldout_dir, n_clips, classifier), env=env,
                                       stdout=log, stderr=subprocess.STDOUT), out, log))
    failed = []
    for proc, out, log in procs:
        if proc.wait() != 0:
            failed.append(out.with_suffix(".log"))
        log.close()
    if failed:
        raise StudioError(f"{len(failed)} evaluation process(es) failed; see the log", failed[0])
    main_parts = [json.loads(out.read_text()) for model, _, out in jobs_list if model == model_dir]
    report = merge_reports(main_parts, ROWS)
    if compare is not None:
        other = json.loads((work / "eval_compare.json").read_text())["rows"]["V+T+GT"]
        mode = ModelConfig.from_json(model_dir / "config.json").dit.lufs_mode
        other_mode = ModelConfig.from_json(compare / "config.json").dit.lufs_mode
        report["lufs_mode_comparison"] = lufs_mode_comparison(report["rows"]["V+T+GT"], mode, model_dir, other,
                                                              other_mode, compare)
    return report
