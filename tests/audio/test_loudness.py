"""Loudness engine: filters, EBU Tech 3341/3342 cases, agreement with pyloudnorm, curves, true peak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly, sosfilt, sosfreqz

from triergon_studio.audio import loudness as ld
from triergon_studio.audio import truepeak as tpk
from triergon_studio.core.curves import LUFS_FLOOR, CurveSource

ITU_48K = np.array(
    [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)


def sine(level_dbfs: float, seconds: float, sr: int = 48000, freq: float = 1000.0) -> np.ndarray:
    n = int(round(seconds * sr))
    x = 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * np.arange(n) / sr)
    return np.stack([x, x], axis=1)


def seq(*parts: tuple[float, float], sr: int = 48000) -> np.ndarray:
    return np.concatenate([sine(db, s, sr) for db, s in parts])


# ------------------------------------------------------------------------------------------------ filters
def test_itu_coefficients_at_48k_match_published() -> None:
    np.testing.assert_allclose(ld.k_weighting_coeffs(48000, "itu"), ITU_48K, rtol=0, atol=1e-6)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_pyloudnorm_mode_matches_pyloudnorm_filters(sr: int) -> None:
    import pyloudnorm as pyln

    meter = pyln.Meter(sr)
    shelf, hp = meter._filters["high_shelf"], meter._filters["high_pass"]
    sos = ld.k_weighting_coeffs(sr, "pyloudnorm")
    np.testing.assert_allclose(sos[0], np.concatenate([shelf.b, shelf.a]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sos[1], np.concatenate([hp.b, hp.a]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sr", [22050, 32000, 44100, 88200, 96000, 192000])
def test_itu_design_has_the_same_response_at_any_rate(sr: int) -> None:
    freqs = np.array([20.0, 38.0, 100.0, 500.0, 1000.0, 1681.0, 3000.0, 6000.0, 9000.0])
    ref = 20 * np.log10(np.abs(sosfreqz(ITU_48K, worN=freqs, fs=48000)[1]))
    got = 20 * np.log10(np.abs(sosfreqz(ld.k_weighting_coeffs(sr), worN=freqs, fs=sr)[1]))
    # bilinear warping differs between rates only close to Nyquist
    tol = 0.05 if sr >= 44100 else 0.15
    np.testing.assert_allclose(got, ref, atol=tol)
    assert abs(got[4] - 0.69) < 0.05 and 3.5 < got[-1] < 4.2  # +0.69 dB at 1 kHz (why -0.691), +4 dB shelf


@pytest.mark.parametrize("mode", ["itu", "pyloudnorm"])
def test_single_pass_filter_equals_two_biquads(mode: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20000, 2))
    ref = sosfilt(ld.k_weighting_coeffs(44100, mode), x, axis=0).T
    got = ld.k_weighted(x, 44100, mode)
    assert np.abs(got - ref).max() < 1e-9 * np.abs(ref).max()


def test_bad_filter_name() -> None:
    with pytest.raises(ValueError, match="filter must be one of"):
        ld.k_weighting_coeffs(48000, "a-weighting")


# --------------------------------------------------------------------------------------- EBU Tech 3341
def _after(times: np.ndarray, values: np.ndarray, t0: float, t1: float | None = None) -> np.ndarray:
    keep = times >= t0 - 1e-9
    if t1 is not None:
        keep &= times <= t1 + 1e-9
    return values[keep]


@pytest.mark.parametrize("case, level", [(1, -23.0), (2, -33.0)])
def test_tech3341_cases_1_and_2(case: int, level: float) -> None:
    x = sine(level, 20.0)
    a = ld.analyze(x, 48000)
    m = _after(a.momentary_times, a.momentary, 0.4)
    s = _after(a.short_term_times, a.short_term, 3.0)
    assert np.abs(m - level).max() <= 0.1, case
    assert np.abs(s - level).max() <= 0.1, case
    assert abs(a.integrated_lufs - level) <= 0.1, case
    assert abs(ld.integrated_loudness(x, 48000) - a.integrated_lufs) < 1e-12


@pytest.mark.parametrize(
    "case, parts",
    [
        (3, [(-36, 10), (-23, 60), (-36, 10)]),
        (4, [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)]),
        (5, [(-26, 20), (-20, 20.1), (-26, 20)]),
    ],
)
def test_tech3341_gating_cases(case: int, parts: list[tuple[float, float]]) -> None:
    got = ld.integrated_loudness(seq(*parts), 48000)
    assert abs(got - (-23.0)) <= 0.1, (case, got)


def test_tech3341_case_9_short_term_constant() -> None:
    x = np.concatenate([seq((-20, 1.34), (-30, 1.66)) for _ in range(20)])
    times, st = ld.short_term_series(x, 48000)
    vals = _after(times, st, 3.0)
    assert vals.size > 500
    assert np.abs(vals - (-23.0)).max() <= 0.1


def test_tech3341_case_12_momentary_constant() -> None:
    x = np.concatenate([seq((-20, 0.18), (-30, 0.22)) for _ in range(25)])
    times, mom = ld.momentary_series(x, 48000)
    vals = _after(times, mom, 1.0)
    assert vals.size > 80
    assert np.abs(vals - (-23.0)).max() <= 0.1


@pytest.mark.parametrize(
    "parts, expected",
    [
        ([(-20, 20), (-30, 20)], 10.0),
        ([(-20, 20), (-15, 20)], 5.0),
        ([(-40, 20), (-20, 20)], 20.0),
        ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
    ],
)
def test_tech3342_loudness_range(parts: list[tuple[float, float]], expected: float) -> None:
    assert abs(ld.loudness_range(seq(*parts), 48000) - expected) <= 1.0


def test_series_timing_and_short_file() -> None:
    x = sine(-23, 1.0)
    times, mom = ld.momentary_series(x, 48000)
    np.testing.assert_allclose(times, np.arange(1, 11) * 0.1)
    # first window has 0.1 s of tone in 0.4 s: 10*log10(1/4) = -6.02 dB below
    assert mom[0] == pytest.approx(mom[5] - 10 * math.log10(4), abs=0.05)
    st_times, st = ld.short_term_series(x, 48000)
    assert st.size == 10 and np.isfinite(st).all()  # short files still get short-term values
    assert ld.loudness_range(x, 48000) == 0.0  # no complete 3 s window
    assert ld.integrated_loudness(np.zeros((48000, 2)), 48000) == -math.inf


# ------------------------------------------------------------------------------------ against pyloudnorm
def _signals(sr: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    t = np.arange(12 * sr) / sr
    bursts = rng.standard_normal((t.size, 2)) * 0.2 * ((t % 1.5) < 0.4)[:, None]
    tones = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 3000 * t)], 1)
    gaps = tones * ((t % 2.0) < 0.7)[:, None] + 1e-4 * rng.standard_normal((t.size, 2))
    sweep = 0.25 * np.sin(2 * np.pi * (30 * t + 600 * t**2))[:, None] * np.array([1.0, 0.5])
    out = {"bursts": bursts, "tones": tones, "gaps": gaps, "sweep": sweep}
    for k in range(4):
        n = int(rng.integers(2 * sr, 9 * sr))
        scale = 10 ** rng.uniform(-3, -0.5, size=2)
        env = np.repeat(10 ** rng.uniform(-2, 0, size=n // 2000 + 1), 2000)[:n, None]
        out[f"random{k}"] = rng.standard_normal((n, 2)) * scale * env
    out["mono"] = bursts[:, :1] + tones[:, :1]
    return out


@pytest.mark.parametrize("sr", [44100, 48000])
def test_integrated_matches_pyloudnorm(sr: int) -> None:
    import pyloudnorm as pyln

    meter = pyln.Meter(sr)
    worst = 0.0
    for name, x in _signals(sr).items():
        ref = meter.integrated_loudness(x)
        got = ld.integrated_loudness(x, sr, filter="pyloudnorm")
        worst = max(worst, abs(got - ref))
        assert abs(got - ref) <= 0.01, (name, got, ref)
    print(f"max |integrated - pyloudnorm| at {sr} Hz: {worst:.5f} LU")


def _pyloudnorm_blocks(x: np.ndarray, sr: int) -> np.ndarray:
    """pyloudnorm's own blockwise values for one channel: its Meter with 1/6 s blocks and no overlap."""
    import pyloudnorm as pyln

    meter = pyln.Meter(sr, block_size=1 / 6, overlap=0.0)
    meter.integrated_loudness(x)
    return np.asarray(meter.blockwise_loudness)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_curves_match_pyloudnorm_blockwise(sr: int) -> None:
    block = sr // 6
    worst = 0.0
    for name, x in _signals(sr).items():
        n = (x.shape[0] // block) * block  # whole blocks: pyloudnorm rounds partial ones its own way
        x = x[:n]
        curves = ld.channel_curves(x, sr, filter="pyloudnorm", floor=-np.inf)
        for c in range(x.shape[1]):
            ref = _pyloudnorm_blocks(x[:, c], sr)
            assert ref.size == curves.shape[1], name
            audible = ref > -70
            diff = np.abs(curves[c][audible] - ref[audible])
            worst = max(worst, float(diff.max()))
            assert diff.max() <= 0.01, (name, c, diff.max())
    print(f"max |block - pyloudnorm block| at {sr} Hz: {worst:.5f} LU")


# ------------------------------------------------------------------------------------------------ curves
def test_curves_per_channel_rate_and_floor() -> None:
    sr = 44100
    left = sine(-20, 3.0, sr)[:, 0]
    x = np.stack([left, np.zeros_like(left)], axis=1)
    curves = ld.channel_curves(x, sr)
    assert curves.shape == (2, 18)
    # 1 kHz sine at -20 dBFS peak measured as mono: -23.0 LUFS
    assert np.abs(curves[0][1:] - curves[0][5]).max() < 0.02
    assert abs(curves[0][5] - ld.integrated_loudness(left, sr)) < 0.02
    np.testing.assert_array_equal(curves[1], np.full(18, LUFS_FLOOR))
    curve = ld.measure_curves(x, sr)
    assert curve.source is CurveSource.MEASURED and curve.n_frames == 18 and curve.duration_s == 3.0
    np.testing.assert_allclose(curve.left, curves[0])


def test_final_partial_window_is_measured_over_its_own_samples() -> None:
    sr = 48000
    x = sine(-20, 1.25, sr, freq=997.0)  # 7.5 windows
    curves = ld.channel_curves(x, sr)
    assert curves.shape[1] == 8  # ceil(1.25 * 6)
    # the half window reads the same level as the full ones (not 3 dB low, as zero padding would give)
    assert abs(curves[0][-1] - curves[0][-2]) < 0.05
    # a window of one sample still counts
    assert ld.channel_curves(x[:8001], sr).shape[1] == 2


def test_window_and_hop_are_parameters() -> None:
    sr = 48000
    rng = np.random.default_rng(7)
    x = rng.standard_normal((sr * 4, 2)) * np.linspace(0.01, 0.5, sr * 4)[:, None]
    curves = ld.channel_curves(x, sr, window_s=0.4, hop_s=0.1)
    assert curves.shape == (2, 40)
    y = ld.k_weighted(x, sr)
    for k in (0, 13, 36):
        seg = y[:, k * 4800 : k * 4800 + 19200]
        np.testing.assert_allclose(curves[:, k], -0.691 + 10 * np.log10(np.mean(seg**2, axis=1)), atol=1e-9)
    with pytest.raises(ValueError):
        ld.channel_curves(x, sr, window_s=0.0)


# ------------------------------------------------------------------------------------------------ peaks
def _reference_peak_16x(x: np.ndarray) -> float:
    return float(np.abs(resample_poly(x, 16, 1, window=("kaiser", 12.0))).max())


def test_true_peak_of_quarter_rate_sine_at_45_degrees() -> None:
    sr = 48000
    n = np.arange(sr)
    x = 0.5 * np.sin(np.pi / 2 * n + np.pi / 4)
    sp = ld.sample_peak_dbfs(x)[0]
    tp = ld.true_peak_dbtp(x)[0]
    ref = 20 * np.log10(_reference_peak_16x(x))
    assert sp == pytest.approx(20 * np.log10(0.5) - 3.01, abs=0.01)  # samples sit at +-0.354
    assert abs(tp - ref) <= 0.2 and abs(tp - 20 * np.log10(0.5)) <= 0.2
    print(f"fs/4 45deg: sample peak {sp:.3f}, true peak {tp:.3f}, 16x reference {ref:.3f} dB")


def test_true_peak_against_16x_reference_on_band_limited_signals() -> None:
    rng = np.random.default_rng(5)
    worst = 0.0
    for k in range(6):
        x = rng.standard_normal(48000)
        x = resample_poly(x, 4, 5)[:40000] * 0.3  # band-limited to 0.8 of Nyquist
        ref = 20 * np.log10(_reference_peak_16x(x))
        got = ld.true_peak_dbtp(x)[0]
        worst = max(worst, abs(got - ref))
        assert abs(got - ref) <= 0.2, (k, got, ref)
    print(f"max |true peak - 16x reference|: {worst:.4f} dB")


def _test_signals_for_peak() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    t = np.arange(3 * 44100) / 44100
    clicks = np.zeros(t.size)
    clicks[rng.integers(0, t.size, 30)] = rng.uniform(-1, 1, 30)
    return {
        "noise": rng.standard_normal(t.size) * 0.1,
        "bursts": rng.standard_normal(t.size) * np.exp(-(t % 0.5) * 12) * 0.4,
        "square": 0.5 * np.sign(np.sin(2 * np.pi * 100 * t)),
        "clicks": clicks,
        "quiet": 1e-6 * rng.standard_normal(t.size),
        "silence": np.zeros(1000),
        "one": np.array([0.7]),
        "short": rng.standard_normal(37),
        "sine": 0.9 * np.sin(2 * np.pi * 11025 * t + 0.3),
    }


@pytest.mark.parametrize("name", list(_test_signals_for_peak()))
def test_screened_true_peak_equals_full_oversampling(name: str) -> None:
    x = _test_signals_for_peak()[name]
    got = tpk._channel_true_peak(x)
    full = tpk.oversampled_peak_full(x)
    assert got == pytest.approx(full, rel=1e-12, abs=1e-300)
    assert got >= np.abs(x).max()  # never below the sample peak


def test_measure_report_keys() -> None:
    x = sine(-20, 4.0, 44100)
    rep = ld.measure(x, 44100)
    d = rep.to_json_dict()
    assert list(d) == [
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "duration_s",
        "sample_rate",
        "channels",
    ]
    assert d["sample_rate"] == 44100 and d["channels"] == 2 and d["duration_s"] == 4.0
    assert d["sample_peak_dbfs"] == pytest.approx(-20.0, abs=0.01)
    assert d["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)  # two channels of a -23 LUFS tone
    assert ld.measure(np.zeros((44100, 2)), 44100).to_json_dict()["integrated_lufs"] is None


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6000),
    seed=st.integers(0, 2**31 - 1),
    density=st.sampled_from(["sparse", "decay", "dense"]),
)
def test_property_screened_true_peak_is_exact(n: int, seed: int, density: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if density == "sparse":
        x *= rng.random(n) < 0.01
    elif density == "decay":
        x *= np.exp(-np.arange(n) / rng.uniform(5, 2000))
    assert tpk._channel_true_peak(x) == pytest.approx(tpk.oversampled_peak_full(x), rel=1e-12, abs=1e-300)


@settings(max_examples=25, deadline=None)
@given(seconds=st.floats(0.05, 3.0), seed=st.integers(0, 2**31 - 1))
def test_property_curve_frames_cover_the_signal(seconds: float, seed: int) -> None:
    sr = 16000
    n = max(1, int(seconds * sr))
    x = np.random.default_rng(seed).standard_normal((n, 2)) * 0.1
    curves = ld.channel_curves(x, sr)
    assert curves.shape == (2, math.ceil(n / (sr / 6) - 1e-9))
    assert np.all(curves >= LUFS_FLOOR) and np.all(np.isfinite(curves))
    y = ld.k_weighted(x, sr)
    last = int(round((curves.shape[1] - 1) * sr / 6))
    np.testing.assert_allclose(
        curves[:, -1], -0.691 + 10 * np.log10(np.mean(y[:, last:] ** 2, axis=1)), atol=1e-9
    )
