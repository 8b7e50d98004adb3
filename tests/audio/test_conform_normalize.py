"""Conform to a curve (accuracy, slew, unmet frames) and normalise with the true-peak limiter."""

from __future__ import annotations

import numpy as np
import pytest

from triergon_studio.audio import loudness as ld
from triergon_studio.audio.conform import conform_to_curve, gain_envelope
from triergon_studio.audio.limiter import _gain_curve, limit_true_peak
from triergon_studio.audio.normalize import PRESETS, SilentAudioError, normalize, resolve_target
from triergon_studio.core.curves import LoudnessCurve

SR = 44100


def _source(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # footsteps-like bursts on a quiet bed, different per channel
    steps = np.exp(-((t % 0.45) * 14))
    x = rng.standard_normal((n, 2)) * (0.01 + 0.2 * steps)[:, None] * np.array([1.0, 0.7])
    x += 0.02 * np.sin(2 * np.pi * 180 * t)[:, None]
    return x


def test_conform_follows_target_within_half_lu() -> None:
    seconds = 8.0
    x = _source(seconds)
    x[int(5.0 * SR) : int(5.5 * SR)] = 0.0  # silent gap: cannot be conformed
    frames = 48
    k = np.arange(frames)
    left = -28 + 8 * np.sin(2 * np.pi * k / 17)
    right = np.where((k // 6) % 2 == 0, -22.0, -38.0)  # square steps every second
    curve = LoudnessCurve(left, right, seconds)
    res = conform_to_curve(x, SR, curve)
    measured = ld.channel_curves(res.audio, SR)
    np.testing.assert_allclose(measured, res.measured, atol=1e-3)  # report matches the audio
    err = np.abs(measured - res.target)
    assert res.mae_lu <= 0.5
    assert err[res.conformable].mean() <= 0.5
    print(f"conform MAE {res.mae_lu:.4f} LU over {int(res.conformable.sum())} frames")
    # the silent gap frames are reported unmet and not pumped up
    gap = slice(30, 33)
    assert res.unmet_frames[:, gap].all()
    assert np.abs(res.audio[int(5.05 * SR) : int(5.45 * SR)]).max() == 0.0
    assert res.audio.dtype == np.float32 and res.audio.shape == x.shape


def test_conform_reports_frames_beyond_max_gain() -> None:
    seconds = 4.0
    x = _source(seconds, seed=1)
    x[: 2 * SR] *= 10 ** (-40 / 20)  # first two seconds ~ -55 LUFS: reaching -20 needs ~35 dB
    curve = LoudnessCurve.constant(-20.0, seconds)
    res = conform_to_curve(x, SR, curve, max_gain_db=24.0)
    assert res.gain_db.max() <= 24.0 + 1e-9
    assert res.unmet_frames[:, :11].all()  # frames that would need more than +24 dB
    assert not res.unmet_frames[:, 13:].any()
    assert not res.conformable[:, :11].any()
    assert res.mae_lu <= 0.5


def _noise_at(lufs: list[float], seconds_each: float, seed: int) -> np.ndarray:
    """Stereo noise in equal sections, each channel of each section at the given momentary level."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds_each * SR), 2))
    x *= 10 ** ((-20.0 - ld.channel_curves(x, SR).mean(axis=1)) / 20)  # -20 LUFS per channel, well measurable
    return np.concatenate([x * 10 ** ((level + 20.0) / 20) for level in lufs])


def test_quiet_tail_above_the_floor_is_conformed() -> None:
    # the middle second is quiet (-65 LUFS) but measurable; the drawn curve asks for -50 there
    x = _noise_at([-30.0, -65.0, -30.0], 2.0, seed=4)
    frames = 36
    target = np.full(frames, -30.0)
    target[12:24] = -50.0
    res = conform_to_curve(x, SR, LoudnessCurve(target, target, 6.0))
    middle = slice(14, 22)
    assert res.conformable[:, middle].all() and not res.unmet_frames[:, middle].any()
    np.testing.assert_allclose(res.measured[:, middle], -50.0, atol=0.5)


def test_held_gain_stays_between_zero_and_the_frames_own_need() -> None:
    # the middle section is under the meter's floor (-75 LUFS): no signal to conform, its gain is held
    x = _noise_at([-45.0, -75.0, -45.0], 2.0, seed=5)
    frames = 36
    middle = slice(15, 21)
    # neighbours boosted 20 dB, the middle drawn silent: the boost must not lift it into sound
    drawn_silent = np.full(frames, -25.0)
    drawn_silent[12:24] = -70.0
    res = conform_to_curve(x, SR, LoudnessCurve(drawn_silent, drawn_silent, 6.0))
    assert res.gain_db[:, 3:9].min() > 15.0  # the neighbours really were boosted
    assert np.all(res.gain_db[:, middle] == 0.0)
    assert np.all(res.measured[:, middle] <= -60.0)
    # neighbours cut 10 dB, the middle drawn louder than it is: the cut must not push it further down
    drawn_louder = np.full(frames, -55.0)
    drawn_louder[12:24] = -65.0
    res = conform_to_curve(x, SR, LoudnessCurve(drawn_louder, drawn_louder, 6.0))
    assert res.gain_db[:, 3:9].max() < -5.0
    assert np.all(res.gain_db[:, middle] >= 0.0) and np.all(res.gain_db[:, middle] <= 5.0 + 1e-9)


def test_gain_slew_is_bounded_no_clicks() -> None:
    seconds = 3.0
    x = _source(seconds, seed=2)
    # a 30 dB jump between adjacent frames on the left
    left = np.where(np.arange(18) < 9, -45.0, -15.0)
    curve = LoudnessCurve(left, np.full(18, -30.0), seconds)
    res = conform_to_curve(x, SR, curve, ramp_s=0.02)
    env = gain_envelope(res.gain_db, x.shape[0], SR, ramp_s=0.02)
    ramp = round(0.02 * SR)
    step = np.abs(np.diff(env, axis=1)).max()
    frame_jump = np.abs(np.diff(res.gain_db, axis=1)).max()
    assert step <= frame_jump / ramp + 1e-9
    assert step < 0.1  # dB per sample: a ramp, never a click
    # the applied gain really is that envelope
    nz = np.abs(x[:, 0]) > 1e-3
    applied = 20 * np.log10(np.abs(res.audio[nz, 0] / x[nz, 0]))
    np.testing.assert_allclose(applied, env[0][nz], atol=1e-3)


def test_conform_with_shorter_curve_and_mono() -> None:
    x = _source(2.0, seed=3)[:, :1]
    curve = LoudnessCurve.constant(-25.0, 1.5)  # 9 frames for a 12-frame source: last value held
    res = conform_to_curve(x, SR, curve)
    assert res.audio.shape == x.shape and res.target.shape == (1, 12)
    assert res.mae_lu <= 0.5


# ------------------------------------------------------------------------------------------ normalise
@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_reach_target_under_ceiling(preset: str) -> None:
    lufs, ceiling = PRESETS[preset]
    x = _source(6.0, seed=4)
    res = normalize(x, SR, lufs, ceiling)
    got_i = ld.integrated_loudness(res.audio, SR)
    got_tp = float(ld.true_peak_dbtp(res.audio).max())
    assert abs(got_i - lufs) <= 0.1, (preset, got_i)
    assert got_tp <= ceiling + 1e-3, (preset, got_tp)
    assert res.output_lufs == pytest.approx(got_i, abs=1e-3)
    print(f"{preset}: limited={res.limited} I={got_i:.3f} TP={got_tp:.3f}")


def test_limiter_engages_and_is_reported() -> None:
    x = _source(6.0, seed=5)
    x[SR // 2 :: SR] += 0.9  # sharp clicks that would overshoot after the gain
    res = normalize(x, SR, -14.0, -1.0)
    assert res.limited and res.max_gain_reduction_db > 1.0
    assert float(ld.true_peak_dbtp(res.audio).max()) <= -1.0 + 1e-3
    assert abs(ld.integrated_loudness(res.audio, SR) - (-14.0)) <= 0.1
    quiet = normalize(x, SR, -30.0, -1.0)
    assert not quiet.limited and quiet.max_gain_reduction_db == 0.0
    np.testing.assert_allclose(quiet.audio, x * 10 ** (quiet.gain_db / 20), atol=1e-6)


def test_limiter_looks_ahead_and_never_exceeds_requirement() -> None:
    req = np.ones(400)
    req[200] = 0.25
    req[300] = 0.5
    g = _gain_curve(req, lookahead=20, hold=10)
    assert np.all(g <= req + 1e-12)
    assert g[179] == pytest.approx(1.0) and g[181] < 1.0  # starts 20 samples ahead
    assert g[200] == pytest.approx(0.25) and g[210] == pytest.approx(0.25)  # holds
    assert np.all(np.abs(np.diff(g)) <= 0.75 / 20 + 1e-12)  # linear ramps, no steps
    x = np.zeros((SR, 2))
    x[1000, 0] = 1.0
    x[1001, 1] = -0.8
    res = limit_true_peak(x, SR, -6.0)
    assert res.true_peak_dbtp <= -6.0 + 1e-9
    np.testing.assert_allclose(
        res.audio[:, 0] / np.where(x[:, 0] == 0, 1, x[:, 0]), np.where(x[:, 0] == 0, 0, res.gain), atol=1e-12
    )


def test_resolve_target() -> None:
    assert resolve_target("r128") == (-23.0, -1.0)
    assert resolve_target("A85") == (-24.0, -2.0)
    assert resolve_target("-18") == (-18.0, -1.0)
    assert resolve_target("stream", true_peak=-2.0) == (-14.0, -2.0)
    for bad in ("loud", "5", "-80"):
        with pytest.raises(ValueError):
            resolve_target(bad)


def test_silent_audio_cannot_be_normalised() -> None:
    with pytest.raises(SilentAudioError):
        normalize(np.zeros((SR, 2)), SR, -23.0, -1.0)
