"""The child processes that do the work, and the messages they exchange with the client.

A host is a child process started by ``pool.Pool``. It offers one or more *slots* (a slot runs one job at a
time): a local host is one worker with one slot; the Ray host is the Ray driver, with one slot per actor on the
cluster. Both speak the same messages over a ``multiprocessing`` pipe:

client -> host: ``("run", slot, Job)``, ``("cancel", slot, job_id)``, ``("quit",)``

host -> client: ``("ready", n_slots, info)``, ``("alive",)`` (at least every ``HEARTBEAT_S``),
``("progress", slot, job_id, step, total, message, stage, preview, worker)``,
``("done", slot, job_id, [takes.GeneratedTake, ...], worker)``, ``("failed", slot, job_id, message, kind)`` with kind
``cancelled`` | ``error`` | ``worker-lost`` (the job may run again elsewhere), ``("slot-lost", slot, message)``,
``("fatal", message)`` (the host cannot go on; it exits).
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from triergon_studio.errors import CancelledError, StudioError

HEARTBEAT_S = 0.5
PUMP_S = 0.03


def send(conn: Connection, msg: tuple[Any, ...]) -> None:
    try:
        conn.send(msg)
    except (BrokenPipeError, EOFError, OSError):  # the client is gone: nothing left to report to
        os._exit(0)


class ThreadedJob:
    """A job on a ``WorkerRuntime`` in a thread, so the host can relay progress while it runs."""

    def __init__(self, runtime: Any, job: Any) -> None:
        self.runtime, self.job = runtime, job
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"job-{job.job_id}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.runtime.run(self.job)
        except BaseException as exc:  # reported to the client as one line
            self.error = exc


def failure_kind(exc: BaseException) -> str:
    return "cancelled" if isinstance(exc, CancelledError) else "error"


def failure_text(exc: BaseException) -> str:
    if isinstance(exc, StudioError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def serve_local(conn: Connection, torch_threads: int = 0) -> None:
    """A local worker process: one slot, the model loaded once and kept."""
    if torch_threads > 0:
        import torch

        torch.set_num_threads(torch_threads)
    from triergon_studio.cluster.runtime import WorkerRuntime

    runtime = WorkerRuntime()
    pid = os.getpid()
    send(conn, ("ready", 1, runtime.ping()))
    current: ThreadedJob | None = None
    last_beat = 0.0
    while True:
        if conn.poll(PUMP_S):
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg[0] == "quit":
                return
            if msg[0] == "run":
                current = ThreadedJob(runtime, msg[2])
            elif msg[0] == "cancel":
                runtime.cancel(msg[2])
        if current is not None:
            jid = current.job.job_id
            for ev in runtime.poll(jid):
                send(conn, ("progress", 0, jid, *ev[1:], pid))
            if not current.thread.is_alive():
                for ev in runtime.poll(jid):
                    send(conn, ("progress", 0, jid, *ev[1:], pid))
                if current.error is not None:
                    send(conn, ("failed", 0, jid, failure_text(current.error), failure_kind(current.error)))
                else:
                    send(conn, ("done", 0, jid, current.result, pid))
                current = None
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT_S:
            send(conn, ("alive",))
            last_beat = now
