"""The media CLI, run as a user would: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from tests.export.conftest import write_click
from tests.video.video_factory import make_audio_only, make_video, truncated_copy

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
    )


def test_probe_real_file(shared_media: Path) -> None:
    res = run("probe", str(shared_media / "bottle-detection.mp4"))
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert (d["fps_num"], d["fps_den"], d["frame_count"]) == (179, 6, 1189)
    assert d["fps"] == pytest.approx(29.8333, abs=1e-4) and d["duration_s"] == pytest.approx(
        39.8547, abs=1e-4
    )
    assert (d["width"], d["height"], d["rotation"], d["has_audio"]) == (640, 360, 0, False)
    assert d["audio_sample_rate"] is None and d["audio_channels"] is None


def test_probe_failures_exit_2_with_one_line(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 30, fps=25)
    bad = {
        "missing": tmp_path / "nope.mp4",
        "truncated": truncated_copy(video, tmp_path / "t.mp4", 0.5),
        "corrupt": tmp_path / "c.mp4",
        "audio-only": make_audio_only(tmp_path / "a.m4a"),
    }
    bad["corrupt"].write_bytes(os.urandom(20000))
    for kind, path in bad.items():
        res = run("probe", str(path))
        assert res.returncode == 2, (kind, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], (
            kind,
            res.stderr,
        )
        assert "Traceback" not in res.stderr


def test_new_add_take_export(tmp_path: Path) -> None:
    video = make_video(tmp_path / "cut.mp4", 50, fps=Fraction(24000, 1001))
    project = tmp_path / "show" / "show.json"
    res = run("new", str(video), "-o", str(project), "--start-timecode", "01:00:00:00")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["lanes"] == ["FOLEY", "FX", "BG"]
    assert run("new", str(video), "-o", str(project)).returncode == 2  # no silent overwrite
    click = write_click(tmp_path / "lib" / "door.wav", sr=44100)
    res = run("add-take", str(project), str(click), "--lane", "FX", "--at", "0.75")
    assert res.returncode == 0, res.stderr
    take = json.loads(res.stdout)
    assert (project.parent / take["file"]).is_file() and take["file"].startswith("takes/")
    doc = json.loads(project.read_text())
    assert doc["lanes"][1]["items"][0]["offset_s"] == 0.75 and doc["takes"][0]["source"] == "imported"
    res = run("add-take", str(project), str(click), "--lane", "NOPE")
    assert res.returncode == 2 and "NOPE" in res.stderr
    out = tmp_path / "deliver"
    res = run(
        "export",
        str(project),
        "-o",
        str(out),
        "--sample-rate",
        "48000",
        "--bits",
        "32f",
        "--mux",
        "mov",
        "--reaper",
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["picture_samples"] == round(50 * 48000 * Fraction(1001, 24000)) == 100100
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "show.rpp",
        "show_BG.wav",
        "show_FOLEY.wav",
        "show_FX.wav",
        "show_MIX.wav",
        "show_export.json",
        "show_review.mov",
    ]
    res = run("export", str(project), "-o", str(out))
    assert res.returncode == 2 and "--force" in res.stderr
    assert run("export", str(project), "-o", str(out), "--force").returncode == 0


def test_open_corrupt_project_exits_2(tmp_path: Path) -> None:
    project = tmp_path / "p.json"
    project.write_text("{not json")
    res = run("export", str(project), "-o", str(tmp_path / "out"))
    assert res.returncode == 2 and "not valid JSON" in res.stderr and "Traceback" not in res.stderr
    assert project.read_text() == "{not json"
