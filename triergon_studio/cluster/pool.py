"""The client's side of the hosts: start them, hand jobs to free slots, watch that they stay alive.

``Location`` says where the engine runs: ``local`` with N worker processes, or ``ray`` at an address. A
local worker that dies is replaced (its job fails with kind ``worker-lost`` so the scheduler can retry it); a
Ray host that stops answering for ``timeout`` seconds, or exits, is a ``fatal`` event (the cluster is gone).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from triergon_studio.cluster import ClusterError


@dataclass(frozen=True, slots=True)
class Location:
    kind: str  # "local" | "ray"
    address: str = ""
    workers: int = 1
    threads: int = 0  # torch threads per local worker; 0 = the cores shared out between the workers

    def describe(self) -> str:
        if self.kind == "ray":
            return f"the Ray cluster at {self.address}"
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"


@dataclass
class _Host:
    process: Any
    conn: Connection
    n_slots: int = 0
    ready: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)
    busy: dict[int, str] = field(default_factory=dict)  # slot -> job id


def _torch_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class Pool:
    def __init__(self, location: Location, timeout: float = 30.0) -> None:
        if location.kind not in ("local", "ray"):
            raise ClusterError(f"unknown engine location {location.kind!r}")
        if location.kind == "local" and not 1 <= location.workers <= 64:
            raise ClusterError(f"--local needs 1 to 64 workers, got {location.workers}")
        if not timeout > 0:
            raise ClusterError(f"the timeout must be positive, got {timeout}")
        self.location, self.timeout = location, float(timeout)
        self._ctx = mp.get_context("spawn")  # never fork a process that may hold threads and a model
        self.hosts: list[_Host] = []
        self.restarts = 0

    # ------------------------------------------------------------------------------------------- life

    def _spawn(self) -> _Host:
        parent, child = self._ctx.Pipe()
        if self.location.kind == "ray":
            from triergon_studio.cluster.ray_host import serve_ray

            args: tuple[Any, ...] = (child, self.location.address, self.timeout)
            target: Any = serve_ray
        else:
            from triergon_studio.cluster.hosts import serve_local

            threads = self.location.threads or _torch_threads(self.location.workers)
            args, target = (child, threads), serve_local
        proc = self._ctx.Process(target=target, args=args, daemon=True)
        proc.start()
        child.close()
        return _Host(proc, parent)

    def start(self) -> None:
        """Start the hosts and wait until every one is ready (or fail in one line within the timeout)."""
        n = self.location.workers if self.location.kind == "local" else 1
        self.hosts = [self._spawn() for _ in range(n)]
        deadline = time.monotonic() + self.timeout + (60.0 if self.location.kind == "local" else 0.0)
        while not all(h.ready for h in self.hosts):
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                if self.location.kind == "ray":
                    raise ClusterError(
                        f"no Ray cluster answers at {self.location.address} "
                        f"(waited {self.timeout:g} s; is `ray start --head` running there?)"
                    )
                raise ClusterError("the local worker processes did not start in time")
            for h in self.hosts:
                if h.ready:
                    continue
                if h.conn.poll(min(0.1, left)):
                    msg = self._recv(h)
                    if msg is None or msg[0] == "fatal":
                        self.close()
                        what = msg[1] if msg else "a worker process exited while starting"
                        raise ClusterError(what)
                    if msg[0] == "ready":
                        h.ready, h.n_slots, h.info = True, int(msg[1]), dict(msg[2])

    def close(self) -> None:
        for h in self.hosts:
            try:
                h.conn.send(("quit",))
            except (BrokenPipeError, OSError):
                pass
        for h in self.hosts:
            if not h.ready:  # stuck connecting (or already broken): nothing to wait for
                h.process.kill()
            h.process.join(timeout=10)
            if h.process.is_alive():
                h.process.kill()
                h.process.join(timeout=5)
            h.conn.close()
        self.hosts = []

    def __enter__(self) -> Pool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- slots

    def slots(self) -> list[tuple[int, int]]:
        return [(i, s) for i, h in enumerate(self.hosts) if h.ready for s in range(h.n_slots)]

    def free_slots(self) -> list[tuple[int, int]]:
        return [(i, s) for i, s in self.slots() if s not in self.hosts[i].busy]

    def worker_pids(self) -> list[int]:
        pids: list[Any] = []  # JSON values from each host's info
        for h in self.hosts:
            pids.extend(h.info.get("workers") or [h.info.get("pid", 0)])
        return [int(p) for p in pids if p]

    def submit(self, slot: tuple[int, int], job: Any) -> None:
        h = self.hosts[slot[0]]
        h.busy[slot[1]] = job.job_id
        h.conn.send(("run", slot[1], job))

    def cancel(self, slot: tuple[int, int], job_id: str) -> None:
        h = self.hosts[slot[0]]
        if h.busy.get(slot[1]) == job_id:
            try:
                h.conn.send(("cancel", slot[1], job_id))
            except (BrokenPipeError, OSError):
                pass

    # ------------------------------------------------------------------------------------------- events

    def _recv(self, h: _Host) -> tuple[Any, ...] | None:
        try:
            msg: tuple[Any, ...] = h.conn.recv()
        except (EOFError, OSError):
            return None
        h.last_seen = time.monotonic()
        return msg

    def _host_lost(self, i: int, why: str) -> list[tuple[Any, ...]]:
        h = self.hosts[i]
        out: list[tuple[Any, ...]] = []
        if self.location.kind == "ray":
            out.append(("fatal", (i, 0), f"{self.location.describe()} stopped answering ({why})"))
            h.ready = False
            return out
        for s, jid in h.busy.items():
            out.append(
                (
                    "failed",
                    (i, s),
                    jid,
                    f"worker process {h.info.get('pid', '?')} died ({why})",
                    "worker-lost",
                )
            )
        h.process.join(timeout=1)
        h.conn.close()
        self.restarts += 1
        if self.restarts > 3 * self.location.workers:  # a worker that cannot stay up: stop replacing it
            out.append(("fatal", (i, 0), f"local workers keep dying ({self.restarts} restarts; last: {why})"))
            h.ready = False
            return out
        self.hosts[i] = self._spawn()  # a fresh worker takes the dead one's place
        return out

    def events(self, wait_s: float = 0.1) -> list[tuple[Any, ...]]:
        """Messages from every host, with the slot as ``(host, slot)``; lost hosts turn into events too."""
        out: list[tuple[Any, ...]] = []
        conns = {h.conn: i for i, h in enumerate(self.hosts) if not h.conn.closed}
        for conn in wait(list(conns), timeout=wait_s):
            i = conns[conn]  # type: ignore[index]
            h = self.hosts[i]
            while True:
                msg = self._recv(h)
                if msg is None:
                    code = h.process.exitcode if not h.process.is_alive() else None
                    out.extend(self._host_lost(i, f"exit code {code}" if code is not None else "pipe closed"))
                    break
                kind = msg[0]
                if kind == "ready":
                    h.ready, h.n_slots, h.info = True, int(msg[1]), dict(msg[2])
                elif kind in ("progress", "done", "failed", "slot-lost"):
                    slot = (i, int(msg[1]))
                    if kind in ("done", "failed"):
                        h.busy.pop(slot[1], None)
                    out.append((kind, slot, *msg[2:]))
                elif kind == "fatal":
                    out.append(("fatal", (i, 0), msg[1]))
                    h.ready = False
                if h.conn.closed or not h.conn.poll(0):
                    break
        now = time.monotonic()
        for i, h in enumerate(self.hosts):
            if h.ready and now - h.last_seen > self.timeout:
                out.extend(self._host_lost(i, f"no answer for {self.timeout:g} s"))
                h.last_seen = now
        return out
