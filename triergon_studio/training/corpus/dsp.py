"""Small DSP building blocks for the procedural Foley corpus (numpy/scipy only, mono float64 unless noted).

Everything takes a ``numpy.random.Generator`` so an example is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal

SR = 44100
CTRL_RATE = 100.0  # control signals (position, size, intensity) are sampled at 100 Hz


def t60_env(n: int, t60: float, sr: int = SR) -> np.ndarray:
    """Exponential decay reaching -60 dB after ``t60`` seconds."""
    return np.exp(-6.907755 * np.arange(n) / (max(t60, 1e-4) * sr))


def modal(
    freqs: np.ndarray, t60s: np.ndarray, amps: np.ndarray, dur: float, rng: np.random.Generator, sr: int = SR
) -> np.ndarray:
    """Sum of exponentially damped sinusoids (a modal resonator struck by an impulse)."""
    n = max(int(dur * sr), 8)
    t = np.arange(n) / sr
    keep = freqs < 0.45 * sr
    out = np.zeros(n)
    phases = rng.uniform(0, 2 * np.pi, size=len(freqs))
    for f, t60, a, ph in zip(freqs[keep], t60s[keep], amps[keep], phases[keep], strict=False):
        out += a * np.exp(-6.907755 * t / t60) * np.sin(2 * np.pi * f * t + ph)
    # a 1 ms attack removes the click of a non-zero starting phase
    ramp = min(n, int(0.001 * sr))
    out[:ramp] *= np.linspace(0, 1, ramp)
    return out


def band_noise(
    rng: np.random.Generator, n: int, lo: float, hi: float, sr: int = SR, order: int = 2
) -> np.ndarray:
    """White noise band-limited with a Butterworth band-pass (or low/high-pass at the edges)."""
    x = rng.standard_normal(n)
    return band_filter(x, lo, hi, sr, order)


def band_filter(x: np.ndarray, lo: float, hi: float, sr: int = SR, order: int = 2) -> np.ndarray:
    nyq = 0.5 * sr
    lo = max(lo, 1.0)
    hi = min(hi, nyq * 0.95)
    if lo <= 20.0:
        sos = signal.butter(order, hi / nyq, btype="low", output="sos")
    elif hi >= nyq * 0.9:
        sos = signal.butter(order, lo / nyq, btype="high", output="sos")
    else:
        sos = signal.butter(order, [lo / nyq, hi / nyq], btype="band", output="sos")
    return signal.sosfilt(sos, x)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise by spectral shaping, unit RMS."""
    m = sfft.next_fast_len(n, real=True)  # awkward lengths make the FFT orders of magnitude slower
    spec = sfft.rfft(rng.standard_normal(m))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    x = sfft.irfft(spec, m)[:n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def brown_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    x = signal.lfilter([1.0], [1.0, -0.995], rng.standard_normal(n))
    x -= x.mean()
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def ctrl_to_audio(ctrl: np.ndarray, n: int, ctrl_rate: float = CTRL_RATE, sr: int = SR) -> np.ndarray:
    """Linear interpolation of a control-rate signal to ``n`` audio samples."""
    tc = np.arange(len(ctrl)) / ctrl_rate
    ta = np.arange(n) / sr
    return np.interp(ta, tc, ctrl)


def smooth_random(
    rng: np.random.Generator,
    n_ctrl: int,
    corr_s: float,
    lo: float = 0.0,
    hi: float = 1.0,
    ctrl_rate: float = CTRL_RATE,
) -> np.ndarray:
    """A smooth random control curve in [lo, hi] with correlation time ``corr_s``."""
    k = max(2, int(n_ctrl / (corr_s * ctrl_rate)) + 2)
    knots = rng.uniform(0, 1, size=k)
    x = np.interp(np.linspace(0, k - 1, n_ctrl), np.arange(k), knots)
    # cosine-smooth the piecewise-linear knots
    win = max(1, int(corr_s * ctrl_rate * 0.5))
    if win > 1 and n_ctrl > win:
        kern = np.hanning(win * 2 + 1)
        x = np.convolve(np.pad(x, win, mode="edge"), kern / kern.sum(), mode="valid")[:n_ctrl]
    return lo + (hi - lo) * x


def add_at(buf: np.ndarray, grain: np.ndarray, t: float, gain: float = 1.0, sr: int = SR) -> None:
    """Add ``grain`` into ``buf`` starting at time ``t`` (truncated at the end)."""
    i = int(round(t * sr))
    if i >= len(buf) or i + len(grain) <= 0:
        return
    g0 = max(0, -i)
    i = max(i, 0)
    m = min(len(grain) - g0, len(buf) - i)
    buf[i : i + m] += gain * grain[g0 : g0 + m]


def poisson_times(
    rng: np.random.Generator, rate_ctrl: np.ndarray, max_rate: float, ctrl_rate: float = CTRL_RATE
) -> np.ndarray:
    """Event times of an inhomogeneous Poisson process whose rate is ``rate_ctrl * max_rate`` (thinning)."""
    dur = len(rate_ctrl) / ctrl_rate
    n = rng.poisson(max_rate * dur)
    t = np.sort(rng.uniform(0, dur, size=n))
    r = np.interp(t * ctrl_rate, np.arange(len(rate_ctrl)), rate_ctrl)
    return t[rng.uniform(0, 1, size=n) < np.clip(r, 0, 1)]


def impulse_train(times: np.ndarray, amps: np.ndarray, n: int, sr: int = SR) -> np.ndarray:
    x = np.zeros(n)
    idx = np.clip((times * sr).astype(np.int64), 0, n - 1)
    np.add.at(x, idx, amps)
    return x


def oscillator(freq_ctrl: np.ndarray, n: int, sr: int = SR, ctrl_rate: float = CTRL_RATE) -> np.ndarray:
    """Phase (radians) of an oscillator following a control-rate frequency curve."""
    f = ctrl_to_audio(freq_ctrl, n, ctrl_rate, sr)
    return 2 * np.pi * np.cumsum(f) / sr


# ---- space: pan, distance, room ---------------------------------------------------------------------------


def pan_equal_power(mono: np.ndarray, x_ctrl: np.ndarray, ctrl_rate: float = CTRL_RATE) -> np.ndarray:
    """Equal-power pan; ``x`` is the source's on-screen position (0 = left edge, 1 = right edge)."""
    x = np.clip(ctrl_to_audio(np.clip(x_ctrl, 0, 1), len(mono), ctrl_rate), 0, 1)
    theta = x * (np.pi / 2)
    return np.stack([mono * np.cos(theta), mono * np.sin(theta)], axis=1)


def distance_lowpass(stereo: np.ndarray, distance: float, sr: int = SR) -> np.ndarray:
    """Air absorption stand-in: farther sources lose highs (one gentle low-pass per example)."""
    fc = float(np.clip(18000.0 / max(distance, 0.5) ** 1.5, 2500.0, 0.45 * sr))
    if fc >= 0.44 * sr:
        return stereo
    sos = signal.butter(1, fc / (0.5 * sr), btype="low", output="sos")
    return signal.sosfilt(sos, stereo, axis=0)


def room_ir(rng: np.random.Generator, rt60: float, sr: int = SR) -> np.ndarray:
    """A stereo room response: a few early reflections per ear and a decorrelated exponential tail."""
    n = int(min(rt60, 1.2) * sr)
    ir = np.zeros((n, 2))
    for ch in range(2):
        delays = np.sort(rng.uniform(0.003, 0.035, size=6))
        gains = rng.uniform(0.2, 0.6, size=6) * (0.7 ** np.arange(6)) * rng.choice([-1, 1], size=6)
        for d, g in zip(delays, gains, strict=False):
            ir[int(d * sr), ch] += g
        start = int(0.02 * sr)
        tail = rng.standard_normal(n - start) * t60_env(n - start, rt60, sr) * 0.25
        ir[start:, ch] += band_filter(tail, 150.0, 9000.0, sr, order=1)
    return ir


def apply_room(
    rng: np.random.Generator, dry: np.ndarray, rt60: float, wet: float, sr: int = SR
) -> np.ndarray:
    ir = room_ir(rng, rt60, sr)
    out = np.empty_like(dry)
    for ch in range(2):
        rev = signal.oaconvolve(dry[:, ch], ir[:, ch])[: len(dry)]
        out[:, ch] = dry[:, ch] + wet * rev
    return out
