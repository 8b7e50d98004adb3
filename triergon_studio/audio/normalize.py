"""Loudness normalisation to a delivery target with a true-peak ceiling.

A static gain brings the integrated loudness to the target. If that pushes the true peak over the ceiling,
the look-ahead true-peak limiter (``audio.limiter``) takes the peaks down and ``limited`` is set; because
limiting lowers the loudness a little, the gain before the limiter is corrected and the pair re-run until
the integrated loudness is within 0.05 LU of the target (secant steps, a few passes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio.limiter import LimiterResult, limit_true_peak

# name: (integrated LUFS, true-peak ceiling dBTP)
PRESETS: dict[str, tuple[float, float]] = {
    "r128": (-23.0, -1.0),  # EBU R128 broadcast
    "a85": (-24.0, -2.0),  # ATSC A/85
    "stream": (-14.0, -1.0),  # Spotify, YouTube
    "apple": (-16.0, -1.0),  # Apple Music / podcasts
}
LOUDNESS_TOLERANCE_LU = 0.05


@dataclass
class NormalizeResult:
    audio: np.ndarray  # [N, C] float32
    gain_db: float  # static gain applied before any limiting
    limited: bool  # the true-peak limiter had to act
    input_lufs: float
    output_lufs: float
    output_true_peak_dbtp: float
    max_gain_reduction_db: float  # deepest limiter gain reduction (0 when not limited)
    target_lufs: float
    ceiling_dbtp: float


class SilentAudioError(ValueError):
    """The audio is below the -70 LUFS gate, so it has no integrated loudness to normalise."""


def resolve_target(target: str | float, true_peak: float | None = None) -> tuple[float, float]:
    """``"r128"`` / ``"-18"`` / ``-18.0`` (+ optional ceiling override) -> (LUFS, dBTP).

    The ranges are ``core.validate.check_target``'s, which ``export`` applies too."""
    from triergon_studio.core.validate import check_target
    from triergon_studio.errors import ParameterError

    try:
        return check_target(target, true_peak)
    except ParameterError as exc:
        raise ValueError(str(exc)) from exc


R = TypeVar("R")


def search_limited_gain(
    limited: Callable[[float], tuple[R, float]], gain_db: float, target_lufs: float, max_passes: int
) -> tuple[R, float, float]:
    """The gain (dB) whose limited output ``limited(gain) -> (result, lufs)`` reaches ``target_lufs``, by secant
    steps (limiting makes loudness grow slower than the gain, so a plain correction crawls). Returns the chosen
    pass: its result, its gain and its loudness."""
    prev: tuple[float, float] | None = None
    best: tuple[R, float, float] | None = None
    for _ in range(max(1, max_passes)):
        result, out_lufs = limited(gain_db)
        if prev is not None and out_lufs - prev[1] < 0.1 * (gain_db - prev[0]) and gain_db > prev[0]:
            # The limiter now takes back nearly all added gain (dense audio at the ceiling): the target is
            # out of reach, and more gain would only inflate the reported figure. Keep the previous pass.
            assert best is not None
            return best
        best = (result, gain_db, out_lufs)
        miss = target_lufs - out_lufs
        if abs(miss) <= LOUDNESS_TOLERANCE_LU:
            break
        slope = 1.0
        if prev is not None and abs(out_lufs - prev[1]) > 1e-6:
            slope = min(4.0, max(1.0, (gain_db - prev[0]) / (out_lufs - prev[1])))
        prev = (gain_db, out_lufs)
        gain_db += miss * slope
    assert best is not None
    return best  # the last pass made, with its own gain (not the next guess)


def normalize(
    audio: np.ndarray,
    sr: int,
    target_lufs: float,
    true_peak_dbtp: float,
    filter: str = "itu",
    max_passes: int = 8,
) -> NormalizeResult:
    """Gain (and, only if needed, true-peak limiting) to reach ``target_lufs`` under ``true_peak_dbtp``."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    measured = _ld.integrated_loudness(x, sr, filter)
    if not math.isfinite(measured):
        raise SilentAudioError("audio is silent (below the -70 LUFS gate); nothing to normalise")
    gain_db = target_lufs - measured
    y = x * 10.0 ** (gain_db / 20.0)
    tp = float(_ld.true_peak_dbtp(y).max())
    if tp <= true_peak_dbtp:
        out_lufs = _ld.integrated_loudness(y, sr, filter)
        return NormalizeResult(
            y.astype(np.float32), gain_db, False, measured, out_lufs, tp, 0.0, target_lufs, true_peak_dbtp
        )

    def limited(g: float) -> tuple[LimiterResult, float]:
        res = limit_true_peak(x * 10.0 ** (g / 20.0), sr, true_peak_dbtp)
        return res, _ld.integrated_loudness(res.audio, sr, filter)

    result, gain_db, out_lufs = search_limited_gain(limited, gain_db, target_lufs, max_passes)
    return NormalizeResult(
        result.audio.astype(np.float32),
        gain_db,
        True,
        measured,
        out_lufs,
        result.true_peak_dbtp,
        result.max_reduction_db,
        target_lufs,
        true_peak_dbtp,
    )
