"""Curves must fit the take they steer (issue 13: bad input is one line naming the file)."""

from __future__ import annotations

from pathlib import Path

from triergon_studio.core.curves import LoudnessCurve
from triergon_studio.errors import ModelError


def check_curve_length(curve: LoudnessCurve, end_s: float, total_s: float, where: str | Path | None) -> None:
    """Refuse curves (in video time, or take time without a video) that stop before the take's end
    ``end_s``, or run past the whole picture / take ``total_s``; one frame (1/6 s) of slack either way."""
    have = curve.n_frames / curve.rate_hz
    slack = 1.0 / curve.rate_hz + 1e-6
    if have + slack < end_s:
        raise ModelError(f"the curves last {have:.2f} s but the take ends at {end_s:.2f} s: too short", where)
    if have > total_s + slack:
        raise ModelError(
            f"the curves last {have:.2f} s but the picture/take is {total_s:.2f} s: too long "
            "(curves for another video?)",
            where,
        )
