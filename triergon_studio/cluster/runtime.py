"""What one worker does, wherever it runs (a local child process or a Ray actor on a GPU server).

It keeps one model loaded between jobs, runs a job's ``TakeSpec`` through ``takes.generate_takes`` (the
in-memory half of ``make_takes``: nothing is written on the worker; the takes go back to the client to be
written with ``takes.write_takes``), records progress for the client to poll, and honours cancel between sampler steps. ``run`` blocks; ``poll`` and ``cancel`` are called from other
threads (a Ray actor with ``max_concurrency`` > 1, or the local host's pump).
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triergon_studio.errors import CancelledError, ModelError, StudioError

if TYPE_CHECKING:
    from triergon_studio.core.take_spec import TakeSpec
    from triergon_studio.takes import GeneratedTake

SERVER_PREFIX = "server:"  # a model folder that lives on the server, not on the client


@dataclass(slots=True)
class Job:
    """One spec to render (``model`` is a name, a folder on this machine, or ``server:/path``)."""

    job_id: str
    spec: TakeSpec
    model: str
    device: str | None = None
    dtype: str | None = None
    preview_every: int = 0
    path_map: dict[str, str] = field(default_factory=dict)  # this machine's copies -> the client's paths


def _restore_paths(value: Any, path_map: dict[str, str]) -> Any:
    """Put the client's own paths back into a take's record (media shipped to a server has other paths)."""
    if not path_map:
        return value
    if isinstance(value, str):
        return path_map.get(value, value)
    if isinstance(value, dict):
        return {k: _restore_paths(v, path_map) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_restore_paths(v, path_map) for v in value)
    return value


class WorkerRuntime:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[tuple[Any, ...]]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._model: Any = None
        self._model_key: tuple[str, str | None, str | None] | None = None

    def ping(self) -> dict[str, Any]:
        from triergon_studio import __version__

        return {"pid": os.getpid(), "host": socket.gethostname(), "version": __version__}

    def _load(self, job: Job) -> Any:
        key = (job.model, job.device, job.dtype)
        if self._model is not None and self._model_key == key:
            return self._model
        from triergon_studio.engine.device import resolve_device, resolve_dtype
        from triergon_studio.takes import load_model

        name = job.model
        if name.startswith(SERVER_PREFIX):
            name = name[len(SERVER_PREFIX) :]
            if not Path(name).is_dir():
                raise ModelError(f"model folder not found on the server ({socket.gethostname()})", name)
        self._model = None  # free the old model before loading the next
        device = resolve_device(job.device)
        self._model = load_model(name, device, resolve_dtype(job.dtype, device) if job.dtype else None)
        self._model_key = key
        return self._model

    def _emit(self, job_id: str, event: tuple[Any, ...]) -> None:
        with self._lock:
            self._events.setdefault(job_id, []).append(event)

    def poll(self, job_id: str) -> list[tuple[Any, ...]]:
        """Progress since the last poll: ``("progress", step, total, message, stage, preview)``."""
        with self._lock:
            return self._events.pop(job_id, [])

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            ev = self._cancel.get(job_id)
        if ev is not None:
            ev.set()
        return ev is not None

    def run(self, job: Job) -> list[GeneratedTake]:
        """Render the job in memory (``takes.generate_takes``); ``CancelledError``/``StudioError`` propagate
        as themselves (one line each)."""
        from triergon_studio.takes import Progress, generate_takes

        cancel = threading.Event()
        with self._lock:
            self._cancel[job.job_id] = cancel
        try:
            self._emit(job.job_id, ("progress", 0, 1, "Loading the model", "loading", None))
            model = self._load(job)
            if cancel.is_set():
                raise CancelledError("generation cancelled")
            gen = generate_takes(job.spec, model, cancel=cancel, preview_every=job.preview_every)
            while True:
                try:
                    p: Progress = next(gen)
                except StopIteration as stop:
                    takes: list[GeneratedTake] = stop.value
                    break
                self._emit(job.job_id, ("progress", p.step, p.total, p.message, p.stage, p.preview))
            for t in takes:
                t.audio = np.ascontiguousarray(t.audio, dtype=np.float32)
                t.record = _restore_paths(t.record, job.path_map)
            return takes
        except (StudioError, MemoryError):
            raise
        except Exception as exc:  # a bug or a library failure: one line back to the client, not a hang
            raise ModelError(f"worker failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with self._lock:
                self._cancel.pop(job.job_id, None)
