"""A real Ray head on this machine for the cluster tests (loopback only, 2 CPUs), owned by the test session.

The head runs as ``ray start --head --block`` in its own session with its own ``--temp-dir``; stopping it kills
that process and the Ray processes whose command line names that temp dir (ours alone, by pid).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def ray_available() -> bool:
    # found, not imported: the test process itself never loads Ray (the hosts and the head do)
    import importlib.util

    return importlib.util.find_spec("ray") is not None


needs_ray = pytest.mark.skipif(not ray_available(), reason="ray is not installed (pip install .[cluster])")


@dataclass
class Head:
    address: str
    process: subprocess.Popen[bytes]
    temp_dir: Path
    cache: Path

    def pids(self) -> list[int]:
        """The Ray processes of this head (their command line names our temp dir)."""
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(self.temp_dir) in cmd and int(d.name) != os.getpid():
                out.append(int(d.name))
        return out

    def stop(self, hard: bool = False) -> None:
        if hard:  # the machine vanishes: no goodbye to anyone
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def start_head(cache: Path) -> Head:
    ray_bin = Path(sys.executable).parent / "ray"
    temp_dir = Path(tempfile.mkdtemp(prefix="trg-ray-", dir="/tmp"))
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(REPO), "TRIERGON_CLUSTER_CACHE": str(cache)}
    log = open(temp_dir / "head.log", "wb")  # noqa: SIM115 (the head writes here for its whole life)
    proc = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--port=0",
            "--num-cpus=2",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp_dir}",
            "--include-dashboard=false",
            "--object-store-memory=100000000",
            "--block",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        m = re.search(r"--address='([^']+)'", (temp_dir / "head.log").read_text(errors="replace"))
        if m:
            return Head(m.group(1), proc, temp_dir, cache)
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    head = Head("", proc, temp_dir, cache)
    head.stop()
    pytest.fail("the Ray head did not start: " + (temp_dir / "head.log").read_text(errors="replace")[-2000:])


@pytest.fixture(scope="session")
def ray_client_env() -> Iterator[None]:
    old = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def ray_head(ray_client_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    if not ray_available():
        pytest.skip("ray is not installed (pip install .[cluster])")
    head = start_head(tmp_path_factory.mktemp("ray-cache"))
    yield head
    head.stop()
    shutil.rmtree(head.temp_dir, ignore_errors=True)
