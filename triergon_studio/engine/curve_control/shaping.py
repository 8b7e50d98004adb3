"""Shaped init (issue 13): an excitation under the curve's gain envelope, to sample from (SDEdit-style).

The excitation is the take's init audio when it has one, else the reference-audio prompt (looped to the
take's length), else pink noise from the take's seed. ``audio.conform`` gives it the target curve (its gain
envelope follows the 6 Hz L/R curve with short ramps, silent frames held down), and ``make_takes`` encodes
the result and passes it as ``init=``: the family noises it to ``settings.init_noise`` and samples from there,
so the timing and level of events come from the curve while the model supplies the sound. It combines with
guidance (``shape+guide``) and with the reference prompt (the reference still conditions the model).

Numpy only (no torch): the excitation and its envelope are audio-layer work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.core.curves import CurveSource, LoudnessCurve
from triergon_studio.errors import ModelError

EXCITATIONS = ("auto", "noise", "reference")
# steady level the excitation is brought to before the envelope: leaves headroom for +loud targets
_EXCITATION_LUFS = -30.0


@dataclass(frozen=True, slots=True)
class ShapeSettings:
    init_noise: float = 0.7  # fraction of the schedule the shaped init is noised to (the family's default)
    excitation: str = "auto"  # auto: init audio, then reference, then pink noise

    def __post_init__(self) -> None:
        if not (math.isfinite(self.init_noise) and 0 < self.init_noise <= 1):
            raise ModelError(f"init noise must be in (0, 1], got {self.init_noise}")
        if self.excitation not in EXCITATIONS:
            raise ModelError(f"excitation must be one of {', '.join(EXCITATIONS)}, got {self.excitation!r}")


def pink_noise(n: int, seed: int, channels: int = 2) -> np.ndarray:
    """Independent pink (1/f power) noise per channel, ``[n, channels]`` float32, RMS 1."""
    rng = np.random.default_rng(seed)
    spec = rng.standard_normal((channels, n // 2 + 1)) + 1j * rng.standard_normal((channels, n // 2 + 1))
    f = np.arange(n // 2 + 1, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n=n, axis=1)
    x /= np.sqrt(np.mean(x * x, axis=1, keepdims=True)) + 1e-12
    return x.T.astype(np.float32)


def _loop_to(audio: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a
    a = np.repeat(a, 2, axis=1) if a.shape[1] == 1 else a[:, :2]
    if len(a) == 0:
        raise ModelError("the excitation audio is empty")
    reps = -(-n // len(a))
    return np.tile(a, (reps, 1))[:n]


def shaped_excitation(
    target: np.ndarray,
    n_samples: int,
    sample_rate: int,
    *,
    seed: int,
    excitation: np.ndarray | None = None,
    settings: ShapeSettings | None = None,
) -> np.ndarray:
    """``[n_samples, 2]`` float32: the excitation (or pink noise) with the gain envelope of ``target``
    ([2, F] LUFS at 6 Hz from the take's start)."""
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.audio.loudness import channel_curves

    s = settings or ShapeSettings()
    tgt = np.asarray(target, dtype=np.float64)
    if tgt.ndim != 2 or tgt.shape[0] != 2:
        raise ModelError(f"curves must be [2, frames] LUFS, got shape {tgt.shape}")
    use_ref = excitation is not None and s.excitation in ("auto", "reference")
    if s.excitation == "reference" and excitation is None:
        raise ModelError("excitation 'reference' needs a reference sound or init audio")
    src = (
        _loop_to(excitation, n_samples) if use_ref and excitation is not None else pink_noise(n_samples, seed)
    )
    # a steady excitation: level out the reference's own dynamics first, so the envelope is the curve's
    level = channel_curves(src, sample_rate)
    flat = LoudnessCurve(
        np.full(level.shape[1], _EXCITATION_LUFS),
        np.full(level.shape[1], _EXCITATION_LUFS),
        n_samples / sample_rate,
        CURVE_RATE_HZ,
        CurveSource.DRAWN,
    )
    if use_ref:
        src = conform_to_curve(src, sample_rate, flat, max_gain_db=40.0, iterations=2).audio
    frames = int(math.ceil(n_samples / (sample_rate / CURVE_RATE_HZ) - 1e-9))
    full = np.full((2, frames), LUFS_FLOOR)
    full[:, : min(frames, tgt.shape[1])] = tgt[:, :frames]
    curve = LoudnessCurve(full[0], full[1], n_samples / sample_rate, CURVE_RATE_HZ, CurveSource.DRAWN)
    out = conform_to_curve(src, sample_rate, curve, max_gain_db=60.0, iterations=3).audio
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def shape_init(inputs: Any, settings: Any, sample_rate: int) -> np.ndarray | None:
    """The before-sampling hook for ``make_takes``: the init audio for this take (``[N, 2]`` float32, then
    encoded and passed as ``init=``). Shaped when ``settings.follow_curves`` includes ``shape`` and the take
    has curves; otherwise the take's own init audio (or None)."""
    mode = str(getattr(settings, "follow_curves", "off") or "off")
    if "shape" not in mode or inputs.curves is None:
        return inputs.init_audio
    excitation = inputs.init_audio if inputs.init_audio is not None else inputs.reference
    return shaped_excitation(
        inputs.curves,
        int(inputs.n_samples),
        sample_rate,
        seed=int(settings.seed),
        excitation=excitation,
        settings=ShapeSettings(init_noise=float(settings.init_noise)),
    )
