"""AV-Align (Yariv et al. 2024), SPEC section 6: intersection over union of audio onsets and optical-flow peaks.

Video: Farneback flow between consecutive grey frames, mean magnitude per step; the trajectory starts with the
flow 0->1 and then continues i-1 -> i; peaks are strict local maxima >= 0.1 at i/fps.
Audio: mono at 22050 Hz, librosa-default onset strength (128-band mel power in dB, first difference,
half-wave rectified, mean over bands) and librosa-default peak picking. Written here with numpy/scipy so the
project does not depend on librosa.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from triergon_studio.video.motion import farneback_flow

ONSET_SR = 22050
HOP = 512
N_FFT = 2048
N_MELS = 128


# ---- video -------------------------------------------------------------------------------------------------


def flow_trajectory(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Mean Farneback flow magnitude per frame: [flow(0->1), flow(0->1), flow(1->2), ...] (one per frame)."""
    import cv2

    values: list[float] = []
    prev = None
    for img in frames:
        grey = img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        if prev is not None:
            flow = farneback_flow(prev, grey)
            mag, _ = cv2.cartToPolar(flow[..., 0], flow[..., 1])
            values.append(float(np.mean(mag)))
        prev = grey
    if not values:
        return np.zeros(0)
    return np.array([values[0]] + values)


def video_peaks(trajectory: np.ndarray, fps: float, threshold: float = 0.1) -> np.ndarray:
    """Times (s) of strict local maxima of the flow trajectory that reach ``threshold``."""
    x = np.asarray(trajectory, dtype=np.float64)
    if len(x) < 3:
        return np.zeros(0)
    mid = x[1:-1]
    keep = (x[:-2] < mid) & (mid > x[2:]) & (mid >= threshold)
    return (np.nonzero(keep)[0] + 1) / float(fps)


def read_video_frames(path: str | Path) -> tuple[Iterable[np.ndarray], float]:
    """All frames of a file at its native rate (RGB), streamed, and the stream's frame rate."""
    import av

    from triergon_studio.errors import VideoFileError

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoFileError(f"cannot open video ({exc})", path) from exc
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 25)

    def gen() -> Iterable[np.ndarray]:
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        finally:
            container.close()

    return gen(), fps


# ---- audio -------------------------------------------------------------------------------------------------


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int = ONSET_SR, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters on the Slaney mel scale, area-normalised ("slaney" norm), [n_mels, 1 + n_fft/2]."""
    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def onset_strength(y: np.ndarray, sr: int = ONSET_SR) -> np.ndarray:
    """Spectral-flux onset envelope with librosa's defaults (lag 1, no max filter, centred frames)."""
    y = np.asarray(y, dtype=np.float64)
    pad = N_FFT // 2
    yp = np.pad(y, (pad, pad), mode="constant")
    n_frames = 1 + (len(yp) - N_FFT) // HOP
    if n_frames < 2:
        return np.zeros(max(n_frames, 0))
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = signal.get_window("hann", N_FFT, fftbins=True)
    spec = np.abs(np.fft.rfft(yp[idx] * window, axis=1)) ** 2  # [frames, bins]
    mel = spec @ mel_filterbank(sr).T  # [frames, mels]
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    flux = np.maximum(0.0, db[1:] - db[:-1]).mean(axis=1)
    env = np.concatenate([np.zeros(1 + N_FFT // (2 * HOP)), flux])  # lag + centring compensation
    return env[:n_frames]


def peak_pick(
    x: np.ndarray, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int
) -> np.ndarray:
    """x[n] is a peak if it equals max(x[n-pre_max:n+post_max]), reaches mean(x[n-pre_avg:n+post_avg]) + delta,
    and comes more than ``wait`` frames after the previous peak (windows truncated at the edges)."""
    peaks: list[int] = []
    last = -np.inf
    n = len(x)
    for i in range(n):
        if x[i] <= 0:
            continue
        if x[i] != x[max(0, i - pre_max) : min(n, i + post_max)].max():
            continue
        if x[i] < x[max(0, i - pre_avg) : min(n, i + post_avg)].mean() + delta:
            continue
        if i > last + wait:
            peaks.append(i)
            last = i
    return np.array(peaks, dtype=np.int64)


def onset_frames(env: np.ndarray, sr: int = ONSET_SR) -> np.ndarray:
    """librosa.onset.onset_detect on an envelope: normalise to [0, 1], then its default peak picking."""
    env = np.asarray(env, dtype=np.float64)
    if len(env) == 0:
        return np.zeros(0, dtype=np.int64)
    env = env - env.min()
    env = env / (env.max() + np.finfo(np.float64).tiny)
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, dtype=np.int64)
    return peak_pick(
        env,
        pre_max=int(0.03 * sr // HOP),
        post_max=int(0.00 * sr // HOP + 1),
        pre_avg=int(0.10 * sr // HOP),
        post_avg=int(0.10 * sr // HOP + 1),
        delta=0.07,
        wait=int(0.03 * sr // HOP),
    )


def to_onset_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    """Mono (mean of channels) resampled to 22050 Hz, as ``librosa.load`` delivers it."""
    from math import gcd

    a = np.asarray(audio, dtype=np.float64)
    mono = a.mean(axis=1) if a.ndim == 2 else a
    if sr == ONSET_SR:
        return mono
    g = gcd(int(sr), ONSET_SR)
    return signal.resample_poly(mono, ONSET_SR // g, int(sr) // g)


def audio_peaks(audio: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (s) of an audio signal ([N] or [N, C])."""
    y = to_onset_rate(audio, sr)
    return onset_frames(onset_strength(y)) * HOP / ONSET_SR


# ---- matching ----------------------------------------------------------------------------------------------


def match_count(a_peaks: np.ndarray, v_peaks: np.ndarray, fps: float) -> int:
    """Each audio peak takes the first unused video peak v with v - 1/fps < a < v + 1/fps."""
    used = np.zeros(len(v_peaks), dtype=bool)
    tol = 1.0 / float(fps)
    matches = 0
    for a in a_peaks:
        for j, v in enumerate(v_peaks):
            if not used[j] and v - tol < a < v + tol:
                used[j] = True
                matches += 1
                break
    return matches


def iou(a_peaks: np.ndarray, v_peaks: np.ndarray, fps: float) -> float:
    m = match_count(a_peaks, v_peaks, fps)
    denom = len(a_peaks) + len(v_peaks) - m
    return m / denom if denom > 0 else 0.0


@dataclass(frozen=True)
class AVAlign:
    score: float
    n_audio: int
    n_video: int
    matches: int


def av_align(audio: np.ndarray, sr: int, video_peak_times: np.ndarray, fps: float) -> AVAlign:
    """AV-Align of ``audio`` against precomputed video peaks (compute those once per clip)."""
    a = audio_peaks(audio, sr)
    m = match_count(a, video_peak_times, fps)
    denom = len(a) + len(video_peak_times) - m
    return AVAlign(m / denom if denom > 0 else 0.0, len(a), len(video_peak_times), m)


def av_align_files(video_path: str | Path, audio: np.ndarray, sr: int) -> AVAlign:
    frames, fps = read_video_frames(video_path)
    return av_align(audio, sr, video_peaks(flow_trajectory(frames), fps), fps)
