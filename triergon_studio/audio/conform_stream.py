"""``conform_to_curve`` block by block: memory bounded by a constant (a few blocks and the 6 Hz frame tables),
whatever the length, and the same samples as the whole-array path.

Each iteration of ``conform.solve_gains`` is one pass over the source: read a block, build its part of the
gain envelope, apply it, K-weight the result (filter state carried) and add it to the frame sums; the last
pass also hands each output block to a sink (the WAV writer). The envelope is ``conform.gain_envelope``'s
moving average of frame gains, computed from a running cumulative sum carried across blocks, so every value
comes from the same additions in the same order as on the whole array: the output is bit-identical for any
block size (tested against the in-memory path at 1 s, 4096 and 997-sample blocks).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from triergon_studio.audio.blocks import BLOCK_FRAMES, AudioSource, ExactLoudness, iter_blocks
from triergon_studio.audio.conform import GainPlan, solve_gains
from triergon_studio.core.curves import CURVE_RATE_HZ, LoudnessCurve

Sink = Callable[[np.ndarray], None]


class EnvelopeStream:
    """``conform.gain_envelope(gain_db, n, sr, ramp_s)`` in consecutive blocks, value for value."""

    def __init__(self, gain_db: np.ndarray, n: int, sr: int, ramp_s: float = 0.02) -> None:
        self.gain = gain_db
        self.n = n
        self.hop = sr / CURVE_RATE_HZ
        self.frames = gain_db.shape[1]
        self.ramp = max(1, int(round(ramp_s * sr)))
        self.plain = self.ramp <= 1 or n < 2
        self.lead = self.ramp // 2 + 1  # edge padding before sample 0 in gain_envelope
        self.next_cs = 0  # next index of the cumulative sum to compute
        self.carry = np.zeros(gain_db.shape[0])  # the cumulative sum so far
        self.buf = np.zeros((gain_db.shape[0], 0))  # cumulative sums from index `buf_at`
        self.buf_at = 0
        self.pos = 0

    def _steps(self, samples: np.ndarray) -> np.ndarray:
        idx = np.minimum((samples / self.hop).astype(np.int64), self.frames - 1)
        return self.gain[:, idx]

    def block(self, stop: int) -> np.ndarray:
        """Envelope values ``[C, stop - pos]`` for samples ``pos .. stop - 1`` (blocks must follow on)."""
        a, b = self.pos, stop
        self.pos = stop
        if self.plain:
            return self._steps(np.arange(a, b))
        need = b + self.ramp  # cumulative sums at indices a .. b + ramp - 1
        if need > self.next_cs:
            p = np.arange(self.next_cs, need)
            vals = self._steps(np.clip(p - self.lead, 0, self.n - 1))
            cs = np.cumsum(np.concatenate([self.carry[:, None], vals], axis=1), axis=1)[:, 1:]
            self.carry = cs[:, -1].copy()
            self.buf = np.concatenate([self.buf, cs], axis=1)
            self.next_cs = need
        full = self.buf[:, a - self.buf_at : need - self.buf_at]
        env = (full[:, self.ramp :] - full[:, : -self.ramp]) / self.ramp
        self.buf = self.buf[:, b - self.buf_at :].copy()
        self.buf_at = b
        return env


def conform_source(
    src: AudioSource,
    curve: LoudnessCurve,
    sink: Sink | None = None,
    max_gain_db: float = 24.0,
    iterations: int = 6,
    ramp_s: float = 0.02,
    tolerance_lu: float = 1.0,
    filter: str = "itu",
    block: int = BLOCK_FRAMES,
    progress: Callable[[int, int], None] | None = None,
) -> GainPlan:
    """Conform ``src`` to ``curve``; ``sink`` receives the output as ``[B, 2]`` float32 blocks, in order."""
    if src.n == 0:
        raise ValueError("cannot conform empty audio")
    passes = max(1, iterations) + 1
    done = 0

    def run(gain: np.ndarray | None, out: Sink | None) -> np.ndarray:
        nonlocal done
        acc = ExactLoudness(src.sr, 2, filter)
        env = EnvelopeStream(gain, src.n, src.sr, ramp_s) if gain is not None else None
        for a, xb in iter_blocks(src, block):
            x = xb.astype(np.float64)
            if env is not None:
                x = x * (10.0 ** (env.block(a + x.shape[0]).T / 20.0))
            acc.push(x)
            if out is not None:
                out(x.astype(np.float32))
        done += 1
        if progress is not None:
            progress(done, passes)
        return acc.curves()

    def measure(gain: np.ndarray, last: bool) -> np.ndarray:
        return run(gain, sink if last else None)

    return solve_gains(run(None, None), curve, measure, max_gain_db, iterations, tolerance_lu)
