"""Short background tasks (read a file, measure a take, make thumbnails) off the UI thread.

Long generator jobs go through ``worker.JobQueue``; these are one-shot calls whose result comes back on the
UI thread through a queued signal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from triergon_studio.ui.worker import describe_error


class _Relay(QObject):
    """Lives on the UI thread; its own slots make the cross-thread connections queued."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[str], None] | None) -> None:
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver_done(self, value: Any) -> None:
        _live.discard(self)
        self._on_done(value)

    @Slot(str)
    def _deliver_error(self, message: str) -> None:
        _live.discard(self)
        if self._on_error is not None:
            self._on_error(message)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay
        self.setAutoDelete(True)

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported as one line
            self.relay.failed.emit(describe_error(exc))
            return
        self.relay.done.emit(result)


_live: set[_Relay] = set()


def pool() -> QThreadPool:
    p = QThreadPool.globalInstance()
    if p.maxThreadCount() > 2:
        p.setMaxThreadCount(2)  # the decoder and the job queue have their own threads
    return p


def run_async(fn: Callable[[], Any], on_done: Callable[[Any], None],
              on_error: Callable[[str], None] | None = None) -> None:
    """Run ``fn`` on the pool; ``on_done(result)`` or ``on_error(message)`` runs on the UI thread."""
    relay = _Relay(on_done, on_error)
    _live.add(relay)  # keep the relay alive until it has delivered
    pool().start(_Task(fn, relay))


def wait_all(timeout_ms: int = 10000) -> bool:
    return pool().waitForDone(timeout_ms)
