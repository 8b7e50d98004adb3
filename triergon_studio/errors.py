"""Typed errors whose message is one line that names the file and the problem.

Every layer raises a subclass of ``StudioError``; the CLI prints ``str(err)`` and exits 2, and the UI shows
it in the window. Nothing user-facing ever shows a traceback.
"""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """Base class. ``str()`` is a single line suitable for a status bar or a terminal."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        text = " ".join(str(message).split())  # force one line
        super().__init__(f"{self.path}: {text}" if self.path else text)


class AudioFileError(StudioError):
    """An audio file is missing, unreadable, corrupt or holds invalid samples."""


class VideoFileError(StudioError):
    """A video file is missing, unreadable, corrupt or not a video."""


class ProjectError(StudioError):
    """A project file is corrupt, too new, or refers to missing media."""


class ExportError(StudioError):
    """An export could not be written (existing files, bad settings, disk errors)."""


class ModelError(StudioError):
    """A model or checkpoint could not be built, loaded or run."""


class CancelledError(StudioError):
    """A long job was cancelled by the user."""


class ParameterError(StudioError):
    """A parameter (duration, seed, device, gain, rate, target, ...) is outside its documented range."""
