from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.video.video_factory import rotated_copy
from triergon_studio.errors import ExportError
from triergon_studio.video.audio_track import extract_audio
from triergon_studio.video.mux import mux_review
from triergon_studio.video.probe import probe


def _packets(path: Path) -> list[tuple[str, str, str, str]]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "sha256",
            "-show_entries",
            "packet=pts_time,dts_time,size,data_hash",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        (f"{float(p['pts_time']):.6f}", f"{float(p['dts_time']):.6f}", p["size"], p["data_hash"])
        for p in json.loads(out)["packets"]
    ]


def _tone(n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * 1000 * t), 0.3 * np.sin(2 * np.pi * 500 * t)], 1).astype(
        np.float32
    )


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_real_file_packets_unchanged(tmp_path: Path, shared_media: Path, container: str) -> None:
    src = shared_media / "car-detection.mp4"
    info = probe(src)
    n = round(info.duration_s * 48000)
    out = mux_review(src, _tone(n, 48000), 48000, tmp_path / f"review.{container}", container)
    assert _packets(out) == _packets(src)
    review = probe(out)
    assert review.fps == info.fps and review.frame_count == info.frame_count
    assert len(review.audio_streams) == 1
    assert review.audio_streams[0].codec == ("aac" if container == "mp4" else "pcm_s24le")
    audio, sr = extract_audio(out)
    assert sr == 48000 and audio.shape[1] == 2
    spec_l = np.abs(np.fft.rfft(audio[48000:96000, 0]))
    spec_r = np.abs(np.fft.rfft(audio[48000:96000, 1]))
    assert np.argmax(spec_l) == 1000 and np.argmax(spec_r) == 500  # channels kept in order
    if container == "mov":  # PCM: the samples come back exactly (24-bit)
        assert np.allclose(audio[:n], _tone(n, 48000), atol=2e-7)


def test_rotation_survives_the_copy(tmp_path: Path, clip_h264: Path) -> None:
    phone = rotated_copy(clip_h264, tmp_path / "phone.mp4", 90)
    out = mux_review(phone, np.zeros((48000, 2), np.float32), 48000, tmp_path / "r.mp4")
    assert probe(out).rotation == probe(phone).rotation != 0
    assert _packets(out) == _packets(phone)


def test_mono_and_bad_container(tmp_path: Path, clip_h264: Path) -> None:
    out = mux_review(clip_h264, np.zeros(4800, np.float32), 48000, tmp_path / "m.mov", "mov")
    assert probe(out).audio_streams[0].channels == 1
    with pytest.raises(ExportError, match="mkv"):
        mux_review(clip_h264, np.zeros((10, 2), np.float32), 48000, tmp_path / "x.mkv", "mkv")
    with pytest.raises(ExportError, match="channels"):
        mux_review(clip_h264, np.zeros((10, 6), np.float32), 48000, tmp_path / "x.mp4")
