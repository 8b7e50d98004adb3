"""The generator worker and job queue, driven by plain Python generators on real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import pytest

from triergon_studio.errors import AudioFileError, CancelledError
from triergon_studio.ui.worker import GeneratorWorker, Job, JobQueue, describe_error, running_threads


def counting(n: int, delay: float = 0.0):
    def factory(cancel: threading.Event) -> Generator[int, None, str]:
        for i in range(n):
            if delay:
                time.sleep(delay)
            yield i
        return f"done {n}"

    return factory


def test_queue_yields_and_returns_on_ui_thread(qtbot) -> None:
    queue = JobQueue()
    seen: list[int] = []
    threads: set[int] = set()
    results: list[str] = []

    def on_yield(v: int) -> None:
        seen.append(v)
        threads.add(threading.get_ident())

    job = Job("count", counting(5), on_yield=on_yield, on_return=results.append)
    with qtbot.waitSignal(queue.job_finished, timeout=5000):
        queue.submit(job)
    assert seen == [0, 1, 2, 3, 4]
    assert results == ["done 5"]
    assert threads == {threading.get_ident()}  # callbacks delivered on the UI thread
    assert not queue.is_busy()


def test_jobs_queue_up_in_order(qtbot) -> None:
    queue = JobQueue()
    order: list[str] = []
    jobs = [Job(f"j{i}", counting(3, 0.005), on_return=order.append) for i in range(3)]
    for j in jobs:
        queue.submit(j)
    assert len(queue) == 3 and queue.current is jobs[0]
    qtbot.waitUntil(lambda: len(order) == 3 and not queue.is_busy(), timeout=5000)
    assert order == ["done 3"] * 3
    qtbot.waitUntil(lambda: len(running_threads()) == 0, timeout=5000)  # finished threads are let go


def test_abort_between_yields(qtbot) -> None:
    queue = JobQueue()
    steps: list[int] = []
    aborted: list[bool] = []
    returned: list[object] = []
    job = Job(
        "slow",
        counting(1000, 0.01),
        on_yield=steps.append,
        on_abort=lambda: aborted.append(True),
        on_return=returned.append,
    )
    queue.submit(job)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    with qtbot.waitSignal(queue.job_finished, timeout=5000):
        queue.cancel_current()
    assert aborted == [True] and returned == []
    assert len(steps) < 1000


def test_generator_can_watch_the_cancel_event(qtbot) -> None:
    """A job that blocks inside a step sees the same event and raises CancelledError."""

    def factory(cancel: threading.Event) -> Generator[str, None, None]:
        yield "loading"
        if cancel.wait(5.0):
            raise CancelledError("cancelled inside a step")
        yield "never"

    queue = JobQueue()
    aborted: list[bool] = []
    queue.submit(Job("blocking", factory, on_abort=lambda: aborted.append(True)))
    qtbot.waitUntil(queue.is_busy, timeout=2000)
    t0 = time.monotonic()
    queue.cancel_current()
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=5000)
    assert aborted == [True]
    assert time.monotonic() - t0 < 2.0


def test_errors_become_one_line_messages(qtbot) -> None:
    def bad(cancel: threading.Event) -> Generator[int, None, None]:
        yield 1
        raise AudioFileError("not a RIFF file", path="/tmp/ref.wav")

    queue = JobQueue()
    errors: list[str] = []
    with qtbot.waitSignal(queue.job_finished, timeout=5000):
        queue.submit(Job("bad", bad, on_error=errors.append))
    assert errors == ["/tmp/ref.wav: not a RIFF file"]
    assert "Traceback" not in errors[0] and "\n" not in errors[0]


def test_later_job_runs_after_a_failed_one(qtbot) -> None:
    def boom(cancel: threading.Event) -> Generator[int, None, None]:
        raise RuntimeError("kaput")
        yield 0  # pragma: no cover

    queue = JobQueue()
    errors: list[str] = []
    results: list[str] = []
    queue.submit(Job("boom", boom, on_error=errors.append))
    queue.submit(Job("ok", counting(2), on_return=results.append))
    qtbot.waitUntil(lambda: results == ["done 2"] and not queue.is_busy(), timeout=5000)
    assert errors == [
        "Something went wrong: an internal error (RuntimeError). Details are in the log (Help > Show log)."
    ]


@pytest.mark.parametrize(
    ("exc", "needle"),
    [
        (MemoryError("cannot allocate 8 GiB"), "Out of memory"),
        (FileNotFoundError(2, "No such file", "/x/weights.safetensors"), "/x/weights.safetensors"),
        (ValueError("bad\nvalue"), "internal error (ValueError)"),
    ],
)
def test_describe_error(exc: BaseException, needle: str) -> None:
    text = describe_error(exc)
    assert needle in text and "\n" not in text


def test_unexpected_errors_go_to_the_log_with_their_traceback() -> None:
    from triergon_studio.ui.errorlog import log_path

    try:
        raise ValueError("buffer must be non-empty [frames, channels], got shape (0, 2)")
    except ValueError as exc:
        text = describe_error(exc)
    assert "buffer must be" not in text and "Help > Show log" in text  # no raw exception text for the user
    logged = log_path().read_text(encoding="utf-8")
    assert "Traceback" in logged and "buffer must be non-empty" in logged


_DROP_A_RUNNING_QUEUE = """
import gc, sys, threading, time
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from triergon_studio.ui.worker import Job, JobQueue, running_threads

app = QCoreApplication(sys.argv)
started = threading.Event()

def slow(cancel):
    started.set()
    for i in range(20):
        time.sleep(0.01)
        yield i
    return "done"

queue = JobQueue()
queue.submit(Job("slow", slow))
started.wait(5.0)
del queue
gc.collect()
loop = QEventLoop()
QTimer.singleShot(1000, loop.quit)
loop.exec()
print("kept", len(running_threads()))
"""


def test_dropping_a_queue_while_its_job_runs_does_not_abort() -> None:
    """Qt aborts the process when a running QThread is destroyed (a CI run died of it when a test's queue
    went out of scope a moment before its thread ended). Run in a child so a regression fails one test."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", _DROP_A_RUNNING_QUEUE], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "kept 0"  # released once the thread had finished


def test_worker_direct_run_reports_return() -> None:
    worker = GeneratorWorker(counting(2))
    got: list[object] = []
    worker.returned.connect(got.append)
    worker.run()  # same thread: direct connections
    assert got == ["done 2"]


def test_pyside_bool_emit_refcount_guard() -> None:
    """Our signals carry flags as int: in PySide6 6.12 each Python emit of ``True`` drops a reference to
    ``True`` (the interpreter aborts once it reaches zero). This test fails if a UI signal declares bool."""
    import inspect

    from PySide6.QtCore import Signal

    from triergon_studio.ui import takes_panel, transport, worker

    for module in (takes_panel, transport, worker):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            for name, attr in vars(cls).items():
                if isinstance(attr, Signal):
                    assert "bool" not in str(attr), f"{cls.__name__}.{name} declares a bool argument"
