"""Exact frame / second / sample / SMPTE timecode arithmetic.

Every rate is a ``Fraction`` so 29.97 is 30000/1001 and an odd container rate such as 179/6 (29.833) stays
exact. Drop-frame timecode is defined for 29.97 (drops 2 frame numbers per minute) and 59.94 (drops 4),
except every tenth minute. Non-drop timecode at a fractional rate counts frames on the nominal integer base
(round(fps)), as every editing system does.

Rounding: ``picture_samples`` rounds half up (a tie gives the longer file), so audio is never a sample short
of the picture.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

_NAMED_RATES: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "24": Fraction(24),
    "25": Fraction(25),
    "29.97": Fraction(30000, 1001),
    "30": Fraction(30),
    "47.952": Fraction(48000, 1001),
    "48": Fraction(48),
    "50": Fraction(50),
    "59.94": Fraction(60000, 1001),
    "60": Fraction(60),
}

_TC_RE = re.compile(r"^(-)?(\d{1,3})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})$")


@dataclass(frozen=True)
class Rate:
    """A frame rate: exact fps plus whether timecode at this rate is drop-frame."""

    fps: Fraction
    drop_frame: bool = False

    def __post_init__(self) -> None:
        fps = Fraction(self.fps)
        if fps <= 0:
            raise ValueError(f"frame rate must be positive, got {self.fps}")
        object.__setattr__(self, "fps", fps)
        if self.drop_frame and self.drop_per_minute == 0:
            raise ValueError(f"drop-frame timecode is only defined for 29.97 and 59.94, not {float(fps):.3f}")

    @property
    def nominal(self) -> int:
        """Integer frame base of the timecode (30 for 29.97, 30 for 29.833, 24 for 23.976)."""
        return max(1, round(self.fps))

    @property
    def drop_per_minute(self) -> int:
        """Frame numbers skipped at each minute boundary (0 if the rate has no drop-frame form)."""
        if self.fps == Fraction(30000, 1001):
            return 2
        if self.fps == Fraction(60000, 1001):
            return 4
        return 0

    def __str__(self) -> str:
        text = f"{self.fps.numerator}/{self.fps.denominator}" if self.fps.denominator != 1 else str(self.fps)
        return text + (" DF" if self.drop_frame else "")

    def to_json(self) -> dict[str, object]:
        return {"num": self.fps.numerator, "den": self.fps.denominator, "drop_frame": self.drop_frame}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Rate:
        # JSON gives ints (or numeric strings); int() rejects anything else with its own error
        num, den = cast("int | str", data["num"]), cast("int | str", data["den"])
        return cls(Fraction(int(num), int(den)), bool(data.get("drop_frame", False)))


def as_fraction(value: Fraction | int | float | str) -> Fraction:
    """Exact fps from a Fraction, int, a known decimal ('29.97'), 'num/den' or a float (limited)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        text = value.strip()
        if text in _NAMED_RATES:
            return _NAMED_RATES[text]
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(int(num), int(den))
        value = float(text)
    # A float such as 29.97 or 23.976 means the NTSC rate; anything else is taken as written.
    for exact in _NAMED_RATES.values():
        if abs(float(exact) - value) < 5e-4:
            return exact
    return Fraction(value).limit_denominator(1001 * 1000)


def parse_rate(text: str | Fraction | int | float) -> Rate:
    """'29.97df', '29.97 DF', '59.94ndf', '30000/1001', '25', Fraction(179, 6) -> Rate."""
    if not isinstance(text, str):
        return Rate(as_fraction(text))
    raw = text.strip().lower().replace(" ", "")
    drop = False
    if raw.endswith("ndf"):
        raw = raw[:-3]
    elif raw.endswith("df"):
        raw, drop = raw[:-2], True
    try:
        fps = as_fraction(raw)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"not a frame rate: {text!r}") from exc
    return Rate(fps, drop)


def _as_rate(rate: Rate | Fraction | int | float | str) -> Rate:
    return rate if isinstance(rate, Rate) else parse_rate(rate)


def frames_to_timecode(frame: int, rate: Rate | Fraction | int | str) -> str:
    """Frame number (0 = 00:00:00:00) -> 'HH:MM:SS:FF' (';' before the frames for drop-frame).

    Hours wrap at 24 like a real timecode generator; negative frames get a leading '-'.
    """
    rate = _as_rate(rate)
    frame = int(frame)
    sign = "-" if frame < 0 else ""
    frame = abs(frame)
    base = rate.nominal
    if rate.drop_frame:
        drop = rate.drop_per_minute
        per_10min = base * 600 - drop * 9
        per_min = base * 60 - drop
        tens, rem = divmod(frame, per_10min)
        # Frame numbers 0..drop-1 are skipped at each minute except the tenth.
        extra = 0 if rem < drop else drop * ((rem - drop) // per_min)
        frame = frame + drop * 9 * tens + extra
    ff = frame % base
    total_s = frame // base
    ss = total_s % 60
    mm = (total_s // 60) % 60
    hh = (total_s // 3600) % 24
    sep = ";" if rate.drop_frame else ":"
    width = 3 if base > 100 else 2
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:0{width}d}"


def timecode_to_frames(timecode: str, rate: Rate | Fraction | int | str) -> int:
    """'HH:MM:SS:FF' or 'HH:MM:SS;FF' -> frame number. Raises ValueError on a malformed or impossible code."""
    rate = _as_rate(rate)
    m = _TC_RE.match(timecode.strip())
    if not m:
        raise ValueError(f"not a timecode: {timecode!r} (expected HH:MM:SS:FF)")
    neg, hh, mm, ss, _sep, ff = m.groups()
    h, mi, s, f = int(hh), int(mm), int(ss), int(ff)
    base = rate.nominal
    if mi > 59 or s > 59 or f >= base:
        raise ValueError(f"timecode {timecode!r} is out of range at {float(rate.fps):.3f} fps")
    total_min = h * 60 + mi
    frames = (total_min * 60 + s) * base + f
    if rate.drop_frame:
        drop = rate.drop_per_minute
        if s == 0 and f < drop and mi % 10 != 0:
            raise ValueError(f"timecode {timecode!r} does not exist in drop-frame")
        frames -= drop * (total_min - total_min // 10)
    return -frames if neg else frames


def frames_to_seconds(frame: int, fps: Fraction | Rate) -> Fraction:
    fps = fps.fps if isinstance(fps, Rate) else Fraction(fps)
    return Fraction(int(frame)) / fps


def seconds_to_frame(seconds: Fraction | float, fps: Fraction | Rate) -> int:
    """The frame on screen at ``seconds`` on a constant-rate timeline (floor, exact for Fractions)."""
    fps = fps.fps if isinstance(fps, Rate) else Fraction(fps)
    return math.floor(Fraction(seconds) * fps)


def round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def picture_samples(frame_count: int, fps: Fraction | Rate, sample_rate: int) -> int:
    """Length of the picture in samples: round(frame_count * sr / fps), exact, ties rounded up."""
    fps = fps.fps if isinstance(fps, Rate) else Fraction(fps)
    return round_half_up(Fraction(int(frame_count)) * int(sample_rate) / fps)


def picture_length_samples(
    frame_count: int,
    fps: Fraction | Rate,
    sample_rate: int,
    *,
    is_vfr: bool = False,
    duration_s: float | None = None,
) -> int:
    """The picture's length in samples: the one rule that probe, project, generate, predict-lufs and export
    share. Constant frame rate: ``round(frames * sr / fps)``. Variable frame rate: the frames' own timeline
    (first frame to the end of the last), since frames / average-rate misses the last frame's real length."""
    if is_vfr and duration_s is not None and duration_s > 0:
        return seconds_to_samples(Fraction(duration_s), sample_rate)
    return picture_samples(frame_count, fps, sample_rate)


def seconds_to_samples(seconds: Fraction | float, sample_rate: int) -> int:
    return round_half_up(Fraction(seconds) * int(sample_rate))


def frame_to_sample(frame: int, fps: Fraction | Rate, sample_rate: int) -> int:
    """First sample of ``frame`` (same rounding as picture_samples, so frame boundaries tile exactly)."""
    return picture_samples(frame, fps, sample_rate)


def timecode_to_samples(timecode: str, rate: Rate | Fraction | int | str, sample_rate: int) -> int:
    """Samples since midnight for a timecode (the BWF bext TimeReference of a file starting there)."""
    rate = _as_rate(rate)
    return picture_samples(timecode_to_frames(timecode, rate), rate.fps, sample_rate)
