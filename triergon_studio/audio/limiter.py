"""Look-ahead true-peak limiter (linked across channels, so the stereo image does not shift).

1. The required gain at each sample is ``min(1, ceiling / p[n])`` where ``p[n]`` is the largest 4x
   oversampled magnitude (over channels and phases) at n .. n + 3/4, from the same interpolator as
   ``loudness.true_peak_dbtp``.
2. A minimum filter over ``[n - hold, n + lookahead)`` followed by a moving average over ``lookahead``
   samples gives a gain that starts falling ``lookahead`` before each peak, reaches the required value
   by the peak, holds, and recovers linearly. Because every value averaged at sample n is a minimum over a
   window that contains n, the gain never exceeds the requirement (no overshoot by construction).
3. Gain changes within the interpolator's span can still let an inter-sample peak poke through by a few
   hundredths of a dB, so the result is re-measured and the ceiling lowered by the overshoot until it fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio import truepeak as _tp


@dataclass
class LimiterResult:
    audio: np.ndarray  # [N, C] float64
    gain: np.ndarray  # [N] linear gain applied to every channel
    max_reduction_db: float
    true_peak_dbtp: float


def _oversampled_envelope(x: np.ndarray) -> np.ndarray:
    """[N] max |4x interpolated value| over channels at positions n, n+1/4, n+1/2, n+3/4."""
    kern = _tp.true_peak_kernel()
    half = _tp.TAPS // 2
    env = np.zeros(x.shape[0])
    for ch in x.T:
        xp = np.concatenate([np.zeros(half), ch, np.zeros(half)])
        env = np.maximum(env, np.abs(ch))
        for p in range(1, _tp.OVERSAMPLE):
            y = np.convolve(xp, kern[p][::-1], mode="valid")
            env = np.maximum(env, np.abs(y))
    return env


def _gain_curve(required: np.ndarray, lookahead: int, hold: int) -> np.ndarray:
    """min over [n - hold, n + lookahead), then the mean of the ``lookahead`` minima ending at n."""
    from scipy.ndimage import minimum_filter1d

    n = required.size
    width = hold + lookahead
    pad = width + lookahead
    rp = np.concatenate([np.ones(pad), required, np.ones(pad)])
    centred = minimum_filter1d(rp, size=width, mode="nearest")  # window [i - width//2, i - width//2 + width)
    shift = width // 2 - hold
    # m[j] for j = -(lookahead-1) .. n-1, each the min over required[j - hold : j + lookahead]
    j = np.arange(-(lookahead - 1), n)
    m = centred[pad + j + shift]
    cs = np.concatenate([[0.0], np.cumsum(m)])
    gain = (cs[lookahead:] - cs[:-lookahead]) / lookahead
    return np.minimum(gain, 1.0)


def limit_true_peak(
    audio: np.ndarray,
    sr: int,
    ceiling_dbtp: float,
    lookahead_s: float = 0.005,
    hold_s: float = 0.02,
    max_passes: int = 6,
) -> LimiterResult:
    """Limit ``[N, C]`` audio so its true peak (4x oversampled) is at most ``ceiling_dbtp``."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    lookahead = max(1, int(round(lookahead_s * sr)))
    hold = max(0, int(round(hold_s * sr)))
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    env = _oversampled_envelope(x)
    target = ceiling
    gain = np.ones(x.shape[0])
    y = x
    tp = float(_ld.true_peak_dbtp(y).max())
    for _ in range(max_passes):
        if tp <= ceiling_dbtp:
            break
        with np.errstate(divide="ignore"):
            required = np.minimum(1.0, target / np.maximum(env, 1e-300))
        gain = _gain_curve(required, lookahead, hold)
        y = x * gain[:, None]
        tp = float(_ld.true_peak_dbtp(y).max())
        target *= 10.0 ** (min(0.0, ceiling_dbtp - tp) / 20.0) * 0.999
    if tp > ceiling_dbtp:  # last resort: a uniform trim of the remaining hundredths of a dB
        trim = 10.0 ** ((ceiling_dbtp - tp) / 20.0)
        gain = gain * trim
        y = x * gain[:, None]
        tp = float(_ld.true_peak_dbtp(y).max())
    with np.errstate(divide="ignore"):
        reduction = float(-20.0 * np.log10(gain.min())) if gain.size else 0.0
    return LimiterResult(y, gain, reduction, tp)
