"""``tools/t_lufs_floor.py``: the spread of equally valid sound tracks of one picture (a bound under T_LUFS)."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from tests.script_module import load_script


def _tool() -> ModuleType:
    return load_script("tools/t_lufs_floor.py")


def test_audible_median_takes_the_median_of_the_audible_outcomes_only() -> None:
    tracks = np.array([[[-30.0, -70.0, -65.0]], [[-20.0, -50.0, -70.0]], [[-70.0, -40.0, -61.0]]])
    got = _tool().audible_median(tracks, -60.0)
    np.testing.assert_allclose(got, [[-25.0, -45.0, -60.0]])  # none audible in the last frame: the threshold


def test_the_floor_is_measured_on_redrawn_tracks_of_the_same_pictures() -> None:
    out = _tool().measure("dev", clips=2, redraws=3)
    assert out["clips"] == 2 and out["redraws_per_clip"] == 3
    # re-drawn tracks differ (the draws change the level), and a guess from several beats one other track
    assert 0.0 < out["floor_mae_lu"] < out["two_track_mae_lu"]
    shares = (
        out["two_track_frames_above_-40_lufs"]["share"] + out["two_track_frames_-60_to_-40_lufs"]["share"]
    )
    assert abs(shares - 1.0) < 1e-6
