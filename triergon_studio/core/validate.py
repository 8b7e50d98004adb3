"""One validation layer for every parameter a user can set, shared by the CLI, the app and the Python API.

Each ``check_*`` returns the value in its canonical type or raises ``ParameterError`` whose message is one line
naming the parameter, the value and the allowed range. Call them before any work starts. Plain Python: no
numpy, no torch, no Qt, so the CLI can validate before anything heavy is imported.

Documented ranges (README "Command line"):

=========================  =========================================================================
parameter                  range
=========================  =========================================================================
generation duration        0.1 s .. 3600 s (the model samples 60 s windows; one hour of 44.1 kHz stereo
                           float32 takes 1.3 GB before the VAE decode's working memory)
picture length             1 frame .. 24 h
frame rate                 1/10 .. 1000 fps (a Fraction)
seed                       0 .. 2**63 - 1
steps / variations         1 .. 1000 / 1 .. 64
CFG scale                  0 .. 100
lane / item gain           -120 .. +24 dB
take offset                -24 h .. +24 h
target loudness            (-70, 0] LUFS; true-peak ceiling -60 .. +3 dBTP (as ``normalize``)
conform max gain           0 .. 60 dB
curves vs take length      equal within one curve frame (1/6 s), unless stretched (``--fit-curves``)
device                     one of the devices the caller reports as available
=========================  =========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from triergon_studio.errors import ParameterError

MIN_DURATION_S = 0.1
MAX_DURATION_S = 3600.0
MAX_PICTURE_S = 24 * 3600.0
MIN_FPS = Fraction(1, 10)
MAX_FPS = Fraction(1000)
MAX_SEED = 2**63 - 1
MAX_STEPS = 1000
MAX_VARIATIONS = 64
MAX_CFG = 100.0
MIN_GAIN_DB, MAX_GAIN_DB = -120.0, 24.0
MIN_TARGET_LUFS, MAX_TARGET_LUFS = -70.0, 0.0  # exclusive lower bound
MIN_CEILING_DBTP, MAX_CEILING_DBTP = -60.0, 3.0
MAX_CONFORM_GAIN_DB = 60.0
SAMPLE_RATES = (44100, 48000)
TARGET_PRESETS: dict[str, tuple[float, float]] = {
    "r128": (-23.0, -1.0),  # EBU R128 broadcast
    "a85": (-24.0, -2.0),  # ATSC A/85
    "stream": (-14.0, -1.0),  # Spotify, YouTube
    "apple": (-16.0, -1.0),  # Apple Music / podcasts
}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ParameterError(f"{name} must be a number, got {_show(value)}") from exc
    if not math.isfinite(out):
        raise ParameterError(f"{name} must be a finite number, got {_show(value)}")
    return out


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ParameterError(f"{name} must be a whole number, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_range(name: str, value: Any, lo: float, hi: float, unit: str = "", why: str = "") -> float:
    """A finite number in [lo, hi]."""
    v = _number(name, value)
    if not lo <= v <= hi:
        tail = f" ({why})" if why else ""
        raise ParameterError(f"{name} must be between {lo:g} and {hi:g}{unit}, got {_show(value)}{tail}")
    return v


def check_int_range(name: str, value: Any, lo: int, hi: int, why: str = "") -> int:
    v = _integer(name, value)
    if not lo <= v <= hi:
        tail = f" ({why})" if why else ""
        raise ParameterError(f"{name} must be between {lo} and {hi}, got {_show(value)}{tail}")
    return v


def check_duration(seconds: Any, name: str = "duration", max_s: float = MAX_DURATION_S) -> float:
    return check_range(
        name,
        seconds,
        MIN_DURATION_S,
        max_s,
        " s",
        "the limit is what the model and the memory can generate: 60 s windows, chunked",
    )


def check_seed(seed: Any) -> int:
    return check_int_range("seed", seed, 0, MAX_SEED)


def check_steps(steps: Any) -> int:
    return check_int_range("steps", steps, 1, MAX_STEPS)


def check_variations(k: Any) -> int:
    return check_int_range("variations", k, 1, MAX_VARIATIONS)


def check_cfg(scale: Any) -> float:
    return check_range("cfg", scale, 0.0, MAX_CFG)


def check_gain_db(db: Any, name: str = "gain_db") -> float:
    return check_range(name, db, MIN_GAIN_DB, MAX_GAIN_DB, " dB")


def check_offset_s(seconds: Any, name: str = "offset") -> float:
    return check_range(name, seconds, -MAX_PICTURE_S, MAX_PICTURE_S, " s")


def check_conform_gain(db: Any) -> float:
    return check_range("max gain", db, 0.0, MAX_CONFORM_GAIN_DB, " dB")


def check_sample_rate(sr: Any) -> int:
    v = _integer("sample rate", sr)
    if v not in SAMPLE_RATES:
        raise ParameterError(f"sample rate must be 44100 or 48000, got {_show(sr)}")
    return v


def check_fps(fps: Any) -> Fraction:
    """An exact frame rate in [1/10, 1000] fps."""
    try:
        f = fps if isinstance(fps, Fraction) else Fraction(fps)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise ParameterError(f"frame rate must be a positive fraction, got {_show(fps)}") from exc
    if not MIN_FPS <= f <= MAX_FPS:
        raise ParameterError(f"frame rate must be between 0.1 and 1000 fps, got {_show_fraction(f)}")
    return f


def _show_fraction(f: Fraction) -> str:
    if f.numerator.bit_length() > 64 or f.denominator.bit_length() > 64:
        return f"about {float(f):.3g}"
    return f"{f.numerator}/{f.denominator}" if f.denominator != 1 else str(f.numerator)


def check_frame_count(frames: Any, fps: Any, name: str = "frame_count") -> int:
    """At least one frame, at most 24 h of picture at ``fps``."""
    n = _integer(name, frames)
    rate = check_fps(fps)
    limit = int(MAX_PICTURE_S * rate)
    if not 1 <= n <= limit:
        raise ParameterError(
            f"{name} must be between 1 and {limit} (24 h at {_show_fraction(rate)} fps), got {n}"
        )
    return n


def check_picture_seconds(seconds: Any, name: str = "picture duration") -> float:
    return check_range(name, seconds, 0.0, MAX_PICTURE_S, " s")


def check_target(target: Any, true_peak: Any = None) -> tuple[float, float]:
    """``"r128"`` / ``"-18"`` / ``-18.0`` (+ optional ceiling) -> (LUFS, dBTP), the rule ``normalize`` applies."""
    key = target.lower().strip() if isinstance(target, str) else None
    if key is not None and key in TARGET_PRESETS:
        lufs, ceiling = TARGET_PRESETS[key]
    else:
        try:
            lufs = _number("target loudness", target)
        except ParameterError as exc:
            names = ", ".join(TARGET_PRESETS)
            raise ParameterError(
                f"target must be one of {names} or a LUFS value, got {_show(target)}"
            ) from exc
        ceiling = -1.0
        if not MIN_TARGET_LUFS < lufs <= MAX_TARGET_LUFS:
            raise ParameterError(f"target loudness must be between -70 and 0 LUFS, got {_show(target)}")
    if true_peak is not None:
        ceiling = _number("true-peak ceiling", true_peak)
    if not MIN_CEILING_DBTP <= ceiling <= MAX_CEILING_DBTP:
        raise ParameterError(f"true-peak ceiling must be between -60 and +3 dBTP, got {_show(ceiling)}")
    return float(lufs), float(ceiling)


def check_curve_length(curve_s: Any, take_s: Any, rate_hz: float = 6.0, what: str = "the take") -> None:
    """Curves must cover the take to within one curve frame (``conform`` and ``generate`` share this)."""
    c, t = _number("curve duration", curve_s), _number("take duration", take_s)
    if abs(c - t) > 1.0 / rate_hz:
        raise ParameterError(
            f"the curves cover {c:.2f} s but {what} lasts {t:.2f} s; measure or predict curves for it, "
            "or stretch them with --fit-curves"
        )


def check_device(name: Any, available: Sequence[str]) -> str:
    """``auto`` or one of ``available`` (e.g. ``["cpu", "cuda", "cuda:0"]``, supplied by the caller)."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"device must be a name, got {_show(name)}")
    key = name.strip().lower()
    if key == "auto" or key in available:
        return key
    raise ParameterError(
        f"unknown or unavailable device {_show(name)}; available: auto, {', '.join(available)}"
    )


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def check_config_int(name: str, value: Any, lo: int = 1, hi: int = 1 << 20) -> int:
    """A model-config integer field (channels, depth, heads, ...)."""
    return check_int_range(f"config field {name}", value, lo, hi)


def check_text(value: Any, name: str = "name", max_len: int = 256) -> str:
    """A name that goes into text exports: no control characters, bounded length."""
    if not isinstance(value, str):
        raise ParameterError(f"{name} must be text, got {_show(value)}")
    bad = [c for c in value if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise ParameterError(f"{name} {_show(value)} holds control characters (newline, tab, NUL, ...)")
    if len(value) > max_len:
        raise ParameterError(f"{name} is longer than {max_len} characters")
    return value


__all__ = [name for name in dir() if name.startswith(("check_", "MAX_", "MIN_"))] + [
    "SAMPLE_RATES",
    "TARGET_PRESETS",
]
