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


# ---- what the ruler and the transport show ----------------------------------------------------------------
DISPLAY_MODES = ("auto", "smpte", "time", "frames")
SMPTE_BASES = (24, 25, 30, 48, 50, 60)


def has_smpte_base(project: Any) -> bool:
    """SMPTE counts frames on an integer base: exact for 24/25/30/48/50/60 and their x1000/1001 rates. At any
    other rate (12.5, 179/6 ...) a frame count read as HH:MM:SS:FF drifts from the clock and the time axis."""
    rate = project_rate(project)
    fps = Fraction(getattr(rate, "fps", rate))
    return any(fps in (Fraction(b), Fraction(b * 1000, 1001)) for b in SMPTE_BASES)


def effective_mode(project: Any, mode: str) -> str:
    if mode == "auto":
        return "smpte" if has_smpte_base(project) else "time"
    return mode


def format_time(project: Any, seconds: float, mode: str = "auto") -> str:
    """The playhead or a ruler tick as the chosen display: SMPTE timecode, clock time ``HH:MM:SS.mmm`` (which
    always matches the axis) or a frame number; the project's start timecode is added in every mode."""
    mode = effective_mode(project, mode)
    if mode == "smpte":
        return timecode_at(project, seconds)
    fps = fps_float(project)
    frame = int(max(0.0, seconds) * fps + 1e-6)
    if mode == "frames":
        return str(frame + start_frame(project))
    t = max(0.0, seconds) + start_frame(project) / fps
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def mode_note(project: Any, mode: str) -> str:
    """The status bar's note on what the times mean."""
    fps = fps_float(project)
    shown = effective_mode(project, mode)
    if shown == "smpte":
        return f"Timecode: SMPTE at {fps:g} fps"
    if shown == "frames":
        return f"Time: frame numbers at {fps:g} fps"
    why = " (this rate has no SMPTE base)" if mode == "auto" else ""
    return f"Time: clock HH:MM:SS.mmm{why} at {fps:g} fps"
