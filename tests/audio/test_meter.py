"""StreamingMeter: blocks of any size give exactly the offline readings for the audio pushed so far."""

from __future__ import annotations

import math

import numpy as np
import pytest

from triergon_studio.audio import loudness as ld
from triergon_studio.audio.meter import StreamingMeter


def _program(sr: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    env = 0.02 + 0.4 * (np.sin(2 * np.pi * 0.3 * t) > 0.3)
    x = rng.standard_normal((n, 2)) * env[:, None] * np.array([1.0, 0.6])
    x[int(2.5 * sr) : int(3.1 * sr)] = 0.0  # digital silence gap
    x[int(4 * sr), 0] = 0.95  # a click for the true peak
    return x


@pytest.mark.parametrize("sr, filt, seed", [(48000, "itu", 1), (44100, "pyloudnorm", 2), (32000, "itu", 3)])
def test_random_block_sizes_equal_offline(sr: int, filt: str, seed: int) -> None:
    x = _program(sr, 7.3, seed)
    meter = StreamingMeter(sr, channels=2, filter=filt)
    rng = np.random.default_rng(seed + 10)
    pos = 0
    checkpoints = {int(sr * 0.25), int(sr * 3.05), int(sr * 5.5), x.shape[0]}
    while pos < x.shape[0]:
        step = int(rng.choice([1, 7, 64, 441, 1000, 4096, 12345]))
        nxt = min(pos + step, x.shape[0])
        cut = [c for c in checkpoints if pos < c <= nxt]
        if cut:
            nxt = cut[0]
        meter.push(x[pos:nxt])
        pos = nxt
        if pos in checkpoints:
            _check(meter, x[:pos], sr, filt)


def _check(meter: StreamingMeter, x: np.ndarray, sr: int, filt: str) -> None:
    a = ld.analyze(x, sr, filter=filt)
    assert meter.duration_s == pytest.approx(x.shape[0] / sr)
    if a.momentary.size:
        assert meter.momentary == pytest.approx(a.momentary[-1], abs=1e-9)
        assert meter.short_term == pytest.approx(a.short_term[-1], abs=1e-9)
    else:
        assert meter.momentary == -math.inf
    if math.isfinite(a.integrated_lufs):
        assert meter.integrated == pytest.approx(a.integrated_lufs, abs=1e-9)
    else:
        assert meter.integrated == -math.inf
    assert meter.loudness_range == pytest.approx(a.loudness_range_lu, abs=1e-9)
    np.testing.assert_allclose(meter.true_peak_per_channel, a.true_peak_dbtp, atol=1e-9)
    assert meter.true_peak == pytest.approx(float(a.true_peak_dbtp.max()), abs=1e-9)
    assert meter.sample_peak == pytest.approx(float(a.sample_peak_dbfs.max()), abs=1e-12)


def test_mono_meter_and_reset() -> None:
    sr = 48000
    x = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(2 * sr) / sr)
    meter = StreamingMeter(sr, channels=1)
    meter.push(x)
    assert meter.integrated == pytest.approx(ld.integrated_loudness(x, sr), abs=1e-9)
    meter.reset()
    assert meter.duration_s == 0.0 and meter.momentary == -math.inf and meter.integrated == -math.inf
    with pytest.raises(ValueError, match="expected"):
        meter.push(np.zeros((10, 2)))
