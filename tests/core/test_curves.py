"""LoudnessCurve: normalised form, resampling, edits and the shared JSON format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triergon_studio.core.curves import (
    CURVE_RATE_HZ,
    LUFS_FLOOR,
    CurveSource,
    LoudnessCurve,
    frame_count,
)
from triergon_studio.errors import ProjectError


def _curve(duration: float = 2.0) -> LoudnessCurve:
    n = frame_count(duration)
    left = np.linspace(-60, -10, n)
    right = np.linspace(-20, -40, n)
    return LoudnessCurve(left, right, duration, source=CurveSource.MEASURED)


def test_frame_count_and_times() -> None:
    assert frame_count(60.0) == 360
    assert frame_count(10.05) == 61  # partial last window counts
    c = _curve(2.0)
    assert c.n_frames == 12 and CURVE_RATE_HZ == 6.0
    np.testing.assert_allclose(c.times()[:3], [0, 1 / 6, 2 / 6])


def test_normalized_round_trip_and_clipping() -> None:
    c = _curve()
    norm = c.to_normalized()
    assert norm.shape == (2, c.n_frames)
    np.testing.assert_allclose(norm[0], (c.left + 70) / 70)
    back = LoudnessCurve.from_normalized(norm, c.duration_s, CurveSource.PREDICTED)
    np.testing.assert_allclose(back.left, c.left)
    assert back.source is CurveSource.PREDICTED
    loud = LoudnessCurve(np.array([-80.0, 5.0]), np.array([-70.0, 0.0]), 1 / 3)
    np.testing.assert_allclose(loud.to_normalized(), [[0.0, 1.0], [0.0, 1.0]])


def test_resample_to_latent_rate() -> None:
    c = _curve(10.0)
    latent = 44100 / 2048
    r = c.resample(latent)
    assert r.shape == (2, int(np.ceil(10.0 * latent)))
    # A linear ramp stays on the same line at the new frame centres (inside the source centres).
    t = (np.arange(r.shape[1]) + 0.5) / latent
    src_t = (np.arange(c.n_frames) + 0.5) / 6
    inside = (t >= src_t[0]) & (t <= src_t[-1])
    expect = np.interp(t[inside], src_t, c.left)
    np.testing.assert_allclose(r[0, inside], expect)
    assert r[0, 0] == c.left[0]  # held at the edge
    assert c.resample(6.0).shape == (2, c.n_frames)
    np.testing.assert_allclose(c.resample(6.0), c.as_array())


def test_smoothed_offset_copy_with_values() -> None:
    c = LoudnessCurve(np.array([-30.0, -30, -10, -30, -30]), np.full(5, -40.0), 5 / 6)
    s = c.smoothed(0.5)  # 3 frames
    np.testing.assert_allclose(s.left, [-30, -70 / 3, -70 / 3, -70 / 3, -30])
    assert c.left[2] == -10  # original untouched
    o = c.offset_db(-6, channel="right", start=1 / 6, end=3 / 6)
    np.testing.assert_allclose(o.right, [-40, -46, -46, -40, -40])
    np.testing.assert_allclose(o.left, c.left)
    floor = c.offset_db(-100)
    assert floor.left.min() == LUFS_FLOOR
    cp = c.copy_left_to_right()
    np.testing.assert_allclose(cp.right, c.left)
    w = c.with_values("left", 3, [-1.0, -2.0, -3.0])  # last value falls off the end
    np.testing.assert_allclose(w.left, [-30, -30, -10, -1, -2])
    with pytest.raises(ValueError):
        c.with_values("middle", 0, [1.0])


def test_json_format_and_round_trip(tmp_path: Path) -> None:
    c = _curve(1.5)
    path = tmp_path / "c.json"
    c.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "triergon-curves" and data["version"] == 1
    assert data["rate_hz"] == 6.0 and data["duration_s"] == 1.5 and data["source"] == "measured"
    assert len(data["left"]) == 9
    back = LoudnessCurve.load(path)
    np.testing.assert_allclose(back.left, c.left, atol=1e-4)
    np.testing.assert_allclose(back.right, c.right, atol=1e-4)
    assert back.source is CurveSource.MEASURED
    # -inf (digital silence) is stored at the floor, never as invalid JSON
    silent = LoudnessCurve(np.array([-np.inf]), np.array([-np.inf]), 1 / 6)
    assert silent.to_json()["left"] == [LUFS_FLOOR]
    # dict without source defaults to drawn
    d = dict(data)
    del d["source"]
    assert LoudnessCurve.from_json(d).source is CurveSource.DRAWN


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d.update(format="other"), "not a triergon-curves"),
        (lambda d: d.update(version=2), "newer"),
        (lambda d: d.pop("duration_s"), "missing field"),
        (lambda d: d.update(left=d["left"][:3]), "frames"),
        (lambda d: d.update(left=["x"] * len(d["left"])), "could not convert"),
    ],
)
def test_invalid_json_is_project_error(mutate, fragment: str) -> None:
    data = _curve(1.5).to_json()
    mutate(data)
    with pytest.raises(ProjectError, match=fragment):
        LoudnessCurve.from_json(data)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not found"):
        LoudnessCurve.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ProjectError, match="bad.json"):
        LoudnessCurve.load(bad)
    nan = tmp_path / "nan.json"
    d = _curve(1 / 3).to_json()
    nan.write_text(json.dumps(d).replace("-60.0", "NaN", 1))
    with pytest.raises(ProjectError, match="finite"):
        LoudnessCurve.load(nan)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(-90.0, 10.0, allow_nan=False), min_size=1, max_size=400),
    source=st.sampled_from(list(CurveSource)),
)
def test_property_json_round_trip(values: list[float], source: CurveSource) -> None:
    left = np.asarray(values)
    curve = LoudnessCurve(left, left[::-1].copy(), len(values) / 6.0, source=source)
    back = LoudnessCurve.from_json(json.loads(json.dumps(curve.to_json())))
    np.testing.assert_allclose(back.left, np.maximum(left, LUFS_FLOOR), atol=1e-4)
    assert back.n_frames == curve.n_frames and back.source is source
    norm = curve.to_normalized()
    assert norm.min() >= 0.0 and norm.max() <= 1.0
