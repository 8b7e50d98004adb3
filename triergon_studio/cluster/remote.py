"""The app's way to generate away from its own process: the same generator shape as ``takes.make_takes``.

``EngineLocation.parse("this computer")`` is in process, as before (``remote_engine`` returns None and the
caller runs ``make_takes`` itself; nothing about Ray is imported). ``EngineLocation.parse("ray://gpu:10001")``
or ``"gpu-server:6379"`` is a Ray cluster: ``RemoteEngine.make_takes`` yields the same ``Progress`` (one per
sampler step, previews included), cancels within one step, and writes the takes on this computer.

The engine stays connected between takes, so each worker loads its model once.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triergon_studio.cluster import ClusterError
from triergon_studio.cluster.pool import Location, Pool
from triergon_studio.cluster.scheduler import MAX_ATTEMPTS, WorkItem, write_finished
from triergon_studio.core.take_spec import TakeSpec
from triergon_studio.errors import CancelledError

LOCAL_WORDS = ("", "local", "this computer", "in process")


@dataclass(frozen=True, slots=True)
class EngineLocation:
    """Where generation runs: ``address`` empty = this computer, in the app's process."""

    address: str = ""

    @property
    def is_local(self) -> bool:
        return not self.address

    @classmethod
    def parse(cls, text: str | None) -> EngineLocation:
        t = (text or "").strip()
        if t.lower() in LOCAL_WORDS:
            return cls("")
        if t.lower().startswith("ray:") and not t.lower().startswith("ray://"):
            t = t[4:].strip()
        host = t[len("ray://") :] if t.lower().startswith("ray://") else t
        if not host or ":" not in host or not host.rsplit(":", 1)[1].isdigit():
            raise ClusterError(f"engine location {text!r} is not 'this computer' or a Ray address HOST:PORT")
        return cls(t)

    def describe(self) -> str:
        return "this computer" if self.is_local else f"a Ray cluster at {self.address}"


class RemoteEngine:
    def __init__(self, location: Location, timeout: float = 30.0) -> None:
        self.location, self.timeout = location, timeout
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> Pool:
        if self._pool is None or not any(h.ready for h in self._pool.hosts):
            if self._pool is not None:
                self._pool.close()
            pool = Pool(self.location, self.timeout)
            pool.start()
            self._pool = pool
        return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def make_takes(
        self,
        spec: TakeSpec,
        outputs: Sequence[str | Path],
        *,
        cancel: threading.Event | None = None,
        bits: str = "32f",
        overwrite: bool = False,
        preview_every: int = 0,
        device: str | None = None,
        dtype: str | None = None,
    ) -> Generator[Any, None, list[Any]]:
        """``takes.make_takes`` run by a worker of this engine; the takes are written here."""
        from triergon_studio.cluster.runtime import Job
        from triergon_studio.engine.weights import DEFAULT_MODEL
        from triergon_studio.takes import Progress, check_outputs

        outs = [Path(p) for p in outputs]
        if len(outs) != spec.variations:
            raise ClusterError(f"{spec.variations} variation(s) need as many output paths, got {len(outs)}")
        check_outputs(outs, overwrite)
        if not self._lock.acquire(blocking=False):
            raise ClusterError(f"{self.location.describe()} is already generating a take for this window")
        try:
            yield Progress(0, 1, f"Connecting to {self.location.describe()}", "loading")
            pool = self._ensure()
            item = WorkItem("take", spec, outs)
            job_no = 0
            while True:
                free = pool.free_slots()
                if not free:
                    pool.events(0.1)
                    continue
                slot = free[0]
                item.attempts += 1
                job_no += 1
                jid = f"take#{id(self)}-{job_no}"
                pool.submit(slot, Job(jid, spec, spec.model or DEFAULT_MODEL, device, dtype, preview_every))
                sent_cancel = False
                try:
                    while True:
                        if cancel is not None and cancel.is_set() and not sent_cancel:
                            pool.cancel(slot, jid)
                            sent_cancel = True
                        outcome = None
                        for ev in pool.events(0.05):
                            if ev[0] == "fatal":
                                raise ClusterError(str(ev[2]))
                            if len(ev) < 3 or ev[2] != jid:
                                continue
                            if ev[0] == "progress":
                                step, total, message, stage, preview = ev[3:8]
                                yield Progress(int(step), int(total), str(message), str(stage), preview)
                            elif ev[0] in ("done", "failed"):
                                outcome = ev
                        if outcome is not None:
                            break
                except GeneratorExit:  # the caller closed us: stop the worker within a step
                    pool.cancel(slot, jid)
                    raise
                if outcome[0] == "done":
                    yield Progress(1, 1, "Writing the takes", "writing")
                    return write_finished(item, outcome[3], bits=bits, overwrite=overwrite)
                message, why = str(outcome[3]), str(outcome[4])
                if why == "cancelled":
                    raise CancelledError("generation cancelled")
                if why != "worker-lost" or item.attempts >= MAX_ATTEMPTS:
                    raise ClusterError(message)
                yield Progress(0, 1, f"A worker was lost ({message}); trying again", "loading")
        finally:
            self._lock.release()


_ENGINES: dict[str, RemoteEngine] = {}


def remote_engine(location: EngineLocation | str | None, timeout: float = 30.0) -> RemoteEngine | None:
    """The shared engine for a location, or None for this computer (call ``takes.make_takes`` directly)."""
    loc = location if isinstance(location, EngineLocation) else EngineLocation.parse(location)
    if loc.is_local:
        return None
    eng = _ENGINES.get(loc.address)
    if eng is None:
        eng = _ENGINES[loc.address] = RemoteEngine(Location("ray", loc.address), timeout)
    return eng


def close_all() -> None:
    for eng in _ENGINES.values():
        eng.close()
    _ENGINES.clear()
