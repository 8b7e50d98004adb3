"""What one worker does, wherever it runs (a local child process or a Ray actor on a GPU server).

It keeps one model loaded between jobs, runs a job's ``TakeSpec`` through ``takes.make_takes`` with a sink
(nothing is written on the worker: the samples go back to the client), records progress for the client to
poll, and honours cancel between sampler steps. ``run`` blocks; ``poll`` and ``cancel`` are called from other
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


@dataclass(slots=True)
class Finished:
    """A take's samples and record, ready for ``takes.write_take`` on the client."""

    audio: np.ndarray
    sample_rate: int
    record: dict[str, Any]
    seed: int
    start_s: float
    settings: tuple[Any, ...]


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

    def run(self, job: Job) -> list[Finished]:
        """Render the job; ``CancelledError``/``StudioError`` propagate as themselves (one line each)."""
        from triergon_studio.takes import Progress, make_takes

        cancel = threading.Event()
        with self._lock:
            self._cancel[job.job_id] = cancel
        try:
            self._emit(job.job_id, ("progress", 0, 1, "Loading the model", "loading", None))
            model = self._load(job)
            if cancel.is_set():
                raise CancelledError("generation cancelled")
            captured: list[tuple[np.ndarray, int, dict[str, Any]]] = []

            def sink(path: Path, audio: np.ndarray, sr: int, record: dict[str, Any]) -> None:
                captured.append((np.ascontiguousarray(audio, dtype=np.float32), sr, record))

            outputs = [Path(f"take{k}.wav") for k in range(job.spec.variations)]  # never written (sink)
            gen = make_takes(
                job.spec, model, outputs, cancel=cancel, preview_every=job.preview_every, sink=sink
            )
            while True:
                try:
                    p: Progress = next(gen)
                except StopIteration as stop:
                    records = stop.value
                    break
                self._emit(job.job_id, ("progress", p.step, p.total, p.message, p.stage, p.preview))
            out: list[Finished] = []
            for (audio, sr, record), rec in zip(captured, records, strict=True):
                s = rec.settings
                settings = (s.steps, s.cfg, s.sampler, s.guidance, s.seed, s.init_noise, s.follow_curves)
                out.append(
                    Finished(audio, sr, _restore_paths(record, job.path_map), rec.seed, rec.start_s, settings)
                )
            return out
        except (StudioError, MemoryError):
            raise
        except Exception as exc:  # a bug or a library failure: one line back to the client, not a hang
            raise ModelError(f"worker failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with self._lock:
                self._cancel.pop(job.job_id, None)
