"""The paper's per-channel loudness curves in torch, differentiable (issue 13: curve guidance).

Same definition as the numpy engine (``audio.loudness.channel_curves``): K-weighting (the ITU/libebur128
filter, or pyloudnorm's), then per-channel mean square over windows on the 6 Hz grid (frame ``k`` covers
samples ``[round(k*hop*sr), round(k*hop*sr + window*sr))``, the last partial window over the samples it
has), ``-0.691 + 10 log10``, floored at -70 LUFS. The default window is the curve's own 1/6 s (what
``measure_curves`` uses); ``window_s=0.4`` gives the EBU momentary window sampled at 6 Hz.

The K-weighting IIR is applied in the frequency domain: its exact response ``B(e^jw)/A(e^jw)`` multiplies
the FFT of the signal zero-padded by the filter's decay length (where its impulse response has fallen below
1e-10), which equals the zero-state ``lfilter`` to float precision and is one differentiable FFT pair
instead of a sample-by-sample recursion autograd would have to unroll.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from triergon_studio.audio.loudness import _frame_bounds, k_weighting_coeffs
from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_ACTIVE, LUFS_FLOOR

# power of -120.7 LUFS: keeps log10 finite (and its gradient bounded) on digital silence
_POWER_EPS = 1e-12


@lru_cache(maxsize=16)
def _kweight_tf(sr: int, mode: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(b, a) of both stages as one 4th-order filter, and its decay length in samples."""
    sos = k_weighting_coeffs(sr, mode)
    b = np.convolve(sos[0, :3], sos[1, :3])
    a = np.convolve(sos[0, 3:], sos[1, 3:])
    r = float(np.max(np.abs(np.roots(a))))
    decay = int(math.ceil(math.log(1e-10) / math.log(r))) if r > 0 else 8
    return b, a, decay


@lru_cache(maxsize=8)
def _response(sr: int, mode: str, nfft: int) -> np.ndarray:
    b, a, _ = _kweight_tf(sr, mode)
    z = np.exp(-1j * 2 * np.pi * np.arange(nfft // 2 + 1) / nfft)  # z^-1 on the rfft grid
    return np.polyval(b[::-1], z) / np.polyval(a[::-1], z)


def power_to_lufs(power: Tensor) -> Tensor:
    """LUFS of K-weighted mean squares (BS.1770's ``-0.691 + 10 log10``), unfloored; digital silence reads
    -120.7 LUFS, so a loss keeps a finite gradient there."""
    return -0.691 + 10.0 * torch.log10(power + _POWER_EPS)


def stft_kweighted_power(power: Tensor, sr: int, window: Tensor, mode: str = "itu") -> Tensor:
    """The K-weighted mean square of a signal around each STFT frame, from the frame's power spectrum
    ``[..., n_fft // 2 + 1, M]`` (a one-sided ``|X|^2`` taken with ``window``) -> ``[..., M]``. Parseval over
    one windowed frame: ``sum_f c_f |X(f)|^2 |K(f)|^2 / (n_fft * sum w^2)``, ``c_f`` 2 except at DC and
    Nyquist; exact in expectation for a stationary signal. For decoders that rebuild audio from magnitudes,
    this measures the loudness they aim at without building the waveform."""
    bins = power.shape[-2]
    n_fft = 2 * (bins - 1)
    weight = np.abs(_response(int(sr), mode, n_fft)) ** 2
    weight[1:-1] *= 2.0
    w = torch.from_numpy(weight / (n_fft * float(window.double().square().sum()))).to(power)
    return torch.einsum("...ft,f->...t", power, w)


def track_frame_powers(track: Tensor, hop: int, starts: np.ndarray, ends: np.ndarray) -> Tensor:
    """Mean of ``track`` ``[..., M]`` (values at samples ``m * hop``) over each window ``[start, end)``
    -> ``[..., len(starts)]`` float64; a window with no sample point takes the nearest one before it."""
    centres = np.arange(track.shape[-1]) * hop
    lo = np.searchsorted(centres, starts)
    hi = np.maximum(np.searchsorted(centres, ends), np.minimum(lo + 1, track.shape[-1]))
    lo = np.minimum(lo, hi - 1)
    cs = torch.nn.functional.pad(torch.cumsum(track.to(torch.float64), dim=-1), (1, 0))
    a, b = torch.from_numpy(lo).to(track.device), torch.from_numpy(hi).to(track.device)
    return (cs[..., b] - cs[..., a]).clamp_min(0.0) / (b - a).to(torch.float64)


def track_curves(track: Tensor, hop: int, n: int, sr: int, floor: float = LUFS_FLOOR) -> Tensor:
    """``loudness_curves`` of ``n`` samples read off a loudness track ``[..., C, M]`` (values at samples
    ``m * hop``, as ``stft_kweighted_power`` gives) instead of the samples, ``[..., C, F]`` LUFS."""
    starts, ends = _frame_bounds(n, int(sr), 1.0 / CURVE_RATE_HZ, 1.0 / CURVE_RATE_HZ)
    return power_to_lufs(track_frame_powers(track, hop, starts, ends)).clamp_min(floor).float()


def _fast_len(n: int) -> int:
    """The next 2^a 3^b 5^c >= n (pocketfft and cuFFT are fast on those)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def k_weight(audio: Tensor, sr: int, mode: str = "itu") -> Tensor:
    """K-weighted ``audio`` ``[..., N]`` (zero initial state, as ``lfilter``), same shape and dtype."""
    n = audio.shape[-1]
    if n == 0:
        return audio
    _, _, decay = _kweight_tf(int(sr), mode)
    nfft = _fast_len(n + decay)
    h = torch.from_numpy(_response(int(sr), mode, nfft))
    work = torch.promote_types(audio.dtype, torch.float32)
    h = h.to(device=audio.device, dtype=torch.complex128 if work == torch.float64 else torch.complex64)
    spec = torch.fft.rfft(audio.to(work), n=nfft)
    return torch.fft.irfft(spec * h, n=nfft)[..., :n].to(audio.dtype if audio.is_floating_point() else work)


def frame_powers(
    audio: Tensor,
    sr: int,
    window_s: float = 1.0 / CURVE_RATE_HZ,
    hop_s: float = 1.0 / CURVE_RATE_HZ,
    mode: str = "itu",
) -> Tensor:
    """Mean square of the K-weighted signal per curve frame, ``[..., F]`` (float64 sums: long takes keep
    their precision)."""
    n = audio.shape[-1]
    starts, ends = _frame_bounds(n, int(sr), window_s, hop_s, mode)
    y = k_weight(audio, sr, mode).to(torch.float64)
    cs = torch.nn.functional.pad(torch.cumsum(y * y, dim=-1), (1, 0))
    s = torch.from_numpy(starts).to(audio.device)
    e = torch.from_numpy(ends).to(audio.device)
    sums = cs[..., e] - cs[..., s]
    return sums.clamp_min(0.0) / (e - s).clamp_min(1).to(torch.float64)


def loudness_curves(
    audio: Tensor,
    sr: int,
    window_s: float = 1.0 / CURVE_RATE_HZ,
    hop_s: float = 1.0 / CURVE_RATE_HZ,
    mode: str = "itu",
    floor: float | None = LUFS_FLOOR,
) -> Tensor:
    """Per-channel loudness curves ``[..., C, F]`` LUFS of ``[..., C, N]`` audio. ``floor=None`` leaves
    quiet frames unclipped (down to -120 LUFS) so a loss still has a gradient there."""
    p = frame_powers(audio, sr, window_s, hop_s, mode)
    lufs = power_to_lufs(p)
    if floor is not None:
        lufs = lufs.clamp_min(floor)
    return lufs.to(torch.promote_types(audio.dtype, torch.float32))


def curve_loss(
    measured: Tensor,
    target: Tensor,
    *,
    active: float = LUFS_ACTIVE,
    delta_lu: float = 3.0,
    silence: float = 0.0,
) -> Tensor:
    """A robust distance in LU: Huber (quadratic within ``delta_lu``, linear beyond) averaged over the frames
    whose target is above ``active`` (-60 LUFS), as the adherence metric counts them. ``measured`` should be
    unfloored (``floor=None``) so a silent frame that should be loud still pulls. ``silence`` > 0 adds, with
    that weight, the same Huber distance by which frames the curve marks silent rise above ``active`` (their
    400 ms windows overlap the quiet frames beside them). Zero when no frame counts."""
    f = min(measured.shape[-1], target.shape[-1])
    m, t = measured[..., :f].clamp_min(-100.0), target[..., :f].to(measured)
    mask = t > active
    loss = measured.sum() * 0.0
    if bool(mask.any()):
        err = torch.nn.functional.huber_loss(m, t, reduction="none", delta=delta_lu)
        loss = loss + (err * mask).sum() / mask.sum()
    quiet = ~mask
    if silence > 0 and bool(quiet.any()):
        over = torch.nn.functional.huber_loss(
            torch.relu(m - active), torch.zeros_like(m), reduction="none", delta=delta_lu
        )
        loss = loss + silence * (over * quiet).sum() / quiet.sum()
    return loss


def adherence_lu(
    measured: Tensor | np.ndarray, target: Tensor | np.ndarray, active: float = LUFS_ACTIVE
) -> float:
    """Mean |measured - target| (LU) over frames whose target is above ``active``; NaN when none is."""
    m = np.asarray(measured.detach().cpu() if isinstance(measured, Tensor) else measured, dtype=np.float64)
    t = np.asarray(target.detach().cpu() if isinstance(target, Tensor) else target, dtype=np.float64)
    f = min(m.shape[-1], t.shape[-1])
    m, t = np.maximum(m[..., :f], LUFS_FLOOR), t[..., :f]
    sel = t > active
    return float(np.abs(m[sel] - t[sel]).mean()) if sel.any() else float("nan")
