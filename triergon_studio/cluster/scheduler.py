"""Jobs over a pool's slots: hand out, relay progress, retry what a dead worker dropped, write what comes back.

A finished take is written here, on the client, with ``takes.write_takes`` (WAV then sidecar, each atomic), so
a worker that dies mid-job leaves nothing under a final name: its job simply runs again on another slot.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.cluster.pool import Pool
from triergon_studio.cluster.runtime import Job
from triergon_studio.core.take_spec import TakeSpec
from triergon_studio.errors import StudioError

if TYPE_CHECKING:
    from triergon_studio.takes import GeneratedTake

MAX_ATTEMPTS = 3
RESUME_HINT = "run the same command again to resume"
_ids = itertools.count(1)


@dataclass
class WorkItem:
    key: str  # the cue's name (or a job label)
    spec: TakeSpec
    outputs: list[Path]
    meta: dict[str, Any] = field(default_factory=dict)  # added to each take's sidecar metadata
    attempts: int = 0
    step: int = 0
    total: int = 0
    message: str = ""
    started: float = 0.0


@dataclass
class Outcome:
    key: str
    status: str  # done | failed | cancelled
    message: str = ""
    takes: list[Any] = field(default_factory=list)  # takes.TakeRecord
    attempts: int = 0
    elapsed_s: float = 0.0
    worker: int = 0


ProgressFn = Callable[[WorkItem, Any, int], None]  # (item, Progress, worker pid)


def write_finished(
    item: WorkItem, takes: Sequence[GeneratedTake], *, bits: str, overwrite: bool
) -> list[Any]:
    """The takes a worker sent back, written here with ``takes.write_takes`` (the same writer as local runs),
    with the item's extra metadata (the cue's digest) in each sidecar."""
    from triergon_studio.takes import write_takes

    for t in takes:
        t.record = {**t.record, "metadata": {**(t.record.get("metadata") or {}), **item.meta}}
    return write_takes(takes, item.outputs, item.spec, bits=bits, overwrite=overwrite)


def run_jobs(
    pool: Pool,
    items: Sequence[WorkItem],
    model_of: Callable[[WorkItem], str],
    *,
    bits: str = "32f",
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    cancel: threading.Event | None = None,
    device: str | None = None,
    dtype: str | None = None,
    preview_every: int = 0,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[Outcome]:
    """Run every item on the pool; returns one ``Outcome`` per item, in the order they ended."""
    pending: deque[WorkItem] = deque(items)
    running: dict[str, tuple[WorkItem, tuple[int, int]]] = {}
    outcomes: list[Outcome] = []
    from triergon_studio.takes import Progress

    def finish(o: Outcome) -> None:
        outcomes.append(o)
        if on_outcome is not None:
            on_outcome(o)

    cancelled_sent = False
    while pending or running:
        if cancel is not None and cancel.is_set():
            while pending:
                it = pending.popleft()
                finish(Outcome(it.key, "cancelled", "cancelled before it started", attempts=it.attempts))
            if not cancelled_sent:
                for jid, (_, slot) in running.items():
                    pool.cancel(slot, jid)
                cancelled_sent = True
        for slot in pool.free_slots():
            if not pending:
                break
            it = pending.popleft()
            it.attempts += 1
            it.started = time.monotonic()
            jid = f"{it.key}#{next(_ids)}"
            running[jid] = (it, slot)
            pool.submit(slot, Job(jid, it.spec, model_of(it), device, dtype, preview_every))
        for ev in pool.events(0.05):
            kind = ev[0]
            if kind == "fatal":
                message = f"{ev[2]}; {RESUME_HINT}"
                for it, _ in list(running.values()):
                    finish(Outcome(it.key, "failed", message, attempts=it.attempts))
                running.clear()
                while pending:
                    it = pending.popleft()
                    finish(Outcome(it.key, "failed", message, attempts=it.attempts))
                continue
            if kind == "slot-lost":
                continue
            jid = ev[2]
            if jid not in running:
                continue
            it, slot = running[jid]
            if kind == "progress":
                step, total, message, stage, preview, worker = ev[3:9]
                it.step, it.total, it.message = int(step), int(total), str(message)
                if on_progress is not None:
                    on_progress(
                        it, Progress(int(step), int(total), str(message), str(stage), preview), int(worker)
                    )
            elif kind == "done":
                del running[jid]
                results, worker = ev[3], int(ev[4])
                try:
                    takes = write_finished(it, results, bits=bits, overwrite=overwrite)
                except StudioError as exc:
                    finish(Outcome(it.key, "failed", str(exc), attempts=it.attempts, worker=worker))
                else:
                    finish(
                        Outcome(it.key, "done", "", takes, it.attempts, time.monotonic() - it.started, worker)
                    )
            elif kind == "failed":
                del running[jid]
                message, why = str(ev[3]), str(ev[4])
                if why == "worker-lost" and it.attempts < max_attempts and not (cancel and cancel.is_set()):
                    pending.appendleft(it)  # the next free slot (a live worker) takes it again
                    continue
                status = "cancelled" if why == "cancelled" else "failed"
                if why == "worker-lost":
                    message = f"{message}; gave up after {it.attempts} attempts"
                finish(Outcome(it.key, status, message, attempts=it.attempts))
        if pool.location.kind == "ray" and pending and not running and not any(h.ready for h in pool.hosts):
            message = f"{pool.location.describe()} has no worker left; {RESUME_HINT}"
            while pending:
                it = pending.popleft()
                finish(Outcome(it.key, "failed", message, attempts=it.attempts))
    return outcomes
