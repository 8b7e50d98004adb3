from __future__ import annotations

import random
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.video.video_factory import (
    faststart_copy,
    make_audio_only,
    make_video,
    read_index,
    rotated_copy,
    truncated_copy,
)
from triergon_studio.errors import VideoFileError
from triergon_studio.video.audio_track import extract_audio
from triergon_studio.video.probe import probe
from triergon_studio.video.reader import VideoReader


def test_real_bottle_detection_odd_rate(shared_media: Path) -> None:
    info = probe(shared_media / "bottle-detection.mp4")
    assert info.fps == Fraction(179, 6)  # 29.833..., exactly what the stream says
    assert info.frame_count == 1189
    assert (info.width, info.height, info.rotation) == (640, 360, 0)
    assert info.audio_streams == [] and not info.has_audio and not info.is_vfr
    assert info.duration_s == pytest.approx(1189 * 6 / 179)


@pytest.mark.slow
def test_real_bottle_detection_count_matches_decoded_frames(shared_media: Path) -> None:
    with VideoReader(shared_media / "bottle-detection.mp4") as reader:
        last = None
        count = 0
        for count, frame in enumerate(reader.iter_frames(), start=1):  # noqa: B007
            last = frame
        assert count == 1189 == reader.info.frame_count
        assert last is not None and last.pts_s == pytest.approx(1188 * 6 / 179)
        assert np.array_equal(reader.frame_at_index(1188).image, last.image)


def test_real_car_detection_12_5(shared_media: Path) -> None:
    path = shared_media / "car-detection.mp4"
    info = probe(path)
    assert info.fps == Fraction(25, 2) and info.frame_count == 377
    assert info.duration_s == pytest.approx(30.16)
    with VideoReader(path) as reader:
        decoded = sum(1 for _ in reader.iter_frames())
        assert decoded == 377
        last = reader.frame_at_index(376)
        assert last.pts_s == pytest.approx(376 / 12.5)
        assert reader.frame_at_time(1.0).index == 12  # 12 * 0.08 = 0.96 <= 1.0 < 13 * 0.08


def test_exact_ntsc_rate_and_pts(clip_h264: Path) -> None:
    with VideoReader(clip_h264) as reader:
        assert reader.info.fps == Fraction(30000, 1001)
        assert reader.info.frame_count == 60
        assert reader.pts_of(30) == Fraction(30 * 1001, 30000)
        frames = list(reader.iter_frames())
    assert [f.index for f in frames] == list(range(60))
    assert [read_index(f.image) for f in frames] == list(range(60))
    assert frames[1].pts_s == pytest.approx(1001 / 30000)


def test_random_access_is_frame_accurate(clip_h264: Path) -> None:
    order = list(range(60))
    random.Random(3).shuffle(order)
    with VideoReader(clip_h264, cache_frames=2) as reader:
        for i in order + [59, 0, 58, 1, 30, 31, 29]:
            frame = reader.frame_at_index(i)
            assert frame.index == i and read_index(frame.image) == i
        with pytest.raises(IndexError):
            reader.frame_at_index(60)


def test_access_by_time(clip_h264: Path) -> None:
    with VideoReader(clip_h264) as reader:
        fps = Fraction(30000, 1001)
        for i in (0, 1, 13, 29, 59):
            t = Fraction(i) / fps
            assert reader.frame_at_time(t).index == i
            assert reader.frame_at_time(t + Fraction(1, 100) / fps).index == i
            if i:
                assert reader.frame_at_time(t - Fraction(1, 100) / fps).index == i - 1
        assert reader.frame_at_time(1000.0).index == 59
        assert reader.frame_at_time(-1.0).index == 0
        # 1.0 s at 29.97: frame 29 starts at 0.9676 s, frame 30 at 1.001 s
        assert read_index(reader.frame_at_time(1.0).image) == 29


def test_iter_from_middle(clip_h264: Path) -> None:
    with VideoReader(clip_h264) as reader:
        got = [(f.index, read_index(f.image)) for f in reader.iter_frames(start=37, stop=45)]
    assert got == [(i, i) for i in range(37, 45)]


def test_vfr_uses_real_timestamps(media_dir: Path) -> None:
    pts = [0, 40, 80, 200, 240, 500, 533, 566, 1000, 1040]
    path = make_video(media_dir / "vfr.mp4", len(pts), fps=25, pts_ms=pts)
    with VideoReader(path) as reader:
        assert reader.info.is_vfr
        assert reader.info.pts_s == pytest.approx([p / 1000 for p in pts])
        assert reader.info.duration_s == pytest.approx(1.08, abs=0.05)
        assert reader.frame_at_time(0.45).index == 4  # 240 ms frame still on screen
        assert read_index(reader.frame_at_time(0.55).image) == 6
        assert read_index(reader.frame_at_index(8).image) == 8
        assert reader.frame_at_index(8).pts_s == pytest.approx(1.0)


def test_mpeg4_codec(media_dir: Path) -> None:
    path = make_video(media_dir / "m4.mp4", 30, fps=24, codec="mpeg4")
    with VideoReader(path) as reader:
        assert reader.info.codec == "mpeg4" and reader.info.fps == 24
        assert [read_index(reader.frame_at_index(i).image) for i in (29, 0, 15)] == [29, 0, 15]


def test_no_audio_track(clip_h264: Path) -> None:
    info = probe(clip_h264)
    assert not info.has_audio
    d = info.to_json_dict()
    assert d["has_audio"] is False and d["audio_sample_rate"] is None and d["audio_channels"] is None
    with pytest.raises(VideoFileError, match="no audio track"):
        extract_audio(clip_h264)


def test_audio_track_extracted_float32_native_rate(clip_audio: Path) -> None:
    info = probe(clip_audio)
    assert info.audio_streams[0].sample_rate == 48000 and info.audio_streams[0].channels == 2
    audio, sr = extract_audio(clip_audio)
    assert sr == 48000 and audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert abs(audio.shape[0] - 2 * 48000) <= 2048  # AAC frames pad the end
    spectrum = np.abs(np.fft.rfft(audio[4096 : 4096 + 48000, 0]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)
    assert 0.4 < np.abs(audio).max() < 0.6


def test_over_60_seconds(media_dir: Path) -> None:
    path = make_video(media_dir / "long.mp4", 124, fps=2, size=(80, 48), gop=50)
    info = probe(path)
    assert info.duration_s == pytest.approx(62.0) and info.frame_count == 124
    with VideoReader(path) as reader:
        assert read_index(reader.frame_at_time(61.7).image) == 123


def test_rotated_phone_video_matches_ffmpeg(media_dir: Path, clip_h264: Path) -> None:
    path = rotated_copy(clip_h264, media_dir / "phone.mp4", 90)
    info = probe(path)
    assert info.rotation in (90, 270)
    assert info.display_size == (48, 80) and info.to_json_dict()["rotation"] == info.rotation
    raw = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "2",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(2, 80, 48, 3)[1].astype(int)  # frame 1: one stripe
    with VideoReader(path) as reader:
        image = reader.frame_at_index(1).image
    assert image.shape == (80, 48, 3)
    assert np.abs(image.astype(int) - reference).mean() < 8  # same orientation as ffmpeg's autorotate
    assert np.abs(np.rot90(image, 2).astype(int) - reference).mean() > 40


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_file(media_dir: Path, clip_h264: Path, fraction: float) -> None:
    path = truncated_copy(clip_h264, media_dir / f"trunc_{fraction}.mp4", fraction)
    with pytest.raises(VideoFileError) as err:
        probe(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_faststart_file_detected(media_dir: Path, clip_h264: Path) -> None:
    fast = faststart_copy(clip_h264, media_dir / "fast.mp4")
    path = truncated_copy(fast, media_dir / "fast_trunc.mp4", 0.6)
    with pytest.raises(VideoFileError, match="truncated"):
        probe(path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoFileError, match="cannot be opened"):
        probe(path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoFileError, match="empty"):
        VideoReader(empty)


def test_audio_only_file_given_as_video(tmp_path: Path) -> None:
    path = make_audio_only(tmp_path / "sound.m4a")
    with pytest.raises(VideoFileError, match="audio-only"):
        probe(path)


def test_edit_list_trim_shows_only_the_kept_frames(media_dir: Path) -> None:
    from tests.video.video_factory import ffmpeg

    src = make_video(media_dir / "src25.mp4", 50, fps=25, gop=25)
    trimmed = media_dir / "trimmed.mp4"
    ffmpeg(
        "-ss", "0.4", "-i", str(src), "-c", "copy", str(trimmed)
    )  # edit list; packets before 0.4 s discarded
    with VideoReader(trimmed) as reader:
        assert reader.info.frame_count == 40  # as ffprobe -count_frames reports
        assert [read_index(f.image) for f in reader.iter_frames()] == list(range(10, 50))
        assert read_index(reader.frame_at_index(0).image) == 10
        assert read_index(reader.frame_at_index(39).image) == 49
        assert reader.frame_at_index(0).pts_s == 0.0


def test_still_image_given_as_video(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(VideoFileError, match="still image"):
        probe(path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(VideoFileError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")
