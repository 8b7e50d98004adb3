"""Left/right loudness curves: the paper's E_L conditioning (per-channel momentary LUFS, 6 values per second).

Frame ``k`` covers ``[k / rate_hz, (k + 1) / rate_hz)`` seconds; a curve over ``duration_s`` has
``ceil(duration_s * rate_hz)`` frames (the last one may cover a partial window, see
``audio.loudness.channel_curves``). Values are LUFS, floored at ``LUFS_FLOOR``.

JSON format shared by the CLI, the app and the tests::

    {"format": "triergon-curves", "version": 1, "rate_hz": 6.0, "duration_s": D,
     "left": [...], "right": [...], "source": "drawn"}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.core.atomic import atomic_write_text
from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.errors import ProjectError

FORMAT_NAME = "triergon-curves"
FORMAT_VERSION = 1


class CurveSource(StrEnum):
    PREDICTED = "predicted"
    MEASURED = "measured"
    DRAWN = "drawn"


def frame_count(duration_s: float, rate_hz: float = CURVE_RATE_HZ) -> int:
    """Frames needed to cover ``duration_s`` (a trailing partial window counts as a frame)."""
    # The small epsilon keeps 60.0 s * 6 Hz at 360 despite float error in the product.
    return max(0, int(math.ceil(duration_s * rate_hz - 1e-9)))


def _channel_index(channel: int | str) -> int:
    if channel in (0, "left", "l", "L"):
        return 0
    if channel in (1, "right", "r", "R"):
        return 1
    raise ValueError(f"channel must be 0/'left' or 1/'right', got {channel!r}")


@dataclass
class LoudnessCurve:
    left: np.ndarray
    right: np.ndarray
    duration_s: float
    rate_hz: float = CURVE_RATE_HZ
    source: CurveSource = CurveSource.DRAWN

    def __post_init__(self) -> None:
        self.left = np.asarray(self.left, dtype=np.float64).reshape(-1)
        self.right = np.asarray(self.right, dtype=np.float64).reshape(-1)
        if self.left.shape != self.right.shape:
            raise ValueError(f"left has {self.left.size} frames but right has {self.right.size}")
        if self.rate_hz <= 0 or not math.isfinite(self.rate_hz):
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")
        if self.duration_s < 0 or not math.isfinite(self.duration_s):
            raise ValueError(f"duration_s must be >= 0, got {self.duration_s}")
        self.duration_s = float(self.duration_s)
        self.rate_hz = float(self.rate_hz)
        self.source = CurveSource(self.source)

    # ----------------------------------------------------------------- construction
    @classmethod
    def constant(
        cls, lufs: float, duration_s: float, source: CurveSource = CurveSource.DRAWN
    ) -> LoudnessCurve:
        n = frame_count(duration_s)
        return cls(np.full(n, float(lufs)), np.full(n, float(lufs)), duration_s, CURVE_RATE_HZ, source)

    @classmethod
    def from_normalized(
        cls, arr: np.ndarray, duration_s: float, source: CurveSource = CurveSource.PREDICTED
    ) -> LoudnessCurve:
        """Inverse of ``to_normalized``: ``[2, F]`` values in [0, 1] -> LUFS at 6 Hz."""
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != 2:
            raise ValueError(f"expected a [2, F] array, got shape {a.shape}")
        lufs = np.clip(a, 0.0, 1.0) * -LUFS_FLOOR + LUFS_FLOOR
        return cls(lufs[0].copy(), lufs[1].copy(), duration_s, CURVE_RATE_HZ, source)

    # ----------------------------------------------------------------- views
    @property
    def n_frames(self) -> int:
        return int(self.left.size)

    def times(self) -> np.ndarray:
        """Start time in seconds of each frame (frame k covers [k/rate, (k+1)/rate))."""
        return np.arange(self.n_frames, dtype=np.float64) / self.rate_hz

    def as_array(self) -> np.ndarray:
        """``[2, F]`` LUFS."""
        return np.stack([self.left, self.right])

    def to_normalized(self) -> np.ndarray:
        """The model's form: ``(L + 70) / 70`` clipped to [0, 1], shape ``[2, F]``."""
        return np.clip((self.as_array() - LUFS_FLOOR) / -LUFS_FLOOR, 0.0, 1.0)

    def resample(self, rate_hz: float, n_frames: int | None = None) -> np.ndarray:
        """Values at another frame rate (e.g. the latent rate 44100/2048), ``[2, F']``.

        Linear interpolation between frame centres, held constant beyond the first and last centres.
        ``n_frames`` defaults to ``ceil(duration_s * rate_hz)``.
        """
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        n_out = frame_count(self.duration_s, rate_hz) if n_frames is None else int(n_frames)
        if self.n_frames == 0:
            return np.full((2, n_out), LUFS_FLOOR)
        src_t = (np.arange(self.n_frames) + 0.5) / self.rate_hz
        dst_t = (np.arange(n_out) + 0.5) / rate_hz
        return np.stack([np.interp(dst_t, src_t, ch) for ch in (self.left, self.right)])

    def stretched_to(self, duration_s: float) -> LoudnessCurve:
        """The same shape over ``duration_s`` (time scaled linearly): what ``generate --fit-curves`` uses
        when the user asks for a curve drawn for another length to follow this take."""
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration must be positive, got {duration_s}")
        n_out = frame_count(duration_s, self.rate_hz)
        if self.n_frames == 0 or self.duration_s <= 0:
            return LoudnessCurve(
                np.full(n_out, LUFS_FLOOR), np.full(n_out, LUFS_FLOOR), duration_s, self.rate_hz, self.source
            )
        scale = self.duration_s / duration_s
        src_t = (np.arange(self.n_frames) + 0.5) / self.rate_hz
        dst_t = (np.arange(n_out) + 0.5) / self.rate_hz * scale
        left, right = (np.interp(dst_t, src_t, ch) for ch in (self.left, self.right))
        return LoudnessCurve(left, right, float(duration_s), self.rate_hz, self.source)

    # ----------------------------------------------------------------- edits (return new curves)
    def _replace(self, left: np.ndarray, right: np.ndarray) -> LoudnessCurve:
        return LoudnessCurve(left, right, self.duration_s, self.rate_hz, self.source)

    def copy(self) -> LoudnessCurve:
        return self._replace(self.left.copy(), self.right.copy())

    def smoothed(self, window_s: float) -> LoudnessCurve:
        """Centred moving average over ``window_s`` seconds (edges repeat the end values)."""
        width = max(1, int(round(window_s * self.rate_hz)))
        if width <= 1 or self.n_frames == 0:
            return self.copy()
        kernel = np.full(width, 1.0 / width)
        pad_l = width // 2
        pad_r = width - 1 - pad_l

        def smooth(ch: np.ndarray) -> np.ndarray:
            padded = np.pad(ch, (pad_l, pad_r), mode="edge")
            return np.convolve(padded, kernel, mode="valid")

        return self._replace(smooth(self.left), smooth(self.right))

    def _frame_mask(self, start: float | None, end: float | None) -> np.ndarray:
        t = self.times()
        mask = np.ones(self.n_frames, dtype=bool)
        if start is not None:
            mask &= t >= start - 1e-9
        if end is not None:
            mask &= t < end - 1e-9
        return mask

    def offset_db(
        self,
        db: float,
        channel: int | str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> LoudnessCurve:
        """Add ``db`` to one channel (or both) between ``start`` and ``end`` seconds; floored at -70."""
        mask = self._frame_mask(start, end)
        chans = [self.left.copy(), self.right.copy()]
        targets = (0, 1) if channel is None else (_channel_index(channel),)
        for c in targets:
            chans[c][mask] = np.maximum(chans[c][mask] + db, LUFS_FLOOR)
        return self._replace(chans[0], chans[1])

    def copy_left_to_right(self) -> LoudnessCurve:
        return self._replace(self.left.copy(), self.left.copy())

    def copy_right_to_left(self) -> LoudnessCurve:
        return self._replace(self.right.copy(), self.right.copy())

    def with_values(self, channel: int | str, start_index: int, values: np.ndarray) -> LoudnessCurve:
        """Replace ``values`` on ``channel`` from frame ``start_index`` (clipped to the curve's length)."""
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        chans = [self.left.copy(), self.right.copy()]
        c = _channel_index(channel)
        lo = max(0, int(start_index))
        hi = min(self.n_frames, int(start_index) + vals.size)
        if hi > lo:
            chans[c][lo:hi] = np.maximum(vals[lo - int(start_index) : hi - int(start_index)], LUFS_FLOOR)
        return self._replace(chans[0], chans[1])

    # ----------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        def clean(ch: np.ndarray) -> list[float]:
            # JSON has no -inf; silence is stored at the floor.
            return [round(float(v), 4) for v in np.maximum(np.nan_to_num(ch, nan=LUFS_FLOOR), LUFS_FLOOR)]

        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "rate_hz": self.rate_hz,
            "duration_s": self.duration_s,
            "left": clean(self.left),
            "right": clean(self.right),
            "source": self.source.value,
        }

    @classmethod
    def from_json(cls, data: str | Path | dict[str, Any]) -> LoudnessCurve:
        """Build from a parsed dict or a path to a ``triergon-curves`` JSON file."""
        where: str | None = None
        if not isinstance(data, dict):
            where = str(data)
            data = _read_json(Path(data))
        try:
            if data.get("format") != FORMAT_NAME:
                raise ValueError(f"not a {FORMAT_NAME} file (format={data.get('format')!r})")
            version = int(data.get("version", 0))
            if version > FORMAT_VERSION:
                raise ValueError(
                    f"curves format version {version} is newer than this app supports ({FORMAT_VERSION})"
                )
            if version < 1:
                raise ValueError(f"invalid curves format version {version}")
            rate = float(data.get("rate_hz", CURVE_RATE_HZ))
            duration = float(data["duration_s"])
            left = np.asarray(data["left"], dtype=np.float64)
            right = np.asarray(data["right"], dtype=np.float64)
            if left.ndim != 1 or right.ndim != 1:
                raise ValueError("left and right must be flat lists of numbers")
            if not (np.all(np.isfinite(left)) and np.all(np.isfinite(right))):
                raise ValueError("curve values must be finite numbers")
            if abs(left.size - duration * rate) > 1.0 + 1e-6:
                raise ValueError(f"{left.size} frames do not cover {duration} s at {rate} Hz")
            source = CurveSource(data.get("source", CurveSource.DRAWN.value))
            return cls(left, right, duration, rate, source)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ProjectError(f"invalid curves: {msg}", where) from exc

    def save(self, path: str | Path) -> None:
        """Write the JSON atomically."""
        atomic_write_text(path, json.dumps(self.to_json(), separators=(", ", ": ")) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LoudnessCurve:
        return cls.from_json(Path(path))


def _read_json(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ProjectError("is a folder, not a curves file", path)
    if not path.is_file():
        raise ProjectError("curves file not found", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(f"cannot read curves JSON ({exc.__class__.__name__})", path) from exc
    if not isinstance(data, dict):
        raise ProjectError("curves JSON must be an object", path)
    return data
