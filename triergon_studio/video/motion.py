"""Loudness curves from motion: a training-free predictor for any video (issue 13).

The picture is sampled at 6 fps (the curves' rate; frame k is the picture shown at k/6 s) at a small size,
and dense optical flow (Farneback) is computed between consecutive samples. Per left and right half:

- **global motion is left out**: the median flow vector of the whole frame (a pan, a tilt, camera shake) is
  subtracted before magnitudes are taken, so only things moving against the frame count;
- **cuts are left out**: a whole-frame grey-level difference that spikes far above its running median is a
  hard cut; that step's motion is replaced by its neighbours' (a cut is not a loud event);
- **energy** is the mean residual flow magnitude (pixels per 1/6 s, relative to the frame width) and
  **onsets** are its rises; their mix is scaled by a robust peak of the whole video, mapped linearly in dB
  onto the user's range ``[floor_lufs, ceiling_lufs]`` and smoothed.

A video without motion gives a flat curve at the floor and a status message, not an error. Numpy and OpenCV
only (no torch), so it runs for any model family, beside a text-to-audio model that has no video input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.core.curves import CURVE_RATE_HZ, CurveSource, LoudnessCurve
from triergon_studio.core.progress import ProgressFn, Stages
from triergon_studio.errors import CancelledError, StudioError, VideoFileError

ANALYSIS_WIDTH = 192
# residual motion (fraction of the frame width per 1/6 s) under which a video counts as still
STILL_MOTION = 1e-3
# residual motion discounted per unit of global motion (Farneback's error on a moving picture)
PAN_SLACK = 0.05
# shares of the bar: decoding the 6 fps samples, then the flow (measured on car-detection.mp4, 30 s: 0.8 s
# of decoding against 2.1 s of flow)
STAGE_WEIGHTS = {"decode": 0.3, "flow": 0.7}
# AV-Align's Farneback parameters (SPEC §6): pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass(frozen=True, slots=True)
class MotionSettings:
    floor_lufs: float = -60.0  # no motion
    ceiling_lufs: float = -18.0  # the video's strongest motion
    smoothing_s: float = 0.25  # moving-average window
    onset_weight: float = 0.5  # 0 = energy only, 1 = onsets only
    cut_ratio: float = 4.0  # a whole-frame difference this many times its running median is a cut
    cut_min: float = 0.12  # ... and at least this mean grey-level change (0..1)
    curve_power: float = 0.5  # < 1 lifts small motions (a perceptual, dB-like mapping)

    def __post_init__(self) -> None:
        ok = (
            math.isfinite(self.floor_lufs)
            and math.isfinite(self.ceiling_lufs)
            and -70.0 <= self.floor_lufs < self.ceiling_lufs <= 0.0
        )
        if not ok:
            raise StudioError(
                f"need -70 <= floor < ceiling <= 0 LUFS, got {self.floor_lufs}, {self.ceiling_lufs}"
            )
        if not (
            0 <= self.smoothing_s <= 5
            and 0 <= self.onset_weight <= 1
            and self.cut_ratio > 1
            and 0 < self.cut_min < 1
            and 0 < self.curve_power <= 4
        ):
            raise StudioError(
                "motion settings out of range: smoothing 0..5 s, onset weight 0..1, cut ratio > 1, "
                "cut min in (0, 1), curve power in (0, 4]"
            )


@dataclass
class MotionCurves:
    curve: LoudnessCurve
    status: str  # one line for the status bar
    cuts_s: list[float] = field(default_factory=list)  # times of the cuts left out
    pan_s: list[float] = field(default_factory=list)  # times where global motion was removed
    energy: np.ndarray | None = None  # [2, F] residual motion per half (fraction of the width per 1/6 s)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow ``[H, W, 2]`` from grey frame ``a`` to ``b`` with AV-Align's parameters."""
    import cv2

    # flow=None: OpenCV allocates the output; some versions' stubs only list a Mat there
    farneback: Any = cv2.calcOpticalFlowFarneback
    return np.asarray(farneback(a, b, None, *FARNEBACK))


def _grey(frames: np.ndarray) -> list[np.ndarray]:
    import cv2

    return [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]


def motion_energy(
    frames: np.ndarray,
    settings: MotionSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-half residual motion ``[2, F]``, cut flags ``[F]`` and global-motion magnitude ``[F]`` of RGB
    frames ``[F, H, W, 3]`` sampled at 6 fps (step k is the motion from frame k-1 to k; step 0 copies 1)."""
    s = settings or MotionSettings()
    f = len(frames)
    energy = np.zeros((2, f))
    diff = np.zeros(f)
    glob = np.zeros(f)
    if f < 2:
        return energy, np.zeros(f, bool), glob
    grey = _grey(frames)
    w = grey[0].shape[1]
    half = w // 2
    for k in range(1, f):
        if cancel is not None and cancel():
            raise CancelledError("motion analysis cancelled")
        a, b = grey[k - 1], grey[k]
        flow = farneback_flow(a, b)
        med = np.median(flow.reshape(-1, 2), axis=0)
        glob[k] = float(np.hypot(*med)) / w
        mag = np.hypot(flow[..., 0] - med[0], flow[..., 1] - med[1]) / w
        # what remains everywhere is flow-estimation error (it grows with a pan): keep only what stands out
        mag = np.maximum(mag - 2.0 * float(np.median(mag)), 0.0)
        # new picture entering at the borders during a pan has no true flow: leave a margin out
        m = int(math.ceil(float(np.abs(med).max()))) + 4
        inner = np.zeros_like(mag)
        inner[m:-m, m:-m] = mag[m:-m, m:-m]
        # flow error grows with the displacement: during a pan only clearly faster motion counts
        slack = PAN_SLACK * glob[k]
        energy[0, k] = max(0.0, float(inner[:, :half].mean()) - slack)
        energy[1, k] = max(0.0, float(inner[:, half:].mean()) - slack)
        diff[k] = float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()) / 255.0
        if progress is not None:
            progress(k, f - 1)
    energy[:, 0] = energy[:, 1]
    cuts = _cuts(diff, s)
    if cuts.any():  # a cut's flow is garbage: take the neighbours' motion instead
        good = np.flatnonzero(~cuts)
        if good.size:
            for c in range(2):
                energy[c, cuts] = np.interp(np.flatnonzero(cuts), good, energy[c, good])
    return energy, cuts, glob


def _cuts(diff: np.ndarray, s: MotionSettings) -> np.ndarray:
    """Whole-frame difference spikes: far above the running median of the neighbouring steps."""
    f = diff.size
    out = np.zeros(f, bool)
    for k in range(1, f):
        lo, hi = max(1, k - 6), min(f, k + 7)
        around = np.concatenate([diff[lo:k], diff[k + 1 : hi]])
        base = float(np.median(around)) if around.size else 0.0
        out[k] = diff[k] >= s.cut_min and diff[k] >= s.cut_ratio * max(base, 1e-3)
    return out


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    if frames <= 1:
        return x
    kernel = np.ones(frames) / frames
    pad = frames // 2
    padded = np.pad(x, ((0, 0), (pad, frames - 1 - pad)), mode="edge")
    return np.stack([np.convolve(row, kernel, mode="valid") for row in padded])


def energy_to_lufs(energy: np.ndarray, settings: MotionSettings | None = None) -> tuple[np.ndarray, bool]:
    """Motion ``[2, F]`` -> LUFS ``[2, F]`` on the user's range; second value: True when the video is still."""
    s = settings or MotionSettings()
    e = np.maximum(np.asarray(energy, dtype=np.float64), 0.0)
    if e.size == 0 or float(e.max()) < STILL_MOTION:
        return np.full(e.shape, s.floor_lufs), True
    # a robust peak, but a lone event still reaches the ceiling
    peak = max(float(np.percentile(e, 98)), 0.5 * float(e.max()))
    if peak < STILL_MOTION:
        return np.full(e.shape, s.floor_lufs), True
    onset = np.maximum(np.diff(e, axis=1, prepend=e[:, :1]), 0.0)
    on_peak = max(float(np.percentile(onset, 98)), 1e-9)
    act = (1 - s.onset_weight) * np.clip(e / peak, 0, 1) + s.onset_weight * np.clip(onset / on_peak, 0, 1)
    act = np.clip(act / max(float(act.max()), 1e-9), 0.0, 1.0)
    act = np.where(e < max(STILL_MOTION / 2, 0.05 * peak), 0.0, act)  # what barely moves stays at the floor
    act = _smooth(act, int(round(s.smoothing_s * CURVE_RATE_HZ)))
    lufs = s.floor_lufs + (s.ceiling_lufs - s.floor_lufs) * np.clip(act, 0, 1) ** s.curve_power
    return lufs, False


def analyse_motion(
    video: str | Path,
    settings: MotionSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    report_to: ProgressFn | None = None,
) -> MotionCurves:
    """L/R loudness curves of a whole video from its motion (job-friendly: ``progress(done, total)`` after
    each frame pair, ``cancel()`` checked between them; ``report_to(message, fraction)`` follows the whole
    call, frame decoding included)."""
    from triergon_studio.video.probe import probe
    from triergon_studio.video.sampling import sample_frames_6fps

    s = settings or MotionSettings()
    path = Path(video)
    if not path.is_file():
        raise VideoFileError("video file not found", path)
    info = probe(path)
    if not info.width or not info.height:
        raise VideoFileError("has no picture", path)
    wd = ANALYSIS_WIDTH
    ht = max(2, int(round(info.height * wd / info.width / 2)) * 2)
    stages = Stages(report_to, STAGE_WEIGHTS)
    frames = sample_frames_6fps(path, size=(wd, ht), progress=stages.part("decode"))
    flow = stages.part("flow")

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)
        if flow is not None:
            flow(f"Optical flow {done}/{total}", done / max(total, 1))

    energy, cuts, glob = motion_energy(frames, s, step, cancel)
    stages.done("flow", "Motion measured")
    n = max(1, int(math.ceil(float(info.duration_s) * CURVE_RATE_HZ - 1e-9)))
    if energy.shape[1] < n:  # hold the last value to the end of the picture
        last = energy[:, -1:] if energy.shape[1] else np.zeros((2, 1))
        energy = np.concatenate([energy, np.repeat(last, n - energy.shape[1], axis=1)], axis=1)
    energy = energy[:, :n]
    lufs, still = energy_to_lufs(energy, s)
    times = np.arange(len(cuts)) / CURVE_RATE_HZ
    cuts_s = [round(float(t), 3) for t in times[cuts]]
    pan_s = [round(float(t), 3) for t in times[glob > 4 * STILL_MOTION]]
    curve = LoudnessCurve(lufs[0], lufs[1], float(info.duration_s), CURVE_RATE_HZ, CurveSource.PREDICTED)
    if still:
        status = f"{path.name}: no motion found; the curves are flat at the floor ({s.floor_lufs:g} LUFS)"
    else:
        status = (
            f"{path.name}: curves from motion, {s.floor_lufs:g} to {s.ceiling_lufs:g} LUFS"
            + (f"; {len(cuts_s)} cut(s) left out" if cuts_s else "")
            + (f"; camera motion removed in {len(pan_s)} step(s)" if pan_s else "")
        )
    return MotionCurves(curve, status, cuts_s, pan_s, energy)


def predict_motion_job(
    video: str,
    settings: dict[str, Any] | None = None,
    *,
    cancel: Any = None,
    progress: Callable[[int, int], None] | None = None,
    report_to: ProgressFn | None = None,
) -> MotionCurves:
    """The app's "Predict curves: from motion" job: plain arguments, a ``threading.Event`` or callable for
    ``cancel``; returns the curves and the status line (seed the curve editor with ``.curve``).
    ``report_to(message, fraction)`` follows the whole analysis (decoding, then the flow)."""
    s = MotionSettings(**(settings or {}))

    def cancelled() -> bool:
        if cancel is None:
            return False
        return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())

    return analyse_motion(video, s, progress, cancelled, report_to=report_to)


def motion_curves(video: str | Path, settings: MotionSettings | None = None) -> LoudnessCurve:
    """Just the curves (``analyse_motion`` also gives the status line, the cuts and the pans)."""
    return analyse_motion(video, settings).curve
