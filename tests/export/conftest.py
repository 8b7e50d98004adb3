from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.video.video_factory import make_video  # noqa: E402,F401
from triergon_studio.core.model import Take  # noqa: E402
from triergon_studio.core.project import Project  # noqa: E402
from triergon_studio.video.project_video import new_project  # noqa: E402

CLICK_AT = 1000  # sample of the click inside each take (at the take's own rate)


@pytest.fixture(scope="session")
def export_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("export_media") / "cut.mp4", 75, fps=Fraction(30000, 1001))


def write_click(path: Path, sr: int = 44100, seconds: float = 0.5, amp: float = 0.5) -> Path:
    audio = np.zeros((int(sr * seconds), 2), np.float32)
    audio[CLICK_AT] = amp
    audio[:, :] += (0.05 * np.sin(2 * np.pi * 220 * np.arange(len(audio)) / sr))[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, subtype="FLOAT")
    return path


def add_click_take(project: Project, name: str, lane: str, offset_s: float, sr: int = 44100) -> Take:
    path = write_click(project.new_take_path(name), sr)
    take = Take(
        id=f"id_{name}",
        name=name,
        path=path.relative_to(project.folder).as_posix(),
        duration_s=0.5,
        sample_rate=sr,
        source="imported",
    )
    project.add_take(take, lane=lane, offset_s=offset_s)
    return take


@pytest.fixture
def project(tmp_path: Path, export_video: Path) -> Project:
    p = new_project(export_video, tmp_path / "proj" / "reel1.json")
    p.folder.mkdir(parents=True, exist_ok=True)
    add_click_take(p, "door", "FOLEY", 0.5)
    add_click_take(p, "whoosh", "FX", 1.0, sr=48000)
    add_click_take(p, "late", "BG", 2.3)  # runs past the picture's end: trimmed
    add_click_take(p, "early", "BG", -0.2)  # starts before the first frame: head trimmed
    p.save()
    return p
