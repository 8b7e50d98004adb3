"""True peak (ITU-R BS.1770-4 Annex 2 style): 4x oversampling with a polyphase interpolator.

``_channel_peaks`` returns exactly what interpolating every position would (``oversampled_peak_full``),
but interpolates in full only where a rigorous bound says the peak could be; see its docstring. The
interpolator is a Kaiser-windowed sinc (beta 8, 32 taps per phase) whose phase 0 is the identity, so a
true peak never reads below the sample peak.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

OVERSAMPLE = 4
TAPS = 32  # taps per polyphase branch
_DENSE = 0.5  # fraction of candidate blocks above which the whole-signal screen is cheaper


@lru_cache(maxsize=1)
def true_peak_kernel() -> np.ndarray:
    """``[4, T+1]`` polyphase interpolator: row p gives the value at n + p/4 from x[n - T/2 .. n + T/2].

    Kaiser-windowed sinc (beta 8) with its cutoff at the original Nyquist; phase 0 is the identity, so the
    true peak never reads below the sample peak, and each phase has unit DC gain.
    """
    t = TAPS
    idx = np.arange(-2 * t, 2 * t + 1)
    h = np.sinc(idx / OVERSAMPLE) * np.kaiser(4 * t + 1, 8.0)
    h[idx % OVERSAMPLE == 0] = 0.0
    h[2 * t] = 1.0
    kern = np.zeros((OVERSAMPLE, t + 1))
    for p in range(OVERSAMPLE):
        for i in range(t + 1):
            j = OVERSAMPLE * (t // 2 - i) + p + 2 * t
            if 0 <= j <= 4 * t:
                kern[p, i] = h[j]
        kern[p] /= kern[p].sum()
    return kern


def _phase_peak(seg: np.ndarray, kern: np.ndarray) -> float:
    """Max |value| over all 4 phases at the centre positions of ``seg`` (``seg`` includes T/2 margins)."""
    best = float(np.abs(seg).max()) if seg.size else 0.0  # phase 0 is the identity
    for p in range(1, OVERSAMPLE):
        y = np.convolve(seg, kern[p][::-1], mode="valid")
        if y.size:
            best = max(best, float(np.abs(y).max()))
    return best


def _padded(x: np.ndarray, extra: int = 0) -> tuple[np.ndarray, int]:
    """Signal with zeros so every position that can be non-zero (-T/2 .. N-1+T/2) has a full window."""
    half = TAPS // 2
    xp = np.zeros(x.size + 4 * half + extra)
    xp[2 * half : 2 * half + x.size] = x
    return xp, half


def oversampled_peak_full(x: np.ndarray) -> float:
    """Reference: max |4x interpolation| of one channel computed at every position."""
    xp, _half = _padded(np.asarray(x, np.float64))
    return _phase_peak(xp, true_peak_kernel())


def _channel_true_peak(x: np.ndarray) -> float:
    return _channel_peaks(x)[0]


def _channel_peaks(x: np.ndarray, lo: int | None = None, hi: int | None = None) -> tuple[float, float]:
    """(true peak, sample peak) as linear values; the true peak equals ``oversampled_peak_full(x)``.

    ``lo``/``hi`` (signal indices, default: every position that can be non-zero) restrict the interpolated
    positions to ``[lo, hi)``: the streaming analysis passes a block with real neighbouring samples around it
    and asks only for positions whose windows lie in real samples.

    The true peak is interpolated in full only where it could be:

    1. The exact peak around the loudest sample gives a first value ``best``.
    2. Coarse screen: |value| <= sum|kern| * max|x| over the window; 64-sample blocks whose neighbourhood
       maximum cannot beat ``best`` are skipped.
    3. Fine screen in the remaining blocks: value = near part (the two neighbouring samples, computed
       exactly) + far part, and |far part| <= ||far taps||_2 * ||x over the window||_2 (Cauchy-Schwarz).
    4. Positions whose bound exceeds ``best`` are interpolated exactly.
    Dense material where most blocks survive the coarse screen runs the fine screen over the whole signal
    with fewer passes (``_dense_true_peak``).
    """
    n = x.size
    if n == 0:
        return 0.0, 0.0
    kern = true_peak_kernel()
    half = TAPS // 2
    # valid centre positions in padded coordinates (xp index = signal index + 2*half)
    c_lo = (-half if lo is None else lo) + 2 * half
    c_hi = (n + half if hi is None else hi) + 2 * half
    blk = 64
    nb = -(-(n + 2 * half) // blk)  # blocks covering every centre position that can be non-zero
    xp = np.zeros((nb + 2) * blk)
    xp[2 * half : 2 * half + n] = x
    # Block maxima of |x| from per-block max and min (no full-length |x| temporary).
    blocks = xp.reshape(nb + 2, blk)
    bm = np.maximum(blocks.max(axis=1), -blocks.min(axis=1))
    top = int(np.argmax(bm))
    amax = top * blk + int(np.argmax(np.abs(blocks[top])))
    near_pos = np.arange(max(half, c_lo, amax - 2 * half), min(xp.size - half, c_hi, amax + 2 * half))
    peak = float(bm[top])
    best = max(peak, _positions_peak(xp, near_pos, kern))
    # Block b covers centre positions half + b*blk .. half + (b+1)*blk - 1; its windows span
    # xp[b*blk .. b*blk + blk + 2*half].
    rows = np.lib.stride_tricks.sliding_window_view(xp, blk + 2 * half + 1)[: nb * blk : blk]
    # block b's window span [b*blk, b*blk + blk + 2*half] lies within blocks b and b+1 (2*half < blk)
    wmax = np.maximum(bm[:nb], bm[1 : nb + 1])
    lsum = float(np.abs(kern).sum(axis=1).max())
    cand = np.flatnonzero(lsum * wmax > best)
    if cand.size == 0:
        return best, peak
    if cand.size > _DENSE * nb:
        return max(best, _dense_true_peak(xp, kern, best, c_lo=c_lo, c_hi=c_hi)), peak
    seg = rows[cand]  # [B, blk + 2*half + 1] copy
    centre = seg[:, half : half + blk + 1]
    energy = np.concatenate([np.zeros((seg.shape[0], 1)), np.cumsum(seg * seg, axis=1)], axis=1)
    wsum = np.maximum(energy[:, 2 * half + 1 : 2 * half + 1 + blk] - energy[:, :blk], 0.0)
    far_l2 = float(
        max(np.sqrt(np.sum(np.delete(kern[p], [half, half + 1]) ** 2)) for p in range(1, OVERSAMPLE))
    )
    bound_far = far_l2 * np.sqrt(wsum)
    hot = np.zeros(bound_far.shape, dtype=bool)
    for p in range(1, OVERSAMPLE):
        near = np.abs(kern[p, half] * centre[:, :-1] + kern[p, half + 1] * centre[:, 1:])
        hot |= near + bound_far > best
    bi, off = np.nonzero(hot)
    if bi.size == 0:
        return best, peak
    pos = half + cand[bi] * blk + off
    pos = pos[(pos >= c_lo) & (pos < c_hi)]
    return max(best, _positions_peak(xp, pos, kern)), peak


def _near_far_coeffs(kern: np.ndarray) -> tuple[float, float, float, float]:
    """Bound coefficients for phases 1..3 (see ``_dense_true_peak``)."""
    half = TAPS // 2
    a1, b1 = kern[1, half], kern[1, half + 1]
    a3, b3 = kern[3, half], kern[3, half + 1]
    hs = max(abs(a1 + b1), abs(a3 + b3)) / 2
    hd = max(abs(a1 - b1), abs(a3 - b3)) / 2
    c = max(abs(kern[2, half]), abs(kern[2, half + 1]))
    c2 = abs(kern[2, half] - kern[2, half + 1]) / 2
    far = max(float(np.sqrt(np.sum(np.delete(kern[p], [half, half + 1]) ** 2))) for p in range(1, OVERSAMPLE))
    return hs, hd, max(c, hs) + c2, far


def _dense_true_peak(
    xp: np.ndarray,
    kern: np.ndarray,
    best: float,
    chunk: int = 1 << 15,
    c_lo: int = 0,
    c_hi: int | None = None,
) -> float:
    """Fine screen over the whole padded signal, then exact values where the bound beats ``best``.

    With s = x[n] + x[n+1] and d = x[n] - x[n+1], the near part of phases 1 and 3 (mirror images, taps a
    and b) is at most ((a+b)|s| + |a-b||d|) / 2, and of phase 2 at most c|s| (+ an allowance for the two
    taps differing in rounding). The far part is bounded by Cauchy-Schwarz with the window energy from a
    cumulative sum, plus an allowance for the sum's rounding. Chunks keep the temporaries in cache.
    """
    half = TAPS // 2
    hs, hd, c2, far = _near_far_coeffs(kern)
    last = xp.size - half - 1  # centres half .. last - 1 have full windows
    first = max(half, c_lo)
    if c_hi is not None:
        last = min(last, c_hi)
    hot: list[np.ndarray] = []
    count = 0
    for c0 in range(first, last, chunk):
        c1 = min(c0 + chunk, last)
        seg = xp[c0 - half : c1 + half + 1]
        cs = np.empty(seg.size + 1)
        cs[0] = 0.0
        np.cumsum(seg * seg, out=cs[1:])
        m = c1 - c0
        bound = cs[2 * half + 1 : 2 * half + 1 + m] - cs[:m]
        bound += 1e-9 * cs[-1]
        np.maximum(bound, 0.0, out=bound)
        np.sqrt(bound, out=bound)
        bound *= far
        x0 = seg[half : half + m]
        x1 = seg[half + 1 : half + 1 + m]
        sm = np.abs(x0 + x1)
        df = np.abs(x0 - x1)
        df *= hd
        near = hs * sm
        near += df
        sm *= c2
        np.maximum(near, sm, out=near)
        bound += near
        idx = np.flatnonzero(bound > best)
        if idx.size:
            hot.append(idx + c0)
            count += idx.size
            if count > 0.1 * xp.size:
                return _phase_peak(xp[first - half : last + half], kern)
    if not hot:
        return best
    return max(best, _positions_peak(xp, np.concatenate(hot), kern))


def _positions_peak(xp: np.ndarray, pos: np.ndarray, kern: np.ndarray) -> float:
    """Exact max |value| over phases 1..3 at centre positions ``pos`` of ``xp``."""
    half = TAPS // 2
    offs = np.arange(TAPS + 1) - half
    kt = kern[1:].T.copy()
    best = 0.0
    for s in range(0, pos.size, 1 << 14):
        p = pos[s : s + (1 << 14)]
        best = max(best, float(np.abs(xp[p[:, None] + offs[None, :]] @ kt).max()))
    return best
