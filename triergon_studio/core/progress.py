"""Progress of long blocking calls as a plain callable, and a bridge that turns it into a generator's yields.

Model loading, curve prediction and frame decoding are ordinary functions that take an optional
``progress(message, fraction)`` callable (the same shape as ``audio.export``'s), with ``fraction`` in
[0, 1] for the whole call. ``span`` maps a part of the work onto a sub-range, so nested stages report one
fraction that only moves forward. ``run_reporting`` runs such a function on a helper thread and yields its
reports (those that move the fraction by 0.1 % or more), so a generator job (the app's worker) can show a
determinate bar and cancel at the next report. Plain Python: no Qt, no torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import TypeVar

from triergon_studio.errors import CancelledError

ProgressFn = Callable[[str, float], None]  # (message, fraction of the whole call in [0, 1])
T = TypeVar("T")


def report(progress: ProgressFn | None, message: str, fraction: float) -> None:
    """Call ``progress`` when there is one (the fraction clipped to [0, 1])."""
    if progress is not None:
        progress(message, min(1.0, max(0.0, float(fraction))))


def span(progress: ProgressFn | None, lo: float, hi: float, prefix: str = "") -> ProgressFn | None:
    """A callable that maps its own [0, 1] onto [lo, hi] of ``progress`` (None stays None)."""
    if progress is None:
        return None
    parent = progress

    def sub(message: str, fraction: float) -> None:
        f = min(1.0, max(0.0, float(fraction)))
        parent(f"{prefix}{message}" if prefix and message else (message or prefix), lo + (hi - lo) * f)

    return sub


class Stages:
    """Consecutive stages with relative weights: ``stages.part(name)`` is the callable for that stage's own
    [0, 1]; ``stages.done(name)`` reports it finished. The weights say how much of the bar each stage takes;
    inside a stage the fraction is the stage's real work (bytes, tensors, frames)."""

    def __init__(self, progress: ProgressFn | None, weights: dict[str, float]) -> None:
        self.progress = progress
        total = sum(weights.values()) or 1.0
        self.bounds: dict[str, tuple[float, float]] = {}
        acc = 0.0
        for name, w in weights.items():
            self.bounds[name] = (acc / total, (acc + w) / total)
            acc += w

    def part(self, name: str, prefix: str = "") -> ProgressFn | None:
        lo, hi = self.bounds[name]
        return span(self.progress, lo, hi, prefix)

    def start(self, name: str, message: str) -> None:
        report(self.progress, message, self.bounds[name][0])

    def done(self, name: str, message: str) -> None:
        report(self.progress, message, self.bounds[name][1])


def counter(progress: ProgressFn | None, total: int, message: str) -> Callable[[int], None]:
    """``tick(done)`` reports ``done / total`` with ``message`` (``{done}`` and ``{total}`` are filled in)."""

    def tick(done: int) -> None:
        if progress is not None:
            text = message.format(done=done, total=total)
            progress(text, done / total if total > 0 else 1.0)

    return tick


def run_reporting(
    fn: Callable[[ProgressFn], T],
    cancel: threading.Event | None = None,
    *,
    poll_s: float = 0.05,
    name: str = "progress",
) -> Generator[tuple[str, float], None, T]:
    """Run ``fn(progress)`` on a helper thread; yield its reports as ``(message, fraction)`` and return ``fn``'s
    result (or raise its exception). Only reports that move the fraction by at least 0.1 % are kept (a report
    per decoded frame does not flood the consumer: at most about a thousand per call), and none is lost to
    timing, so a fast call still shows its steps. Cancelling (``cancel`` set, or the generator closed) makes
    the next report inside ``fn`` raise ``CancelledError``, so the work stops at its next progress point."""
    lock = threading.Lock()
    pending: list[tuple[str, float]] = []
    last = [-1]  # the last kept report, in thousandths
    box: dict[str, object] = {}
    finished = threading.Event()
    stop = threading.Event()

    def progress(message: str, fraction: float) -> None:
        if stop.is_set() or (cancel is not None and cancel.is_set()):
            raise CancelledError("cancelled")
        f = min(1.0, max(0.0, float(fraction)))
        permille = int(f * 1000)
        with lock:
            if permille != last[0]:
                last[0] = permille
                pending.append((message, f))

    def work() -> None:
        try:
            box["result"] = fn(progress)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the consumer's thread below
            box["error"] = exc
        finished.set()

    thread = threading.Thread(target=work, name=name, daemon=True)
    try:
        thread.start()
        while True:
            finished.wait(poll_s)  # returns at once when the work is over
            done = finished.is_set()  # read before the reports, so the last report is never skipped
            with lock:
                batch = pending[:]
                pending.clear()
            yield from batch
            if done:
                break
            if cancel is not None and cancel.is_set():
                stop.set()
    finally:
        stop.set()  # closed early: the helper stops at its next report
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
