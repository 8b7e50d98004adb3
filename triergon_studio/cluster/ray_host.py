"""The Ray host: the Ray driver (in a child process of the app or the CLI) and the actors it runs.

Each slot is one ``ActorRuntime`` actor (one GPU each where the cluster has GPUs, else one CPU), created with
``max_restarts=0``: a worker that dies fails its job with kind ``worker-lost`` and the client retries the job
on another slot while this host starts a fresh actor in the dead one's place.

A model folder or media file that exists on the client is shipped to the actor's node on first use, in
chunks, and cached there under its sha256 (``TRIERGON_CLUSTER_CACHE``, default
``~/.cache/triergon-studio/cluster``); ``server:/path`` names a folder that already lives on the server.

``ray`` is imported only inside these functions, in the host process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from triergon_studio.cluster.hosts import HEARTBEAT_S, PUMP_S, failure_kind, send
from triergon_studio.cluster.runtime import SERVER_PREFIX, Job, WorkerRuntime
from triergon_studio.errors import ModelError

CHUNK_BYTES = 8 << 20


def cache_root() -> Path:
    env = os.environ.get("TRIERGON_CLUSTER_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "triergon-studio" / "cluster"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ActorRuntime(WorkerRuntime):
    """A ``WorkerRuntime`` plus the receiving end of shipped files (content-addressed on its node)."""

    def cached(self, key: str, name: str) -> str | None:
        p = cache_root() / key / name
        return str(p) if p.exists() else None

    def receive(self, key: str, rel: str, offset: int, data: bytes) -> None:
        part = cache_root() / f".partial-{key}-{os.getpid()}"
        target = (part / rel).resolve()
        if part.resolve() not in target.parents:
            raise ModelError(f"refusing a shipped path outside the cache: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "r+b" if offset else "wb") as fh:
            fh.seek(offset)
            fh.write(data)

    def commit(self, key: str, name: str, files: dict[str, str]) -> str:
        """Check every shipped file's sha256, then move the folder into place in one rename."""
        root = cache_root()
        part = root / f".partial-{key}-{os.getpid()}"
        for rel, digest in files.items():
            if sha256_of(part / rel) != digest:
                shutil.rmtree(part, ignore_errors=True)
                raise ModelError(f"shipped file {rel} arrived damaged (sha256 mismatch)")
        final = root / key
        try:
            part.rename(final)
        except OSError:  # another actor on this node finished the same upload first
            shutil.rmtree(part, ignore_errors=True)
        return str(final / name)


@dataclass
class _Slot:
    actor: Any = None
    job: Job | None = None
    run_ref: Any = None
    poll_ref: Any = None
    pid: int = 0
    dead: bool = False


class _Shipper:
    """Client side of shipping: hashes each file or folder once per session, sends it to a node that lacks it."""

    def __init__(self, beat: Any) -> None:
        self._digests: dict[tuple[str, int, int], str] = {}
        self._beat = beat

    def _sha(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = sha256_of(path)
        return self._digests[key]

    def ship(self, ray: Any, actor: Any, src: Path, timeout: float) -> str:
        if src.is_dir():
            files = {
                p.relative_to(src).as_posix(): self._sha(p) for p in sorted(src.rglob("*")) if p.is_file()
            }
            name = ""
        else:
            files = {src.name: self._sha(src)}
            name = src.name
        key = hashlib.sha256("\n".join(f"{r} {d}" for r, d in sorted(files.items())).encode()).hexdigest()
        have = ray.get(actor.cached.remote(key, name), timeout=timeout)
        if have is not None:
            return str(have)
        for rel in files:
            path = src / rel if src.is_dir() else src
            with open(path, "rb") as fh:
                offset = 0
                while True:
                    data = fh.read(CHUNK_BYTES)
                    if not data and offset:
                        break
                    ray.get(actor.receive.remote(key, rel, offset, data), timeout=timeout)
                    self._beat()
                    offset += len(data)
                    if not data:
                        break
        return str(ray.get(actor.commit.remote(key, name, files), timeout=timeout))


def _prepare(ray: Any, actor: Any, job: Job, shipper: _Shipper, timeout: float) -> Job:
    """Ship what the job reads from the client's disk; the job's spec then names the server's copies."""
    model = job.model
    if not model.startswith(SERVER_PREFIX) and Path(model).expanduser().is_dir():
        model = shipper.ship(ray, actor, Path(model).expanduser().resolve(), timeout)
    spec = job.spec
    path_map: dict[str, str] = {}

    def moved(p: str) -> str:
        src = Path(p)
        if not src.is_file():
            return p  # a missing file is reported by the worker, by its name
        there = shipper.ship(ray, actor, src.resolve(), timeout)
        path_map[there] = p
        return there

    if spec.video is not None:
        spec = replace(spec, video=replace(spec.video, path=moved(spec.video.path)))
    if spec.reference is not None:
        spec = replace(spec, reference=replace(spec.reference, path=moved(spec.reference.path)))
    if spec.init_audio is not None:
        spec = replace(spec, init_audio=replace(spec.init_audio, path=moved(spec.init_audio.path)))
    if spec.region is not None:
        spec = replace(spec, region=replace(spec.region, take_path=moved(spec.region.take_path)))
    return replace(job, spec=spec, model=model, path_map=path_map)


def _quiet_stderr() -> Path:
    """Ray's C++ core logs retries to stderr; keep them in a file, not in the user's terminal."""
    log = cache_root().parent / f"ray-driver-{os.getpid()}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    return log


def _cause(exc: BaseException) -> BaseException:
    return getattr(exc, "cause", None) or exc


def serve_ray(conn: Connection, address: str, timeout: float, slots: int = 0) -> None:
    """The Ray driver: connect, start one actor per GPU (or CPU), relay jobs until told to quit."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    log = _quiet_stderr()
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
        res = ray.cluster_resources()
    except Exception as exc:  # ConnectionError, a version mismatch, ...: one line
        text = log.read_text(errors="replace") if log.exists() else ""
        hint = (
            " (the cluster wants a token: set RAY_AUTH_MODE=token and its token in ~/.ray/auth_token)"
            if "InvalidAuthToken" in text or "Unauthenticated" in text
            else f" (details: {log})"
        )
        send(
            conn,
            (
                "fatal",
                f"cannot connect to the Ray cluster at {address}: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{hint}",
            ),
        )
        return
    gpus = int(res.get("GPU", 0))
    n = slots or gpus or max(1, int(res.get("CPU", 1)))
    opts: dict[str, Any] = {"max_restarts": 0, "max_task_retries": 0, "max_concurrency": 4}
    opts.update({"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": 1})
    actor_cls = ray.remote(**opts)(ActorRuntime)
    last_beat = time.monotonic()

    def beat() -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= HEARTBEAT_S:
            send(conn, ("alive",))
            last_beat = time.monotonic()

    def await_ref(ref: Any) -> Any:
        """``ray.get`` with the timeout, still beating, so the client does not take a slow start for a dead
        cluster."""
        deadline = time.monotonic() + timeout
        while True:
            ready, _ = ray.wait([ref], timeout=min(HEARTBEAT_S, max(0.0, deadline - time.monotonic())))
            if ready:
                return ray.get(ready[0])
            beat()
            if time.monotonic() >= deadline:
                raise GetTimeoutError(f"no answer within {timeout:g} s")

    def start_actors(slots: list[_Slot]) -> None:
        pings = []
        for slot in slots:
            slot.actor = actor_cls.remote()
            pings.append(slot.actor.ping.remote())
        for slot, ref in zip(slots, pings, strict=True):
            try:
                slot.pid, slot.dead = int(await_ref(ref)["pid"]), False
            except (GetTimeoutError, RayActorError) as exc:
                slot.actor, slot.dead = None, True
                send(
                    conn,
                    (
                        "slot-lost",
                        -1,
                        f"no worker could start on the cluster at {address} ({type(exc).__name__})",
                    ),
                )

    def start_actor(slot: _Slot) -> bool:
        start_actors([slot])
        return not slot.dead

    table = [_Slot() for _ in range(n)]
    start_actors(table)
    live = [s for s in table if not s.dead]
    if not live:
        send(conn, ("fatal", f"the Ray cluster at {address} started no worker within {timeout:g} s"))
        return
    send(
        conn,
        (
            "ready",
            n,
            {
                "address": address,
                "gpus": gpus,
                "cpus": int(res.get("CPU", 0)),
                "workers": [s.pid for s in table],
            },
        ),
    )
    shipper = _Shipper(beat)
    while True:
        if conn.poll(PUMP_S):
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "quit":
                break
            if msg[0] == "run":
                i, job = msg[1], msg[2]
                slot = table[i]
                if slot.dead and not start_actor(slot):
                    send(conn, ("failed", i, job.job_id, "the worker is gone", "worker-lost"))
                else:
                    try:
                        prepared = _prepare(ray, slot.actor, job, shipper, timeout)
                        slot.job, slot.run_ref = job, slot.actor.run.remote(prepared)
                    except RayActorError:
                        send(
                            conn,
                            ("failed", i, job.job_id, "the worker died while receiving files", "worker-lost"),
                        )
                        start_actor(slot)
                    except (GetTimeoutError, OSError, ModelError) as exc:
                        send(conn, ("failed", i, job.job_id, f"shipping files failed: {exc}", "error"))
            elif msg[0] == "cancel":
                slot = table[msg[1]]
                if slot.actor is not None and slot.job is not None and slot.job.job_id == msg[2]:
                    slot.actor.cancel.remote(msg[2])
        for i, slot in enumerate(table):
            if slot.job is None:
                continue
            jid = slot.job.job_id
            if slot.poll_ref is None:
                slot.poll_ref = slot.actor.poll.remote(jid)
            ready, _ = ray.wait([slot.poll_ref], timeout=0)
            if ready:
                try:
                    for ev in ray.get(ready[0]):
                        send(conn, ("progress", i, jid, *ev[1:], slot.pid))
                except RayActorError:
                    pass  # the run ref reports the death
                slot.poll_ref = None
            done, _ = ray.wait([slot.run_ref], timeout=0)
            if not done:
                continue
            try:
                result = ray.get(done[0])
            except RayActorError as exc:
                send(
                    conn, ("failed", i, jid, f"worker {slot.pid} died ({type(exc).__name__})", "worker-lost")
                )
                slot.job = slot.run_ref = slot.poll_ref = None
                start_actor(slot)
                if all(s.dead for s in table):
                    send(conn, ("fatal", f"the Ray cluster at {address} has no live worker left"))
                    return
                continue
            except Exception as exc:
                cause = _cause(exc)
                send(
                    conn,
                    (
                        "failed",
                        i,
                        jid,
                        str(cause).splitlines()[0] if str(cause) else type(cause).__name__,
                        failure_kind(cause),
                    ),
                )
            else:
                # a poll still in flight holds the events it popped: read it before the last one
                polls = [] if slot.poll_ref is None else [slot.poll_ref]
                try:
                    polls.append(slot.actor.poll.remote(jid))
                    for ref in polls:
                        for ev in ray.get(ref, timeout=timeout):
                            send(conn, ("progress", i, jid, *ev[1:], slot.pid))
                except Exception:  # progress is a courtesy; the result is what matters
                    pass
                send(conn, ("done", i, jid, result, slot.pid))
            slot.job = slot.run_ref = slot.poll_ref = None
        beat()
    ray.shutdown()
