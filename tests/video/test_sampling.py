from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.video.video_factory import make_video, read_index
from triergon_studio.video.reader import VideoReader
from triergon_studio.video.sampling import sample_frames_6fps, sample_indices, thumbnails


def test_6fps_frame_k_is_frame_shown_at_k_over_6(clip_h264: Path) -> None:
    frames = sample_frames_6fps(clip_h264)
    fps = Fraction(30000, 1001)
    duration = 60 / fps
    assert frames.shape == (math.ceil(duration * 6), 48, 80, 3) and frames.dtype.name == "uint8"
    for k, image in enumerate(frames):
        assert read_index(image) == math.floor(Fraction(k, 6) * fps)


def test_6fps_on_rate_below_6(media_dir: Path) -> None:
    path = make_video(media_dir / "slow.mp4", 10, fps=4)
    frames = sample_frames_6fps(path)
    assert frames.shape[0] == 15  # 2.5 s * 6
    assert [read_index(f) for f in frames] == [math.floor(k * 4 / 6) for k in range(15)]


def test_pictures_per_frame_are_the_ones_shown_inside_each_sixth(clip_h264: Path) -> None:
    """``per_frame`` = 4: picture j of frame k is the one on screen at (4k + j) / 24 s; past the last frame,
    the last picture holds (the training corpus renders the same way)."""
    frames = sample_frames_6fps(clip_h264, per_frame=4)
    fps = Fraction(30000, 1001)
    n6 = math.ceil(60 / fps * 6)
    assert frames.shape == (4 * n6, 48, 80, 3)
    assert [read_index(f) for f in frames] == [
        min(59, math.floor(Fraction(k, 24) * fps)) for k in range(4 * n6)
    ]
    np.testing.assert_array_equal(frames[::4], sample_frames_6fps(clip_h264))


def test_6fps_vfr_uses_timestamps(media_dir: Path) -> None:
    pts = [0, 40, 80, 200, 240, 500, 533, 566, 1000, 1040]
    path = make_video(media_dir / "vfr6.mp4", len(pts), fps=25, pts_ms=pts)
    frames = sample_frames_6fps(path)
    expected = [max(i for i, p in enumerate(pts) if p <= k * 1000 / 6) for k in range(len(frames))]
    assert [read_index(f) for f in frames] == expected


def test_6fps_real_car_file_with_resize(shared_media: Path) -> None:
    path = shared_media / "car-detection.mp4"
    with VideoReader(path) as reader:
        idx = sample_indices(reader)
    assert len(idx) == math.ceil(30.16 * 6)
    assert idx[:4] == [0, 2, 4, 6] and idx[5] == math.floor(5 / 6 * 12.5)


@pytest.mark.slow
def test_6fps_real_car_frames(shared_media: Path) -> None:
    frames = sample_frames_6fps(shared_media / "car-detection.mp4", size=(112, 64))
    assert frames.shape == (181, 64, 112, 3)


def test_thumbnails(clip_h264: Path) -> None:
    thumbs = thumbnails(clip_h264, count=6, height=24)
    assert len(thumbs) == 6
    assert all(t.shape == (24, 40, 3) for t in thumbs)
    big = thumbnails(clip_h264, count=6, height=48)
    assert [read_index(t) for t in big] == [int((k + 0.5) * 60 / 6) for k in range(6)]
    assert thumbnails(clip_h264, 0, 10) == []
