"""Conform audio to a loudness curve: a smooth per-channel gain envelope so the measured 6 Hz curve follows a
target curve (the paper's L/R momentary curves).

The envelope holds one gain per 1/6 s frame and crosses each frame boundary with a linear ramp of
``ramp_s`` (20 ms by default), so the per-sample gain step never exceeds ``|gain change| / ramp`` (no
clicks). Gains are found iteratively: measure, correct each frame by the remaining error, re-measure; a
few passes absorb the smearing of the K-weighting filter and the ramps.

Frames count as *conformable* where the source measures above the meter's floor (-70 LUFS: a quiet tail is
signal too) and the needed gain is at most ``max_gain_db``. A frame at the floor holds the gain of its
neighbours, limited to lie between 0 dB and the frame's own needed gain: silence is never pumped up, and a
held gain never moves a frame away from its target or past it (a neighbour's boost would otherwise lift a
frame drawn silent into sound). Frames with an audible target (above -60 LUFS) that are not conformable are
reported in ``unmet_frames``, together with any conformable frame still more than ``tolerance_lu`` off
after the last pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from triergon_studio.audio.loudness import channel_curves
from triergon_studio.core.curves import CURVE_RATE_HZ, LUFS_FLOOR, LoudnessCurve

AUDIBLE_LUFS = -60.0  # a target frame above this asks for sound
MIN_GAIN_DB = -100.0


@dataclass
class ConformResult:
    audio: np.ndarray  # [N, C] float32, conformed
    gain_db: np.ndarray  # [C, F] gain per 1/6 s frame
    unmet_frames: np.ndarray  # [C, F] bool: frames the target could not be met on
    mae_lu: float  # mean |measured - target| over the conformable frames
    conformable: np.ndarray  # [C, F] bool: source above the -70 LUFS floor, needed gain <= max_gain_db
    measured: np.ndarray  # [C, F] curves of the result
    target: np.ndarray  # [C, F] target curves on the source's frames

    @property
    def unmet_count(self) -> int:
        return int(self.unmet_frames.sum())


def gain_envelope(gain_db: np.ndarray, n: int, sr: int, ramp_s: float = 0.02) -> np.ndarray:
    """Per-sample gain in dB, ``[C, n]``: frame gains joined by linear ramps centred on frame boundaries."""
    hop = sr / CURVE_RATE_HZ
    frames = gain_db.shape[1]
    idx = np.minimum((np.arange(n) / hop).astype(np.int64), frames - 1)
    steps = gain_db[:, idx]
    ramp = max(1, int(round(ramp_s * sr)))
    if ramp <= 1 or n < 2:
        return steps
    # A moving average over `ramp` samples turns each step into a straight line of that length.
    pad_l, pad_r = ramp // 2, ramp - 1 - ramp // 2
    padded = np.pad(steps, ((0, 0), (pad_l + 1, pad_r)), mode="edge")
    cs = np.cumsum(padded, axis=1)
    return (cs[:, ramp:] - cs[:, :-ramp]) / ramp


def _fill_held(gain: np.ndarray, ok: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Replace gains outside ``ok`` by linear interpolation between the nearest ``ok`` frames, limited to
    lie between 0 dB and the frame's own ``needed`` gain."""
    out = gain.copy()
    for c in range(gain.shape[0]):
        good = np.flatnonzero(ok[c])
        if good.size == 0:
            out[c] = 0.0
        elif good.size < gain.shape[1]:
            out[c] = np.interp(np.arange(gain.shape[1]), good, gain[c, good])
    held = np.clip(out, np.minimum(needed, 0.0), np.maximum(needed, 0.0))
    return np.where(ok, out, held)


def conform_to_curve(
    audio: np.ndarray,
    sr: int,
    curve: LoudnessCurve,
    max_gain_db: float = 24.0,
    iterations: int = 6,
    ramp_s: float = 0.02,
    tolerance_lu: float = 1.0,
    filter: str = "itu",
) -> ConformResult:
    """Apply a smooth gain envelope so ``channel_curves(result)`` follows ``curve`` (see module docstring).

    The whole audio in memory; ``conform_stream.conform_source`` gives the same samples block by block."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, chans = x.shape
    if n == 0:
        raise ValueError("cannot conform empty audio")
    out = x

    def measure(gain: np.ndarray, last: bool) -> np.ndarray:
        nonlocal out
        env = gain_envelope(gain, n, sr, ramp_s)
        out = x * (10.0 ** (env.T / 20.0))
        return channel_curves(out, sr, filter=filter)

    src = channel_curves(x, sr, filter=filter)
    plan = solve_gains(src, curve, measure, max_gain_db, iterations, tolerance_lu)
    return ConformResult(
        out.astype(np.float32),
        plan.gain_db,
        plan.unmet_frames,
        plan.mae_lu,
        plan.conformable,
        plan.measured,
        plan.target,
    )


@dataclass
class GainPlan:
    """The frame gains a conform settled on, and how well the result follows the target."""

    gain_db: np.ndarray  # [C, F]
    unmet_frames: np.ndarray  # [C, F] bool
    mae_lu: float
    conformable: np.ndarray  # [C, F] bool
    measured: np.ndarray  # [C, F] curves of the result
    target: np.ndarray  # [C, F]

    @property
    def unmet_count(self) -> int:
        return int(self.unmet_frames.sum())


def solve_gains(
    src: np.ndarray,
    curve: LoudnessCurve,
    measure: Callable[[np.ndarray, bool], np.ndarray],
    max_gain_db: float = 24.0,
    iterations: int = 6,
    tolerance_lu: float = 1.0,
) -> GainPlan:
    """The iteration on frame gains. ``measure(gain, last)`` applies the envelope of ``gain`` to the audio and
    returns the curves of the result (``last``: this is the output); whole arrays and streams share this."""
    chans, frames = src.shape
    tgt_lr = curve.resample(CURVE_RATE_HZ, n_frames=frames)
    target = np.stack([tgt_lr[min(c, 1)] for c in range(chans)])
    needed = target - src
    has_signal = src > LUFS_FLOOR
    conformable = has_signal & (needed <= max_gain_db)
    gain = np.clip(needed, MIN_GAIN_DB, max_gain_db)
    gain = _fill_held(np.where(has_signal, gain, 0.0), has_signal, needed)
    measured = src
    passes = max(1, iterations)
    for i in range(passes):
        measured = measure(gain, i == passes - 1)
        if i == passes - 1:
            break
        # A frame that reached the -70 floor cannot show how far below it is: leave it there.
        settled = (target <= LUFS_FLOOR) & (measured <= LUFS_FLOOR)
        upd = has_signal & ~settled
        gain = np.where(upd, np.clip(gain + (target - measured), MIN_GAIN_DB, max_gain_db), gain)
        gain = _fill_held(gain, has_signal, needed)
    err = np.abs(measured - target)
    mae = float(err[conformable].mean()) if conformable.any() else 0.0
    unmet = (~conformable & (target > AUDIBLE_LUFS)) | (conformable & (err > tolerance_lu))
    return GainPlan(gain, unmet, mae, conformable, measured, target)
