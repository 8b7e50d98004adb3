"""Shared media for the issue-15 reliability tests: a tiny video, a project with takes on three lanes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli_helpers import make_video, ok


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rel")
    make_video(d / "clip.mp4", 2.0, fps=6)
    t = np.arange(44100) / 44100
    tone = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    sf.write(d / "tone.wav", np.stack([tone, tone], axis=1), 44100)
    ok("new", d / "clip.mp4", "-o", d / "proj.json")
    ok("add-take", d / "proj.json", d / "tone.wav", "--lane", "FOLEY", "--at", "0.2")
    ok("add-take", d / "proj.json", d / "tone.wav", "--lane", "FX", "--at", "0.5")
    return d


def project_doc(media: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((media / "proj.json").read_text())


def write_project(media: Path, name: str, doc: dict) -> Path:  # type: ignore[type-arg]
    path = media / name
    path.write_text(json.dumps(doc))
    return path
