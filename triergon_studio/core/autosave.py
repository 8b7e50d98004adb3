"""Crash recovery: the UI calls ``Autosaver.maybe_autosave(now)`` on a timer; on the next open it asks
``has_recovery(path)`` and offers ``recover(path)``.

The sidecar is ``<name>.autosave.json`` next to the project. The project file itself is never touched by
autosave, so a project file that failed to load (corrupt) is never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

from triergon_studio.core.project import Project, autosave_path
from triergon_studio.errors import ProjectError

AUTOSAVE_INTERVAL_S = 30.0


class Autosaver:
    """Writes the project to its sidecar at most every ``interval_s`` seconds, and only when it changed."""

    def __init__(self, project: Project, interval_s: float = AUTOSAVE_INTERVAL_S) -> None:
        self.project = project
        self.interval_s = interval_s
        self._last_time: float | None = None
        self._saved_revision = project.undo.revision
        self.last_error: str | None = None

    def maybe_autosave(self, now: float) -> Path | None:
        """Autosave if the interval has passed and there are unsaved changes. Returns the sidecar written."""
        if self._last_time is None:
            self._last_time = now
        if now - self._last_time < self.interval_s:
            return None
        self._last_time = now
        return self.autosave_now()

    def autosave_now(self) -> Path | None:
        from triergon_studio.core.atomic import atomic_write_text

        project = self.project
        if project.path is None or project.undo.revision == self._saved_revision or project.undo.is_clean:
            return None
        target = autosave_path(project.path)
        doc = project.to_json()
        doc["autosave_of"] = project.path.name
        try:
            atomic_write_text(target, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
        # A full disk (OSError) or a NaN the loader would refuse (ValueError) must not stop the user's work;
        # the last good autosave stays and the UI shows last_error.
        except (OSError, ValueError) as exc:
            self.last_error = f"{target}: autosave failed: {getattr(exc, 'strerror', None) or exc}"
            return None
        self.last_error = None
        self._saved_revision = project.undo.revision
        return target


def has_recovery(path: str | Path) -> bool:
    """True when an autosave newer than the project file exists (the app crashed with unsaved work)."""
    p = Path(path)
    side = autosave_path(p)
    if not side.is_file():
        return False
    return not p.exists() or side.stat().st_mtime >= p.stat().st_mtime


def recover(path: str | Path) -> Project:
    """The project as it was autosaved, bound to ``path`` and marked unsaved (the user saves to keep it)."""
    p = Path(path).resolve()
    side = autosave_path(p)
    if not side.is_file():
        raise ProjectError("has no autosave to recover", p)
    project = Project.load(side)
    project.path = p
    project.name = project.name or p.stem
    project.undo.set_dirty()  # the recovered work is not on disk under the real name yet
    return project


def discard_recovery(path: str | Path) -> None:
    autosave_path(Path(path)).unlink(missing_ok=True)
