from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.video.video_factory import make_video


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video_media")


@pytest.fixture(scope="session")
def clip_h264(media_dir: Path) -> Path:
    """60 frames at 29.97 with B-frames and a 12-frame GOP (seeking must land on the right frame)."""
    return make_video(media_dir / "clip.mp4", 60, fps=Fraction(30000, 1001))


@pytest.fixture(scope="session")
def clip_audio(media_dir: Path) -> Path:
    return make_video(media_dir / "with_audio.mp4", 50, fps=25, audio=(48000, 2))
