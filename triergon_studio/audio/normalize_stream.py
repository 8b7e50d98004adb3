"""``normalize`` (static gain, then the look-ahead true-peak limiter when the ceiling needs it) block by block:
memory bounded by a constant, whatever the length, and the same samples as the whole-array path.

Every measurement the whole-array path makes (integrated loudness, true peak of a candidate output) is one
pass over the source; the output is produced by a last pass into a sink. The limiter's gain at sample n
depends on the 4x oversampled envelope within ``[n - lookahead - hold - 16, n + lookahead + 16]``, so each block
is read with that much context; its minimum filter is exact, and its moving average uses a cumulative sum
carried from block to block, so every gain value is computed by the same additions as ``limiter._gain_curve``
on the whole array. The true peak of a stream is ``stream.StreamingAnalysis``'s (real samples as context).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio import truepeak as _tp
from triergon_studio.audio.blocks import BLOCK_FRAMES, AudioSource, ExactLoudness
from triergon_studio.audio.normalize import SilentAudioError, search_limited_gain
from triergon_studio.audio.stream import _PEAK_CONTEXT, _channel_peaks_in_context

Sink = Callable[[np.ndarray], None]


@dataclass
class NormalizeStats:
    """``NormalizeResult`` without the audio (which went to the sink)."""

    gain_db: float
    limited: bool
    input_lufs: float
    output_lufs: float
    output_true_peak_dbtp: float
    max_gain_reduction_db: float
    target_lufs: float
    ceiling_dbtp: float


class PeakTracker:
    """True and sample peak of consecutive ``[B, C]`` blocks, each measured with its real neighbours."""

    def __init__(self, channels: int = 2) -> None:
        self.channels = channels
        self.tp = np.zeros(channels)
        self.sp = np.zeros(channels)
        self._prev: np.ndarray | None = None
        self._left = np.zeros((0, channels))
        self._right: list[np.ndarray] = []

    def push(self, block: np.ndarray) -> None:
        if block.shape[0] == 0:
            return
        if self._prev is None:
            self._prev = block
            return
        # The waiting block needs _PEAK_CONTEXT samples after it; short blocks are gathered until then.
        self._right.append(block)
        right = np.concatenate(self._right)
        if right.shape[0] >= _PEAK_CONTEXT:
            self._measure(right)

    def _measure(self, right: np.ndarray) -> None:
        cur = self._prev
        assert cur is not None
        for c in range(self.channels):
            tp, sp = _channel_peaks_in_context(self._left[:, c], cur[:, c], right[:_PEAK_CONTEXT, c])
            self.tp[c] = max(self.tp[c], tp)
            self.sp[c] = max(self.sp[c], sp)
        self._left = np.concatenate([self._left, cur])[-_PEAK_CONTEXT:]
        self._prev, self._right = right, []

    def finish(self) -> np.ndarray:
        """Per-channel true peak in dBTP."""
        if self._right:
            self._measure(np.concatenate(self._right))
        if self._prev is not None:
            cur = self._prev
            for c in range(self.channels):
                tp, sp = _channel_peaks_in_context(self._left[:, c], cur[:, c], np.zeros(0))
                self.tp[c] = max(self.tp[c], tp)
                self.sp[c] = max(self.sp[c], sp)
            self._prev = None
        return _ld._dbfs(self.tp)


@dataclass
class _Pass:
    tp_dbtp: float
    lufs: float
    gain_min: float


class _Limiter:
    """Passes of ``limiter.limit_true_peak`` over ``src * scale`` (see the module docstring)."""

    def __init__(
        self, src: AudioSource, block: int, lookahead_s: float = 0.005, hold_s: float = 0.02
    ) -> None:
        self.src, self.block = src, block
        self.lookahead = max(1, int(round(lookahead_s * src.sr)))
        self.hold = max(0, int(round(hold_s * src.sr)))

    def run(
        self,
        scale: float,
        target: float | None,
        trim: float | None = None,
        sink: Sink | None = None,
        filter: str = "itu",
    ) -> _Pass:
        """One pass: gain from the envelope limited to ``target`` (None: unity), times ``trim``; returns the
        true peak, integrated loudness and smallest gain of the result, and feeds it to ``sink``."""
        from scipy.ndimage import minimum_filter1d

        src, n, la, hold = self.src, self.src.n, self.lookahead, self.hold
        half = _tp.TAPS // 2
        kern = _tp.true_peak_kernel()
        width = hold + la
        peaks = PeakTracker(2)
        loud = ExactLoudness(src.sr, 2, filter)
        gain_min = math.inf
        carry = 0.0
        cbuf = np.zeros(1)  # cumulative sums of the minima, from index cbuf_at (cs[0] = 0)
        cbuf_at = 0
        for a in range(0, n, self.block):
            b = min(a + self.block, n)
            if target is None:
                x = src.read(a, b).astype(np.float64) * scale
                gain = np.ones(b - a)
            else:
                jlo = a if a > 0 else -(la - 1)
                r_lo, r_hi = jlo - hold, b + la - 1  # required gains needed by this block's minima
                xe = src.read(r_lo - half, r_hi + half).astype(np.float64) * scale
                env = np.zeros(r_hi - r_lo)
                for ch in xe.T:
                    env = np.maximum(env, np.abs(ch[half:-half]))
                    for p in range(1, _tp.OVERSAMPLE):
                        env = np.maximum(env, np.abs(np.convolve(ch, kern[p][::-1], mode="valid")))
                with np.errstate(divide="ignore"):
                    required = np.minimum(1.0, target / np.maximum(env, 1e-300))
                pos = np.arange(r_lo, r_hi)
                required[(pos < 0) | (pos >= n)] = 1.0  # the whole-array path pads with unity there
                centred = minimum_filter1d(required, size=width, mode="nearest")
                starts = np.arange(jlo, b) - hold - r_lo  # window [j - hold, j + lookahead) of each minimum
                m = centred[starts + width // 2]
                cs = np.cumsum(np.concatenate([[carry], m]))[1:]
                carry = float(cs[-1])
                cbuf = np.concatenate([cbuf, cs])
                c = cbuf[a - cbuf_at : b + la - cbuf_at]
                gain = np.minimum((c[la:] - c[:-la]) / la, 1.0)
                cbuf, cbuf_at = cbuf[b - cbuf_at :].copy(), b
                x = xe[a - (r_lo - half) : b - (r_lo - half)]
            if trim is not None:
                gain = gain * trim
            y = x * gain[:, None] if (target is not None or trim is not None) else x
            gain_min = min(gain_min, float(gain.min()))
            peaks.push(y)
            loud.push(y)
            if sink is not None:
                sink(y.astype(np.float32))
        return _Pass(float(peaks.finish().max()), loud.integrated(), gain_min)

    def limit(
        self, scale: float, ceiling_dbtp: float, max_passes: int = 6
    ) -> tuple[_Pass, float | None, float | None]:
        """``limit_true_peak``'s passes: (the result's figures, the target its gain uses, the final trim)."""
        target = 10.0 ** (ceiling_dbtp / 20.0)
        used: float | None = None
        trim: float | None = None
        res = self.run(scale, None)
        for _ in range(max_passes):
            if res.tp_dbtp <= ceiling_dbtp:
                break
            used = target
            res = self.run(scale, used)
            target *= 10.0 ** (min(0.0, ceiling_dbtp - res.tp_dbtp) / 20.0) * 0.999
        if res.tp_dbtp > ceiling_dbtp:  # last resort: a uniform trim of the remaining hundredths of a dB
            trim = 10.0 ** ((ceiling_dbtp - res.tp_dbtp) / 20.0)
            res = self.run(scale, used, trim)
        return res, used, trim


def normalize_source(
    src: AudioSource,
    target_lufs: float,
    true_peak_dbtp: float,
    sink: Sink | None = None,
    filter: str = "itu",
    max_passes: int = 8,
    block: int = BLOCK_FRAMES,
) -> NormalizeStats:
    """``normalize.normalize`` of ``src``; ``sink`` receives the output as ``[B, 2]`` float32 blocks."""
    if src.n == 0:
        raise ValueError("cannot normalise empty audio")
    lim = _Limiter(src, block)
    loud = ExactLoudness(src.sr, 2, filter)
    for a in range(0, src.n, block):
        loud.push(src.read(a, min(a + block, src.n)).astype(np.float64))
    measured = loud.integrated()
    if not math.isfinite(measured):
        raise SilentAudioError("audio is silent (below the -70 LUFS gate); nothing to normalise")
    gain_db = target_lufs - measured
    first = lim.run(10.0 ** (gain_db / 20.0), None, filter=filter)
    if first.tp_dbtp <= true_peak_dbtp:
        lim.run(10.0 ** (gain_db / 20.0), None, sink=sink, filter=filter)
        return NormalizeStats(
            gain_db, False, measured, first.lufs, first.tp_dbtp, 0.0, target_lufs, true_peak_dbtp
        )

    def limited(g: float) -> tuple[tuple[_Pass, float | None, float | None], float]:
        res = lim.limit(10.0 ** (g / 20.0), true_peak_dbtp)
        return res, res[0].lufs

    result, gain_db, out_lufs = search_limited_gain(limited, gain_db, target_lufs, max_passes)
    res, used, trim = result
    lim.run(10.0 ** (gain_db / 20.0), used, trim, sink=sink, filter=filter)
    with np.errstate(divide="ignore"):
        reduction = float(-20.0 * np.log10(res.gain_min))
    return NormalizeStats(
        gain_db, True, measured, out_lufs, res.tp_dbtp, reduction, target_lufs, true_peak_dbtp
    )
