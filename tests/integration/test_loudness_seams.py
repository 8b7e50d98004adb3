"""Loudness figures a user reads must describe the audio: normalize on dense audio whose target is out of reach
under the ceiling."""

from __future__ import annotations

import numpy as np

from triergon_studio.audio.loudness import integrated_loudness, true_peak_dbtp
from triergon_studio.audio.normalize import normalize


def test_unreachable_target_reports_the_gain_it_applied() -> None:
    """Was: the secant loop kept adding gain the limiter took straight back (+166 dB reported for 0 LUFS)."""
    sr = 44100
    noise = np.random.default_rng(3).standard_normal((sr * 6, 2)).astype(np.float32)
    noise *= 10 ** ((-23.0 - integrated_loudness(noise, sr)) / 20)
    res = normalize(noise, sr, 0.0, -1.0)
    assert res.limited
    assert res.gain_db < 40.0  # -23 -> 0 LUFS needs +23 dB; anything far above is a runaway figure
    out = integrated_loudness(res.audio, sr)
    assert abs(out - res.output_lufs) < 0.05
    assert float(true_peak_dbtp(res.audio).max()) <= -1.0 + 0.1
    # the gain it reports, limited, gives the loudness it reports
    again = normalize(noise * np.float32(10 ** (res.gain_db / 20)), sr, res.output_lufs, -1.0)
    assert abs(integrated_loudness(again.audio, sr) - res.output_lufs) < 0.5


def test_normalize_cli_says_when_the_target_is_missed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import soundfile as sf

    from tests.integration.cli_helpers import ok

    sr = 44100
    noise = np.random.default_rng(4).standard_normal((sr * 4, 2)) * 0.05
    sf.write(tmp_path / "noise.wav", noise, sr, subtype="FLOAT")
    r = ok("normalize", tmp_path / "noise.wav", "--target", "0", "-o", tmp_path / "out.wav")
    assert "not reached" in r.err
    r = ok("normalize", tmp_path / "noise.wav", "--target", "r128", "-o", tmp_path / "r128.wav")
    assert "not reached" not in r.err
