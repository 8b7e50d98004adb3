"""resources/make_demo.py: the demo picture has its sound events where the project's markers say."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.script_module import load_script
from triergon_studio.core.project import Project
from triergon_studio.video.reader import VideoReader


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    module = load_script("resources/make_demo.py")
    out = tmp_path_factory.mktemp("demo")
    assert module.main(["--ensure", "--out", str(out)]) == 0
    return module, out


def _ball_bottom(image: np.ndarray) -> int:
    red = (image[..., 0] > 180) & (image[..., 1] < 110) & (image[..., 2] < 110)
    red[:, 500:] = False  # the ball stays in the left part of the picture
    rows = np.nonzero(red.any(axis=1))[0]
    return int(rows.max())


def test_demo_video_and_project(demo: tuple[object, Path]) -> None:
    module, out = demo
    project_path = out / "demo_project.json"
    assert (out / "demo.mp4").stat().st_size < 2_000_000
    project = Project.load(project_path)
    assert project.video_status() == "ok" and project.video.path == "demo.mp4"
    assert project.fps == Fraction(25) and project.frame_count == 300
    assert project.video.width == 1280 and project.video.height == 720
    names = [m.name for m in project.markers]
    assert "door slam" in names and sum(n.startswith("ball") for n in names) >= 4
    assert sum(n.startswith("footstep") for n in names) >= 5
    if project.curves is not None:
        assert project.curves.n_frames == 72
        slam = int(6.4 * 6)
        assert project.curves.left[slam] > project.curves.left[slam - 6] + 20


def test_ball_touches_the_floor_at_its_markers(demo: tuple[object, Path]) -> None:
    module, out = demo
    project = Project.load(out / "demo_project.json")
    bounces = [m.time_s for m in project.markers if m.name.startswith("ball")]
    with VideoReader(out / "demo.mp4") as reader:
        floor = module.FLOOR_Y
        for t in bounces[:3]:
            assert abs(_ball_bottom(reader.frame_at_time(t).image) - floor) < 6
        # half way between the first two bounces the ball is well above the floor
        mid = (bounces[0] + bounces[1]) / 2
        assert floor - _ball_bottom(reader.frame_at_time(mid).image) > 100


def test_door_is_shut_after_the_slam(demo: tuple[object, Path]) -> None:
    module, out = demo
    with VideoReader(out / "demo.mp4") as reader:
        before = reader.frame_at_time(5.0).image
        after = reader.frame_at_time(7.0).image
    doorway = (slice(300, 560), slice(module.Door.hinge_x + 40, module.Door.hinge_x + 180))
    assert before[doorway].mean() < 40  # the dark opening shows while the door is open
    assert after[doorway].mean() > 80  # the wooden leaf covers it once shut


def test_ensure_is_idempotent(demo: tuple[object, Path]) -> None:
    module, out = demo
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert module.main(["--ensure", "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    json.loads((out / "demo_project.json").read_text())
