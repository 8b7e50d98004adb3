"""Short background tasks (read a file, measure a take, make thumbnails) off the UI thread.

Long generator jobs go through ``worker.JobQueue``; these are one-shot calls whose result comes back on the
UI thread through a queued signal. Plain Python threads do the work (no QRunnable wrappers to outlive the
interpreter).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from triergon_studio.ui.worker import describe_error

_live: set[_Relay] = set()
_executor: ThreadPoolExecutor | None = None


class _Relay(QObject):
    """Lives on the UI thread; its own slots make the cross-thread connections queued."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None] | None,
        context: QObject | None = None,
    ) -> None:
        # Unparented, held by ``_live`` until it delivers: a worker thread may emit on it at any moment, so Qt
        # must not delete it with its context (that race crashed a UI test). The context's end only drops the
        # answer.
        super().__init__()
        self._dropped = False
        if context is not None:
            context.destroyed.connect(self._drop)
        self._on_done, self._on_error = on_done, on_error
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    @Slot()
    def _drop(self) -> None:
        self._dropped = True

    @Slot(object)
    def _deliver_done(self, value: Any) -> None:
        _live.discard(self)
        if not self._dropped:
            self._on_done(value)

    @Slot(str)
    def _deliver_error(self, message: str) -> None:
        _live.discard(self)
        if self._on_error is not None and not self._dropped:
            self._on_error(message)


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        # Two workers: the decoder and the job queue have their own threads on a 2-core machine.
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ui-bg")
    return _executor


def _emit(signal: Any, value: Any) -> None:
    try:
        signal.emit(value)
    except RuntimeError:
        pass  # the widget that asked was closed meanwhile: nobody is waiting for the answer


def run_async(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
    context: QObject | None = None,
) -> None:
    """Run ``fn`` in the background; ``on_done(result)`` or ``on_error(message)`` runs on the UI thread.

    With a ``context`` object the answer is dropped once that object has been deleted (a closed window).
    """
    relay = _Relay(on_done, on_error, context)
    _live.add(relay)  # keep the relay alive until it has delivered

    def task() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - reported as one line
            _emit(relay.failed, describe_error(exc))
            return
        _emit(relay.done, result)

    executor().submit(task)


def wait_all(timeout_s: float = 10.0) -> None:
    """Block until queued background tasks have run (tests and shutdown)."""
    done = executor().submit(lambda: None)
    done.result(timeout=timeout_s)
