"""Automation-point shapes and repeating pencil waves for the loudness curves (SPEC §7).

Pure numpy: the curve editor renders its shaped points and shape pencils through these functions onto the
6 Hz frame grid of ``core.curves`` (frame ``k`` sits at ``k / rate_hz`` seconds).

A point's shape describes the segment that *leaves* it, towards the next point, as in REAPER and Pro Tools.
With ``u`` the position in the segment (0 at the point, 1 at the next one) and ``v0``/``v1`` the two values,
the segment is ``v0 + (v1 - v0) * f(u)``:

- ``linear``: ``f = u``.
- ``square``: ``f = 0`` for ``u < 1`` -- the value holds until the next point, then jumps.
- ``slow`` (REAPER's "slow start/end"): ``f = (1 - cos(pi u)) / 2``, an S-curve symmetric about the
  midpoint; equal to linear at both ends and at the middle.
- ``fast`` (fast start): ``f = 1 - (1 - u)^2``, a quadratic in the value's own unit (dB/LUFS) that moves
  quickly first and eases into the next point; it lies on the side of linear nearer ``v1``.
- ``bezier``: a cubic Hermite segment (a cardinal spline) whose slopes at both points are
  ``(1 - tension)`` times the Catmull-Rom slope ``(v[i+1] - v[i-1]) / (t[i+1] - t[i-1])`` (one-sided at the
  first and last points). ``tension`` is in [-1, 1]: 0 gives a smooth (C1) curve through the points, 1 gives
  flat slopes (``3u^2 - 2u^3``), negative values overshoot. This is the only shape that looks at the
  neighbouring points.

Every shape passes through each point's value exactly at its time. Before the first point the curve holds the
first value and after the last point it holds the last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import numpy as np

from triergon_studio.core.curves import CURVE_RATE_HZ

__all__ = [
    "MIN_WAVE_FRAMES",
    "Shape",
    "ShapePoint",
    "Wave",
    "evaluate",
    "render_points",
    "segment_fraction",
    "wave_period",
    "wave_span",
]


class Shape(StrEnum):
    LINEAR = "linear"
    SQUARE = "square"
    SLOW = "slow"
    FAST = "fast"
    BEZIER = "bezier"


class Wave(StrEnum):
    TRIANGLE = "triangle"
    SQUARE = "square"


# A repeating pencil's period is never shorter than two curve frames: one low and one high sample.
MIN_WAVE_FRAMES = 2


@dataclass(frozen=True)
class ShapePoint:
    time_s: float
    value: float
    shape: Shape = Shape.LINEAR
    tension: float = 0.0


PointLike = ShapePoint | tuple[float, float] | tuple[float, float, str] | tuple[float, float, str, float]


def _as_point(p: PointLike) -> ShapePoint:
    if isinstance(p, ShapePoint):
        pt = p
    else:
        time_s, value, *rest = p
        pt = ShapePoint(
            float(time_s),
            float(value),
            Shape(cast(str, rest[0])) if rest else Shape.LINEAR,  # PointLike: the third item is a shape name
            float(cast(float, rest[1])) if len(rest) > 1 else 0.0,
        )
    if not (math.isfinite(pt.time_s) and math.isfinite(pt.value)):
        raise ValueError(f"point ({pt.time_s}, {pt.value}) is not finite")
    if not -1.0 <= pt.tension <= 1.0:
        raise ValueError(f"bezier tension must be in [-1, 1], got {pt.tension}")
    return ShapePoint(pt.time_s, pt.value, Shape(pt.shape), pt.tension)


def _points(points: Sequence[PointLike]) -> list[ShapePoint]:
    pts = [_as_point(p) for p in points]
    for a, b in zip(pts, pts[1:], strict=False):
        if not b.time_s > a.time_s:
            raise ValueError(f"point times must increase strictly ({a.time_s} then {b.time_s})")
    return pts


def segment_fraction(u: np.ndarray, shape: Shape | str) -> np.ndarray:
    """``f(u)`` of the shapes that need no neighbours (``u`` in [0, 1]); bezier is handled by ``evaluate``."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    shape = Shape(shape)
    if shape is Shape.LINEAR:
        return u
    if shape is Shape.SQUARE:
        return np.where(u >= 1.0, 1.0, 0.0)
    if shape is Shape.SLOW:
        return (1.0 - np.cos(np.pi * u)) / 2.0
    if shape is Shape.FAST:
        return 1.0 - (1.0 - u) ** 2
    raise ValueError(f"{shape.value} needs the neighbouring points; use evaluate()")


def _slopes(pts: list[ShapePoint]) -> list[float]:
    """Catmull-Rom slopes (value per second) at each point, one-sided at the ends."""
    n = len(pts)
    out = []
    for i in range(n):
        a, b = pts[max(i - 1, 0)], pts[min(i + 1, n - 1)]
        out.append((b.value - a.value) / (b.time_s - a.time_s) if b.time_s > a.time_s else 0.0)
    return out


def evaluate(points: Sequence[PointLike], times: np.ndarray | Sequence[float]) -> np.ndarray:
    """The shaped curve through ``points`` (strictly increasing times) sampled at ``times`` (seconds)."""
    pts = _points(points)
    t = np.asarray(times, dtype=np.float64)
    if not pts:
        raise ValueError("at least one point is needed")
    out = np.full(t.shape, pts[0].value)
    out[t >= pts[-1].time_s] = pts[-1].value
    slopes = _slopes(pts)
    for i, (a, b) in enumerate(zip(pts, pts[1:], strict=False)):
        inside = (t >= a.time_s) & (t < b.time_s)
        if not inside.any():
            continue
        dt = b.time_s - a.time_s
        u = (t[inside] - a.time_s) / dt
        if a.shape is Shape.BEZIER:
            k = 1.0 - a.tension
            m0, m1 = k * slopes[i] * dt, k * slopes[i + 1] * dt
            u2, u3 = u * u, u * u * u
            out[inside] = (
                (2 * u3 - 3 * u2 + 1) * a.value
                + (u3 - 2 * u2 + u) * m0
                + (3 * u2 - 2 * u3) * b.value
                + (u3 - u2) * m1
            )
        else:
            out[inside] = a.value + (b.value - a.value) * segment_fraction(u, a.shape)
    return out


def render_points(points: Sequence[PointLike], n_frames: int, rate_hz: float = CURVE_RATE_HZ) -> np.ndarray:
    """The shaped curve on the frame grid: ``n_frames`` values, frame ``k`` at ``k / rate_hz`` s."""
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    return evaluate(points, np.arange(int(n_frames)) / float(rate_hz))


def wave_period(snap_unit_s: float, rate_hz: float = CURVE_RATE_HZ) -> float:
    """Period of a repeating pencil: the snap unit, but at least ``MIN_WAVE_FRAMES`` curve frames.

    At 6 Hz a video frame (1/25 s, 1/30 s...) is shorter than one curve frame, so a frame-snapped wave uses
    two curve frames (1/3 s).
    """
    floor = MIN_WAVE_FRAMES / float(rate_hz)
    unit = float(snap_unit_s) if math.isfinite(snap_unit_s) and snap_unit_s > 0 else floor
    return max(unit, floor)


def wave_span(
    kind: Wave | str,
    n_frames: int,
    rate_hz: float,
    t0: float,
    v0: float,
    t1: float,
    v1: float,
    period_s: float,
) -> tuple[int, np.ndarray]:
    """A repeating triangle or square wave over the frames between ``t0`` and ``t1`` (inclusive).

    The phase starts at ``t0`` (the drag's start) with the value ``v0``; half a period later the wave is at
    ``v1`` (the drag's current y). A triangle ramps ``v0 -> v1 -> v0`` each period; a square holds ``v0`` for
    the first half of each period and ``v1`` for the second. Returns ``(first_frame, values)``; ``values`` is
    empty when no frame falls inside the span.
    """
    kind = Wave(kind)
    if period_s <= 0:
        raise ValueError(f"period must be positive, got {period_s}")
    lo_t, hi_t = sorted((float(t0), float(t1)))
    lo = max(0, math.ceil(lo_t * rate_hz - 1e-9))
    hi = min(int(n_frames), math.floor(hi_t * rate_hz + 1e-9) + 1)
    if hi <= lo:
        return lo, np.zeros(0)
    times = np.arange(lo, hi) / float(rate_hz)
    cycles = np.abs(times - float(t0)) / period_s
    phase = np.maximum(cycles - np.floor(cycles + 1e-9), 0.0)  # a whole number of periods is phase 0
    if kind is Wave.TRIANGLE:
        frac = 1.0 - np.abs(2.0 * phase - 1.0)
    else:
        frac = (phase >= 0.5 - 1e-9).astype(np.float64)
    return lo, v0 * (1.0 - frac) + v1 * frac  # exact v0 / v1 where frac is 0 / 1
