"""Timecode text for the project's rate (drop-frame where the project says so), via ``core.timecode``."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def project_rate(project: Any) -> Any:
    """The project's ``Rate`` when it has one (drop-frame aware), else its exact fps."""
    rate = getattr(project, "rate", None)
    if rate is not None:
        return rate
    fps = getattr(project, "fps", None) or Fraction(25)
    return fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)


def start_frame(project: Any) -> int:
    from triergon_studio.core.timecode import timecode_to_frames

    tc = getattr(project, "start_timecode", None)
    if not tc or not isinstance(tc, str):
        return 0
    try:
        return int(timecode_to_frames(tc, project_rate(project)))
    except Exception:  # noqa: BLE001 - a bad start timecode is shown as zero, not a crash
        return 0


def fps_float(project: Any) -> float:
    rate = project_rate(project)
    fps = getattr(rate, "fps", rate)
    return float(fps)


def timecode_at(project: Any, seconds: float) -> str:
    from triergon_studio.core.timecode import frames_to_timecode

    frame = int(max(0.0, seconds) * fps_float(project) + 1e-6)
    return frames_to_timecode(frame + start_frame(project), project_rate(project))
