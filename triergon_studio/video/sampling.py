"""Frames derived from a video: the 6 fps samples the loudness predictor sees, and timeline thumbnails."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from triergon_studio.core.progress import ProgressFn, report
from triergon_studio.video.reader import VideoReader

SAMPLE_RATE_HZ = 6


def sample_indices(reader: VideoReader, rate_hz: int = SAMPLE_RATE_HZ, per_frame: int = 1) -> list[int]:
    """Frame index shown at each time k/rate_hz for every k with k/rate_hz inside the picture; with
    ``per_frame`` > 1, also ``per_frame - 1`` evenly spaced times inside each of those 1/rate_hz steps (the
    last step's may fall past the end: they show the last frame)."""
    duration = (
        Fraction(reader.info.duration_s)
        if reader.info.is_vfr
        else Fraction(reader.info.frame_count) / reader.info.fps
    )
    count = max(1, math.ceil(duration * rate_hz))
    return [reader.index_at_time(Fraction(k, rate_hz * per_frame)) for k in range(count * per_frame)]


def _resize(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    import cv2

    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)


def sample_frames_6fps(
    path: str | Path,
    size: tuple[int, int] | None = None,
    rate_hz: int = SAMPLE_RATE_HZ,
    progress: ProgressFn | None = None,
    per_frame: int = 1,
) -> np.ndarray:
    """[F, H, W, 3] uint8 RGB where frame k is the picture shown at k/6 s; ``size`` = (width, height). With
    ``per_frame`` > 1, [F * per_frame, ...]: the pictures shown at k / (6 per_frame) s (``sample_indices``).

    The file is decoded once, in order, so this costs one pass whatever the frame rate. ``progress(message,
    fraction)`` is called after each decoded frame (frames decoded / frames to decode).
    """
    with VideoReader(path) as reader:
        wanted = sample_indices(reader, rate_hz, per_frame)
        needed = set(wanted)
        picked: dict[int, np.ndarray] = {}
        first, last = min(needed), max(needed)
        n_decode = last + 1 - first
        report(progress, f"Decoding frames 0/{n_decode}", 0.0)
        for frame in reader.iter_frames(start=first, stop=last + 1):
            if frame.index in needed:
                picked[frame.index] = _resize(frame.image, size)
            done = frame.index + 1 - first
            report(progress, f"Decoding frames {done}/{n_decode}", done / n_decode)
        missing = needed - picked.keys()
        for i in sorted(missing):  # a frame the sequential pass skipped (should not happen): fetch it
            picked[i] = _resize(reader.frame_at_index(i).image, size)
        report(progress, f"Decoded {len(wanted)} frames", 1.0)
        return np.stack([picked[i] for i in wanted])


def thumbnails(path: str | Path, count: int, height: int) -> list[np.ndarray]:
    """``count`` RGB thumbnails ``height`` pixels high, taken at the middle of equal slices of the picture."""
    if count <= 0:
        return []
    with VideoReader(path) as reader:
        n = reader.info.frame_count
        idx = sorted({min(n - 1, int((k + 0.5) * n / count)) for k in range(count)})
        by_index = {}
        for i in idx:
            image = reader.frame_at_index(i).image
            h, w = image.shape[:2]
            width = max(1, round(w * height / h))
            by_index[i] = _resize(image, (width, height))
        return [by_index[min(n - 1, int((k + 0.5) * n / count))] for k in range(count)]
