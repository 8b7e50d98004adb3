"""Curves from motion (issue 13): moving things are loud on their side; stills, cuts and pans are not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from triergon_studio.core.curves import LoudnessCurve
from triergon_studio.errors import StudioError, VideoFileError
from triergon_studio.video.motion import MotionSettings, analyse_motion, energy_to_lufs, predict_motion_job

W, H, FPS = 192, 108, 12


def _texture(seed: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 6 + 1, w // 6 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 6, 0), 6, 1)[:h, :w]


def _write(path: Path, frames: list[np.ndarray]) -> Path:
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=FPS)
    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
    s.codec_context.options = {"preset": "ultrafast", "crf": "12"}
    for f in frames:
        for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    return path


def _ball_video(path: Path, seconds: float = 4.0, cut_at: float | None = None, pan: bool = False) -> Path:
    """A grey background; a textured square bouncing on the LEFT half during the second half of the clip.
    ``cut_at`` switches to a different background; ``pan`` scrolls the whole picture instead."""
    bg1, bg2 = _texture(1, W * 2, H), _texture(2, W * 2, H)
    sq = _texture(3, 24, 24)
    frames = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        bg = bg2 if cut_at is not None and t >= cut_at else bg1
        x0 = int(6 * i) % W if pan else 0
        img = bg[:, x0 : x0 + W].copy()
        if not pan and t >= seconds / 2:
            x = 10 + int(60 * abs(np.sin(2 * np.pi * 0.7 * t)))
            y = 20 + int(50 * abs(np.sin(2 * np.pi * 1.3 * t)))
            img[y : y + 24, x : x + 24] = sq
        frames.append(img)
    return _write(path, frames)


def test_motion_on_the_left_is_loud_on_the_left(tmp_path: Path) -> None:
    r = analyse_motion(_ball_video(tmp_path / "ball.mp4"))
    c = r.curve
    assert c.n_frames == 24 and abs(c.duration_s - 4.0) < 1e-6
    half = c.n_frames // 2
    assert c.left[half + 2 :].mean() > c.left[: half - 1].mean() + 15
    assert c.left[half + 2 :].mean() > c.right[half + 2 :].mean() + 10
    assert c.left.min() >= -60.0 - 1e-9 and c.left.max() <= -18.0 + 1e-9
    assert "curves from motion" in r.status and not r.cuts_s


def test_a_cut_is_left_out(tmp_path: Path) -> None:
    r = analyse_motion(_ball_video(tmp_path / "cut.mp4", cut_at=1.0))
    assert r.cuts_s and abs(r.cuts_s[0] - 1.0) <= 1 / 6 + 1e-6
    k = int(round(r.cuts_s[0] * 6))
    assert r.curve.left[k] < -50 and r.curve.right[k] < -50  # no loud event at the cut
    assert "cut" in r.status


def test_a_pan_is_not_an_event(tmp_path: Path) -> None:
    r = analyse_motion(_ball_video(tmp_path / "pan.mp4", pan=True))
    assert r.pan_s
    assert np.all(r.curve.left == -60.0) and np.all(r.curve.right == -60.0)
    assert "no motion" in r.status


def test_a_still_video_gives_a_flat_curve_and_a_status(tmp_path: Path) -> None:
    img = _texture(5, W, H)
    r = analyse_motion(_write(tmp_path / "still.mp4", [img] * (2 * FPS)), MotionSettings(floor_lufs=-55.0))
    assert np.all(r.curve.left == -55.0) and np.all(r.curve.right == -55.0)
    assert "no motion" in r.status and "-55" in r.status


def test_mapping_uses_the_users_range_and_smoothing() -> None:
    e = np.zeros((2, 30))
    e[0, 10] = 0.05
    lufs, still = energy_to_lufs(e, MotionSettings(floor_lufs=-50, ceiling_lufs=-10, smoothing_s=0))
    assert not still and lufs[0, 10] == pytest.approx(-10) and lufs[1].max() == -50
    smooth, _ = energy_to_lufs(e, MotionSettings(floor_lufs=-50, ceiling_lufs=-10, smoothing_s=0.5))
    assert smooth[0, 10] < -10 and smooth[0, 9] > -50
    with pytest.raises(StudioError):
        MotionSettings(floor_lufs=-10, ceiling_lufs=-20)


def test_job_function_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(VideoFileError, match="not found"):
        predict_motion_job(str(tmp_path / "missing.mp4"))
    calls: list[tuple[int, int]] = []
    r = predict_motion_job(
        str(_ball_video(tmp_path / "b.mp4", seconds=2.0)),
        {"ceiling_lufs": -20.0},
        progress=lambda d, t: calls.append((d, t)),
    )
    assert isinstance(r.curve, LoudnessCurve) and calls and calls[-1][0] == calls[-1][1]


def test_cli_predict_lufs_motion(tmp_path: Path) -> None:
    video = _ball_video(tmp_path / "v.mp4", seconds=2.0)
    out = tmp_path / "c.json"
    cmd = [
        sys.executable,
        "-m",
        "triergon_studio",
        "predict-lufs",
        str(video),
        "--method",
        "motion",
        "--floor",
        "-50",
        "-o",
        str(out),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    curve = LoudnessCurve.load(out)
    assert curve.n_frames == 12 and curve.left.min() >= -50
    p = subprocess.run(
        cmd[:-2] + ["--ceiling", "-60", "-o", str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
