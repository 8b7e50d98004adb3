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

from triergon_studio.errors import StudioError
from triergon_studio.training.eval.results import ROWS, EvalReport, lufs_mode_comparison, merge_reports


def row_groups(rows: tuple[str, ...], jobs: int) -> list[list[str]]:
    """Split rows into at most ``jobs`` groups, round robin (neighbouring rows cost about the same)."""
    n = max(1, min(jobs, len(rows)))
    groups: list[list[str]] = [[] for _ in range(n)]
    for i, r in enumerate(rows):
        groups[i % n].append(r)
    return groups


def _eval_cmd(
    model_dir: Path, rows: list[str], out: Path, heldout_dir: Path, n_clips: int, classifier: Path
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "triergon_studio",
        "eval",
        str(model_dir),
        "--heldout-dir",
        str(heldout_dir),
        "--clips",
        str(n_clips),
        "--rows",
        ",".join(rows),
        "--classifier",
        str(classifier),
        "--json",
        "--out",
        str(out),
    ]


def evaluate_parallel(
    model_dir: Path, work: Path, heldout_dir: Path, n_clips: int, jobs: int, compare: Path | None = None
) -> EvalReport:
    """Run the rows of ``model_dir`` (and the V+T+GT row of ``compare``) in parallel processes."""
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.corpus.heldout import write_heldout
    from triergon_studio.training.eval.classifier import work_classifier

    if not (heldout_dir / "heldout.json").exists():  # written once, before the processes could race on it
        write_heldout(heldout_dir, n_clips)
    classifier = work_classifier(work)
    jobs_list: list[tuple[Path, list[str], Path]] = [
        (model_dir, g, work / f"eval_part{i}.json")
        for i, g in enumerate(row_groups(ROWS, jobs - (compare is not None)))
    ]
    if compare is not None:
        jobs_list.append((compare, ["V+T+GT"], work / "eval_compare.json"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for model, rows, out in jobs_list:
        log = out.with_suffix(".log").open("w")
        procs.append(
            (
                subprocess.Popen(
                    _eval_cmd(model, rows, out, heldout_dir, n_clips, classifier),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                out,
                log,
            )
        )
    failed = []
    for proc, out, log in procs:
        if proc.wait() != 0:
            failed.append(out.with_suffix(".log"))
        log.close()
    if failed:
        raise StudioError(f"{len(failed)} evaluation process(es) failed; see the log", failed[0])
    report = merge_reports([_read_part(out) for model, _, out in jobs_list if model == model_dir], ROWS)
    if compare is not None:
        mine, other = report.row("V+T+GT"), _read_part(work / "eval_compare.json").row("V+T+GT")
        if mine is None or other is None:
            raise StudioError("a V+T+GT row is missing from the comparison", work)
        mode = ModelConfig.from_json(model_dir / "config.json").dit.lufs_mode
        other_mode = ModelConfig.from_json(compare / "config.json").dit.lufs_mode
        report.lufs_mode_comparison = lufs_mode_comparison(mine, mode, model_dir, other, other_mode, compare)
    return report


def _read_part(path: Path) -> EvalReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"unreadable evaluation part ({exc})", path) from exc
    return EvalReport.from_dict(data, path)
