"""Rendering on a real local Ray head: takes sample for sample equal to in-process generation, a worker killed
mid-cue is retried elsewhere, a head stopped mid-run fails the rest clearly and the run resumes."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Head, needs_ray, start_head
from tests.cluster.helpers import assert_same_takes, cli, cue, leftovers, reference, write_cues

pytestmark = needs_ray


def test_render_on_ray_matches_local_and_resumes(ray_head: Head, tmp_path: Path) -> None:
    cues = write_cues(
        tmp_path / "cues.jsonl", [cue("door", 0.0, 0.4, 7), cue("steps", 1.0, 1.3, 3, variations=2)]
    )
    ref = reference(cues, tmp_path / "ref")
    out = tmp_path / "out"
    res = cli("render", str(cues), "--out", str(out), "--cluster", ray_head.address, "--bits", "32f")
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_takes(out, ref)
    assert sorted(p.name for p in out.glob("*.wav")) == ["door.wav", "steps_v1.wav", "steps_v2.wav"]
    assert "door" in res.stdout and "done" in res.stdout  # the summary table
    assert leftovers(out) == []
    again = cli("render", str(cues), "--out", str(out), "--cluster", ray_head.address, "--bits", "32f")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 2, again.stdout


@pytest.mark.slow
def test_missing_server_model_folder_is_named(ray_head: Head, tmp_path: Path) -> None:
    cues = write_cues(tmp_path / "cues.jsonl", [cue("x", 0.0, 0.3, 1, model="server:/srv/no-such-model")])
    res = cli("render", str(cues), "--out", str(tmp_path / "out"), "--cluster", ray_head.address)
    assert res.returncode == 1
    assert "/srv/no-such-model: model folder not found on the server" in res.stdout, res.stdout


def _run(address: str, cues: Path, out: Path, on_progress: Any, timeout: float = 20.0) -> list[Any]:
    from triergon_studio.cluster.cues import read_cues
    from triergon_studio.cluster.pool import Location, Pool
    from triergon_studio.cluster.scheduler import WorkItem, run_jobs

    out.mkdir(parents=True, exist_ok=True)
    items = [WorkItem(c.name, c.spec, c.outputs(out), {"cue_digest": c.digest}) for c in read_cues(cues).cues]
    with Pool(Location("ray", address), timeout) as pool:
        return run_jobs(pool, items, lambda it: str(it.spec.model), bits="32f", on_progress=on_progress)


@pytest.mark.slow
def test_worker_killed_mid_cue_is_retried_on_another_worker(ray_head: Head, tmp_path: Path) -> None:
    cues = write_cues(
        tmp_path / "cues.jsonl", [cue("long", 0.0, 0.5, 11, steps=1500), cue("short", 0.0, 0.3, 5)]
    )
    ref = reference(cues, tmp_path / "ref")
    killed: list[int] = []
    workers: dict[str, set[int]] = {}

    def on_progress(item: Any, p: Any, worker: int) -> None:
        workers.setdefault(item.key, set()).add(worker)
        if item.key == "long" and p.stage == "sampling" and p.step >= 3 and not killed:
            killed.append(worker)
            os.kill(worker, signal.SIGKILL)

    out = tmp_path / "out"
    outcomes = {o.key: o for o in _run(ray_head.address, cues, out, on_progress)}
    assert killed, "the long cue never reached step 3"
    assert outcomes["long"].status == "done" and outcomes["long"].attempts == 2
    assert outcomes["short"].status == "done"
    assert len(workers["long"]) == 2 and killed[0] in workers["long"]  # it ran again in another process
    assert_same_takes(out, ref)
    assert leftovers(out) == []


@pytest.mark.slow
def test_head_stopped_mid_run_fails_clearly_and_the_run_resumes(ray_client_env: None, tmp_path: Path) -> None:
    head = start_head(tmp_path / "cache")
    cues = write_cues(
        tmp_path / "cues.jsonl",
        [
            cue("a", 0.0, 0.3, 1, steps=2),
            cue("b", 0.0, 0.3, 2, steps=2),
            cue("c", 0.0, 0.5, 3, steps=3000),
            cue("d", 0.0, 0.3, 4, steps=3000),  # still running when the head stops, on a quiet machine too
        ],
    )
    ref = reference(cues, tmp_path / "ref")
    out = tmp_path / "out"
    stopped = threading.Event()

    def on_progress(item: Any, p: Any, worker: int) -> None:
        if item.key == "c" and p.stage == "sampling" and p.step >= 2 and not stopped.is_set():
            stopped.set()
            head.stop(hard=True)

    try:
        outcomes = {o.key: o for o in _run(head.address, cues, out, on_progress, timeout=10.0)}
    finally:
        head.stop()
    assert stopped.is_set()
    assert outcomes["c"].status == "failed" and outcomes["d"].status == "failed"
    for key in ("c", "d"):
        msg = outcomes[key].message
        assert head.address in msg and "run the same command again to resume" in msg, msg
    assert not (out / "c.wav").exists() and leftovers(out) == []
    done_first = sorted(k for k, o in outcomes.items() if o.status == "done")
    assert "a" in done_first or "b" in done_first

    fresh = start_head(tmp_path / "cache2")
    try:
        res = cli("render", str(cues), "--out", str(out), "--cluster", fresh.address, "--bits", "32f")
    finally:
        fresh.stop()
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("skipped") == len(done_first), res.stdout
    assert_same_takes(out, ref)
