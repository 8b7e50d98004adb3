"""Array geometry behind the curve-editing tools (pencil, line, points, selection edits).

These work on one channel's LUFS samples (float64, one value per 1/rate s) in place or on copies. They are the
tools' gestures, not the loudness model: the curve itself and its persistence live in ``core.curves``.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

import numpy as np

from triergon_studio.core.constants import LUFS_FLOOR

LUFS_MIN = LUFS_FLOOR
LUFS_MAX = 0.0


class SnapMode(StrEnum):
    OFF = "off"
    FRAMES = "frames"
    GRID = "grid"


def clip_lufs(values: np.ndarray | float) -> np.ndarray | float:
    return np.clip(values, LUFS_MIN, LUFS_MAX)


def index_range(n: int, rate: float, t0: float, t1: float) -> tuple[int, int]:
    """Sample indices whose times fall inside [t0, t1] (inclusive), as a half-open range."""
    lo_t, hi_t = (t0, t1) if t0 <= t1 else (t1, t0)
    lo = max(0, int(np.ceil(lo_t * rate - 1e-9)))
    hi = min(n, int(np.floor(hi_t * rate + 1e-9)) + 1)
    return lo, max(lo, hi)


def nearest_index(n: int, rate: float, t: float) -> int:
    return int(min(max(round(t * rate), 0), n - 1))


def write_segment(
    values: np.ndarray, rate: float, t0: float, v0: float, t1: float, v1: float
) -> tuple[int, int]:
    """Pencil: write the straight segment (t0, v0)-(t1, v1) into ``values`` in place.

    Samples between the two times take the interpolated value; a segment shorter than one sample period
    writes the sample nearest ``t1`` so a slow stroke still draws. Returns the touched index range.
    """
    n = values.shape[0]
    lo, hi = index_range(n, rate, t0, t1)
    if hi <= lo:
        i = nearest_index(n, rate, t1)
        values[i] = clip_lufs(v1)
        return i, i + 1
    times = np.arange(lo, hi) / rate
    if abs(t1 - t0) < 1e-12:
        seg = np.full(hi - lo, v1, dtype=np.float64)
    else:
        seg = v0 + (times - t0) * (v1 - v0) / (t1 - t0)
    values[lo:hi] = clip_lufs(seg)
    return lo, hi


def smooth(values: np.ndarray, mask: np.ndarray, window: int = 5) -> np.ndarray:
    """Moving average (odd window, edges held) applied only where ``mask`` is set."""
    window = max(3, int(window) | 1)
    pad = window // 2
    padded = np.pad(values, pad, mode="edge")
    kernel = np.ones(window) / window
    avg = np.convolve(padded, kernel, mode="valid")
    out = values.copy()
    out[mask] = avg[mask]
    return out


def flatten(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = values.copy()
    if mask.any():
        out[mask] = float(np.mean(values[mask]))
    return out


def offset(values: np.ndarray, mask: np.ndarray, db: float) -> np.ndarray:
    out = values.copy()
    out[mask] = clip_lufs(values[mask] + db)
    return out


def delete_points(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove the selected points: the curve runs straight between the kept neighbours."""
    out = values.copy()
    keep = ~mask
    if not mask.any():
        return out
    if not keep.any():
        out[:] = LUFS_MIN
        return out
    idx = np.arange(values.shape[0])
    out[mask] = np.interp(idx[mask], idx[keep], values[keep])
    return out


def band_mask(values: np.ndarray, rate: float, t0: float, t1: float, lo_v: float, hi_v: float) -> np.ndarray:
    """Samples inside a rubber band: times in [t0, t1] and values in [lo_v, hi_v]."""
    mask = region_mask(values.shape[0], rate, t0, t1)
    return mask & (values >= lo_v) & (values <= hi_v)


def region_mask(n: int, rate: float, t0: float, t1: float) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    lo, hi = index_range(n, rate, t0, t1)
    mask[lo:hi] = True
    return mask


def snap_time(t: float, mode: SnapMode, fps: float, grid_s: float) -> float:
    if mode is SnapMode.FRAMES and fps > 0:
        return round(t * fps) / fps
    if mode is SnapMode.GRID and grid_s > 0:
        return round(t / grid_s) * grid_s
    return t


def snap_value(v: float, mode: SnapMode, grid_db: float) -> float:
    if mode is SnapMode.GRID and grid_db > 0:
        return float(round(v / grid_db) * grid_db)
    return float(v)


def hit_index(
    values: np.ndarray, rate: float, x: float, y: float, px: tuple[float, float], radius_px: float
) -> int | None:
    """The sample nearest (x, y) on screen within ``radius_px`` pixels (``px`` = data units per pixel)."""
    n = values.shape[0]
    lo, hi = index_range(n, rate, x - radius_px * px[0], x + radius_px * px[0])
    if hi <= lo:
        return None
    idx = np.arange(lo, hi)
    d = np.hypot((idx / rate - x) / px[0], (values[idx] - y) / px[1])
    best = int(np.argmin(d))
    return int(idx[best]) if d[best] <= radius_px else None


def curve_with(curve: Any, left: np.ndarray, right: np.ndarray) -> Any:
    """A drawn copy of ``curve`` with new values (the dataclass keeps its other fields)."""
    source = curve.source
    try:
        source = type(curve.source)("drawn")
    except (ValueError, TypeError):
        pass
    return dataclasses.replace(curve, left=left, right=right, source=source)
