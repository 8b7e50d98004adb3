"""Run generator jobs on a QThread and report through Qt signals.

A job is a callable that takes a ``threading.Event`` (the cancel flag) and returns a generator. The worker
steps the generator on its own thread, emits ``yielded`` for every value, and checks the abort flag between
yields (DESIGN seam 3). The generator itself also receives the event, so a sampler can stop inside a step
loop. Heavy imports (torch) happen inside the job, on the worker thread, so the window never waits on them.

``JobQueue`` runs one job at a time; further requests wait in order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from triergon_studio.errors import CancelledError

JobFactory = Callable[[threading.Event], Generator[Any, None, Any]]


def describe_error(exc: BaseException) -> str:
    """One line for the window, never a traceback (the traceback goes to the log: ``ui.errorlog``)."""
    from triergon_studio.ui.errorlog import user_message

    return user_message(exc)


class GeneratorWorker(QObject):
    """Steps one generator; lives on a QThread created by the caller."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    aborted = Signal()
    finished = Signal()

    def __init__(self, factory: JobFactory) -> None:
        super().__init__()
        self._factory = factory
        self.cancel_event = threading.Event()

    def abort(self) -> None:
        """Thread-safe: the flag is read between yields and by the job itself."""
        self.cancel_event.set()

    @property
    def abort_requested(self) -> bool:
        return self.cancel_event.is_set()

    @Slot()
    def run(self) -> None:
        self.started.emit()
        gen: Generator[Any, None, Any] | None = None
        try:
            gen = self._factory(self.cancel_event)
            while True:
                if self.cancel_event.is_set():
                    gen.close()
                    self.aborted.emit()
                    return
                try:
                    value = next(gen)
                except StopIteration as stop:
                    self.returned.emit(stop.value)
                    return
                self.yielded.emit(value)
        except CancelledError:
            self.aborted.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message, never a traceback
            if self.cancel_event.is_set():
                self.aborted.emit()
            else:
                self.errored.emit(describe_error(exc))
        finally:
            self.finished.emit()


class _RunningThreads(QObject):
    """Holds every job's thread and worker until the thread has finished.

    Qt aborts the process when a running ``QThread`` is destroyed. Without this, dropping a queue while its
    job runs (a closed dialog, a test's local) would take the whole app down.
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[QThread, GeneratorWorker] = {}

    def keep(self, thread: QThread, worker: GeneratorWorker) -> None:
        self._live[thread] = worker
        thread.finished.connect(self._release)  # queued: this object lives on the UI thread

    def __len__(self) -> int:
        return len(self._live)

    @Slot()
    def _release(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread) and thread in self._live:
            thread.wait()
            del self._live[thread]


_running: _RunningThreads | None = None


def running_threads() -> _RunningThreads:
    """The process-wide keeper; created on first use, on the UI thread."""
    global _running
    if _running is None:
        _running = _RunningThreads()
    return _running


@dataclass
class Job:
    """A queued request. ``name`` is what the status bar shows."""

    name: str
    factory: JobFactory
    on_yield: Callable[[Any], None] | None = None
    on_return: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_abort: Callable[[], None] | None = None
    kind: str = "generate"
    started_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


class JobQueue(QObject):
    """One worker thread at a time; later jobs wait. Signals carry the ``Job``."""

    job_started = Signal(object)
    job_yielded = Signal(object, object)
    job_returned = Signal(object, object)
    job_errored = Signal(object, str)
    job_aborted = Signal(object)
    job_finished = Signal(object)
    queue_changed = Signal(int)  # jobs waiting + running
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: deque[Job] = deque()
        self._current: Job | None = None
        self._worker: GeneratorWorker | None = None
        self._thread: QThread | None = None

    @property
    def current(self) -> Job | None:
        return self._current

    @property
    def pending(self) -> list[Job]:
        return list(self._pending)

    def __len__(self) -> int:
        return len(self._pending) + (1 if self._current is not None else 0)

    def is_busy(self) -> bool:
        return self._current is not None

    def submit(self, job: Job) -> Job:
        self._pending.append(job)
        self.queue_changed.emit(len(self))
        if self._current is None:
            self._start_next()
        return job

    def cancel_current(self) -> bool:
        if self._worker is None:
            return False
        self._worker.abort()
        return True

    def cancel_all(self) -> None:
        self._pending.clear()
        self.cancel_current()
        self.queue_changed.emit(len(self))

    def remove_pending(self, job: Job) -> bool:
        try:
            self._pending.remove(job)
        except ValueError:
            return False
        self.queue_changed.emit(len(self))
        return True

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the running thread ends (used on close and in tests)."""
        thread = self._thread
        return True if thread is None else thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self._pending.clear()
        self.cancel_current()
        self.wait(timeout_ms)

    def _start_next(self) -> None:
        if not self._pending:
            self.idle.emit()
            return
        job = self._pending.popleft()
        job.started_at = time.monotonic()
        worker = GeneratorWorker(job.factory)
        thread = QThread()
        thread.setObjectName(f"job:{job.name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Bound slots of this UI-thread object make the connections queued (a lambda would run on the
        # worker thread). Jobs run one at a time, so the slots read ``self._current``.
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._current, self._worker, self._thread = job, worker, thread
        running_threads().keep(thread, worker)
        self.job_started.emit(job)
        thread.start()

    @Slot(object)
    def _on_yielded(self, value: Any) -> None:
        job = self._current
        if job is None:
            return
        if job.on_yield is not None:
            job.on_yield(value)
        self.job_yielded.emit(job, value)

    @Slot(object)
    def _on_returned(self, value: Any) -> None:
        job = self._current
        if job is None:
            return
        if job.on_return is not None:
            job.on_return(value)
        self.job_returned.emit(job, value)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        job = self._current
        if job is None:
            return
        if job.on_error is not None:
            job.on_error(message)
        self.job_errored.emit(job, message)

    @Slot()
    def _on_aborted(self) -> None:
        job = self._current
        if job is None:
            return
        if job.on_abort is not None:
            job.on_abort()
        self.job_aborted.emit(job)

    @Slot()
    def _on_thread_finished(self) -> None:
        job, thread, worker = self._current, self._thread, self._worker
        self._current, self._worker, self._thread = None, None, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
        if job is not None:
            self.job_finished.emit(job)
        self.queue_changed.emit(len(self))
        self._start_next()
