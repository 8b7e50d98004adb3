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


def test_conform_cli_warns_when_pcm_clips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Was: a conform to a loud curve wrote a clipped 24-bit file and printed 'mean error 0.00 LU'."""
    import json

    import soundfile as sf

    from tests.integration.cli_helpers import ok

    sr = 44100
    noise = np.random.default_rng(5).standard_normal((sr * 3, 2)) * 0.02
    sf.write(tmp_path / "quiet.wav", noise, sr, subtype="FLOAT")
    curves = {
        "format": "triergon-curves",
        "version": 1,
        "rate_hz": 6.0,
        "duration_s": 3.0,
        "left": [-2.0] * 18,
        "right": [-2.0] * 18,
        "source": "drawn",
    }
    (tmp_path / "loud.json").write_text(json.dumps(curves))
    r = ok("conform", tmp_path / "quiet.wav", "--curves", tmp_path / "loud.json", "-o", tmp_path / "pcm.wav")
    assert "clipped" in r.err
    r = ok(
        "conform",
        tmp_path / "quiet.wav",
        "--curves",
        tmp_path / "loud.json",
        "-o",
        tmp_path / "f.wav",
        "--bits",
        "32f",
    )
    assert "clipped" not in r.err
    assert np.abs(sf.read(tmp_path / "f.wav")[0]).max() > 1.0  # the float file keeps what PCM could not
