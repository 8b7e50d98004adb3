"""``triergon-studio predict-lufs`` end to end on a real video, through a subprocess."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_predict_lufs_writes_curves(shared_media: Path, tmp_path: Path) -> None:
    from triergon_studio.video.probe import probe

    video = shared_media / "car-detection.mp4"
    out = tmp_path / "curves.json"
    res = _run("predict-lufs", str(video), "-o", str(out), "--model", "tiny-random", "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["format"] == "triergon-curves" and data["version"] == 1
    assert data["rate_hz"] == 6.0 and data["source"] == "predicted"
    duration = probe(video).duration_s
    assert data["duration_s"] == duration
    assert len(data["left"]) == len(data["right"]) == math.ceil(duration * 6 - 1e-9)
    values = data["left"] + data["right"]
    assert all(-70.0 <= v <= 0.0 for v in values)
    assert len(set(values)) > 10  # the picture drives the prediction: not a constant

    # an existing output is never overwritten silently
    again = _run("predict-lufs", str(video), "-o", str(out), "--model", "tiny-random", "--device", "cpu")
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(out.read_text()) == data


def test_predict_lufs_bad_input_is_one_line(tmp_path: Path) -> None:
    res = _run(
        "predict-lufs",
        str(tmp_path / "missing.mp4"),
        "-o",
        str(tmp_path / "c.json"),
        "--model",
        "tiny-random",
    )
    assert res.returncode == 2
    assert res.stderr.startswith("error:") and "missing.mp4" in res.stderr and "Traceback" not in res.stderr


def test_predict_lufs_unknown_model_is_one_line(shared_media: Path, tmp_path: Path) -> None:
    res = _run(
        "predict-lufs",
        str(shared_media / "car-detection.mp4"),
        "-o",
        str(tmp_path / "c.json"),
        "--model",
        "no-such-model",
    )
    assert res.returncode == 2 and res.stderr.startswith("error:") and "no-such-model" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "c.json").exists()
