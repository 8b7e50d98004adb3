"""One render per output folder: ``DIR/.render.lock`` made with O_EXCL, naming the run that holds it.

A second run refuses at once and says which run holds the folder. A lock left by a run that is gone (its
process no longer exists on this host) is taken over, and the takeover is reported.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from triergon_studio.cluster import ClusterError

LOCK_NAME = ".render.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RenderLock:
    def __init__(self, out_dir: Path, what: str) -> None:
        self.path = out_dir / LOCK_NAME
        self.what = what
        self.took_over: dict[str, Any] | None = None

    def _holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}

    def acquire(self) -> None:
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cues": self.what,
        }
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                pid = int(holder.get("pid", 0) or 0)
                same_host = holder.get("host") == socket.gethostname()
                if same_host and pid and not _alive(pid):
                    self.took_over = holder
                    self.path.unlink(missing_ok=True)
                    continue
                raise ClusterError(
                    f"another render is writing to this folder (pid {pid or '?'} on {holder.get('host', '?')}, "
                    f"started {holder.get('started', '?')}, cues {holder.get('cues', '?')}); refusing to run "
                    f"beside it: wait for it to end, or remove {LOCK_NAME} if that run is gone",
                    self.path.parent,
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            return
        raise ClusterError("could not take the render lock", self.path)

    def release(self) -> None:
        if self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RenderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
