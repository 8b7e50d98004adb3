"""core.progress: stages that only move forward, and the bridge from a progress callable to a generator."""

from __future__ import annotations

import threading
import time

import pytest

from tests.steps import drive
from triergon_studio.core.progress import Stages, counter, run_reporting, span
from triergon_studio.errors import CancelledError, StudioError


def test_span_and_stages_map_onto_one_forward_fraction() -> None:
    seen: list[tuple[str, float]] = []
    stages = Stages(lambda m, f: seen.append((m, f)), {"a": 1.0, "b": 3.0})
    a, b = stages.part("a"), stages.part("b", "B: ")
    assert a is not None and b is not None
    a("half a", 0.5)
    stages.done("a", "a done")
    b("third", 1 / 3)
    b("over", 2.0)  # clipped to its stage
    assert [round(f, 6) for _, f in seen] == [0.125, 0.25, 0.5, 1.0]
    assert seen[2][0] == "B: third"
    assert span(None, 0, 1) is None and Stages(None, {"a": 1}).part("a") is None
    tick = counter(lambda m, f: seen.append((m, f)), 4, "frame {done}/{total}")
    tick(1)
    assert seen[-1] == ("frame 1/4", 0.25)


def test_run_reporting_yields_every_step_and_returns() -> None:
    def work(progress) -> str:  # type: ignore[no-untyped-def]
        for i in range(1, 201):
            progress(f"step {i}", i / 200)
        progress("again", 1.0)  # no movement: dropped
        return "result"

    got, result = drive(run_reporting(work))
    assert result == "result"
    assert [f for _, f in got] == [i / 200 for i in range(1, 201)]  # a fast call loses no step


def test_run_reporting_reraises_and_cancels_at_the_next_report() -> None:
    def bad(progress) -> None:  # type: ignore[no-untyped-def]
        progress("a", 0.1)
        raise StudioError("broken input")

    with pytest.raises(StudioError, match="broken input"):
        list(run_reporting(bad))

    cancel = threading.Event()
    stopped = threading.Event()

    def slow(progress) -> None:  # type: ignore[no-untyped-def]
        try:
            for i in range(1000):
                progress("tick", i / 1000)
                time.sleep(0.005)
        except CancelledError:
            stopped.set()
            raise

    gen = run_reporting(slow, cancel)
    next(gen)
    cancel.set()
    with pytest.raises(CancelledError):
        for _ in gen:
            pass
    assert stopped.is_set()

    # closing the generator (the app's worker aborting) stops the helper at its next report too
    stopped.clear()
    gen2 = run_reporting(slow)
    next(gen2)
    gen2.close()
    assert stopped.wait(5.0)
