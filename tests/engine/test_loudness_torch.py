"""The torch loudness curves agree with the numpy engine and carry gradients (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from triergon_studio.audio.loudness import _frame_bounds, channel_curves, measure_curves
from triergon_studio.engine.curve_control.loudness_torch import (
    adherence_lu,
    curve_loss,
    k_weight,
    loudness_curves,
    stft_kweighted_power,
    track_frame_powers,
)

SR = 44100


def _signals() -> dict[str, np.ndarray]:
    n = int(2.37 * SR)  # a partial last frame on purpose
    t = np.arange(n) / SR
    rng = np.random.default_rng(3)
    gate = ((t % 0.5) < 0.07)[:, None]
    return {
        "tones": np.stack([0.3 * np.sin(2 * np.pi * 997 * t), 0.05 * np.sin(2 * np.pi * 40 * t)], 1),
        "noise": 0.1 * rng.standard_normal((n, 2)),
        "bursts": gate * 0.5 * rng.standard_normal((n, 2)),
        "silence": np.zeros((n, 2)),
        "quiet_then_loud": np.concatenate(
            [1e-5 * rng.standard_normal((n // 2, 2)), 0.4 * rng.standard_normal((n - n // 2, 2))]
        ),
    }


@pytest.mark.parametrize("name", list(_signals()))
@pytest.mark.parametrize("window_s", [1 / 6, 0.4])
def test_agrees_with_numpy_engine(name: str, window_s: float) -> None:
    audio = _signals()[name]
    ref = channel_curves(audio, SR, window_s=window_s, hop_s=1 / 6)
    got = loudness_curves(torch.from_numpy(audio.T.astype(np.float32)), SR, window_s=window_s).numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 0.1


def test_default_matches_measure_curves_in_float64() -> None:
    audio = _signals()["bursts"]
    curve = measure_curves(audio, SR)
    got = loudness_curves(torch.from_numpy(audio.T.copy()), SR).numpy()
    assert np.abs(got[0] - curve.left).max() < 1e-6 and np.abs(got[1] - curve.right).max() < 1e-6


def test_k_weight_matches_lfilter() -> None:
    from scipy.signal import lfilter

    from triergon_studio.engine.curve_control.loudness_torch import _kweight_tf

    x = np.random.default_rng(0).standard_normal(20000)
    b, a, _ = _kweight_tf(48000, "itu")
    ref = lfilter(b, a, x)
    got = k_weight(torch.from_numpy(x), 48000).numpy()
    assert np.abs(got - ref).max() < 1e-9 * max(1.0, np.abs(ref).max())


def test_gradient_flows_and_lowers_the_loss() -> None:
    rng = np.random.default_rng(1)
    base = torch.from_numpy((0.05 * rng.standard_normal((2, SR))).astype(np.float32))
    gain_db = torch.zeros(2, 1, requires_grad=True)
    target = torch.full((2, 6), -20.0)
    target[:, :2] = -70.0  # silent target frames do not count
    losses = []
    for _ in range(12):
        audio = base * 10 ** (gain_db / 20)
        loss = curve_loss(loudness_curves(audio, SR, floor=None), target)
        (g,) = torch.autograd.grad(loss, gain_db)
        assert torch.isfinite(g).all() and g.abs().sum() > 0
        losses.append(float(loss.detach()))
        with torch.no_grad():
            gain_db -= 1.0 * g
    assert losses[-1] < 0.05 * losses[0]
    measured = loudness_curves(base * 10 ** (gain_db.detach() / 20), SR)
    assert adherence_lu(measured, target) < 0.3


def test_gradient_reaches_every_sample_of_a_frame() -> None:
    audio = torch.zeros(2, SR, dtype=torch.float64)
    audio[:, 1000:1100] = 0.1
    audio.requires_grad_(True)
    loudness_curves(audio, SR, floor=None)[0, 0].backward()
    assert audio.grad is not None and audio.grad[0, 1000:1100].abs().min() > 0
    assert audio.grad[1].abs().max() == 0  # channels are independent


def test_loss_ignores_frames_below_minus_60_and_is_zero_without_any() -> None:
    m = torch.tensor([[-30.0, -80.0, -20.0]])
    t = torch.tensor([[-30.0, -65.0, -20.0]])
    assert float(curve_loss(m, t)) == 0.0
    assert float(curve_loss(m, torch.full((1, 3), -70.0))) == 0.0
    assert np.isnan(adherence_lu(m, torch.full((1, 3), -70.0)))


def test_silence_weight_pulls_down_only_frames_marked_silent_that_rise_above_minus_60() -> None:
    t = torch.tensor([[-30.0, -70.0, -70.0]])
    m = torch.tensor([[-30.0, -50.0, -65.0]], requires_grad=True)
    assert float(curve_loss(m, t).detach()) == 0.0  # by default silent frames do not count
    loss = curve_loss(m, t, silence=2.0)
    # frame 1 is 10 LU over -60: Huber(10, delta 3) = 3 * (10 - 1.5) = 25.5, weight 2, mean over 2 silent frames
    assert float(loss.detach()) == pytest.approx(2.0 * 25.5 / 2)
    loss.backward()
    assert m.grad is not None
    assert float(m.grad[0, 1]) > 0 and float(m.grad[0, 2]) == 0.0 and float(m.grad[0, 0]) == 0.0
    # only silent frames: the term alone
    assert float(curve_loss(torch.tensor([[-50.0]]), torch.tensor([[-70.0]]), silence=1.0)) == pytest.approx(
        25.5
    )


@pytest.mark.parametrize("name", list(_signals()))
def test_an_stft_power_track_gives_the_curve(name: str) -> None:
    """Parseval over Hann frames: the K-weighted power read off an STFT, averaged over each curve frame, gives
    the engine's curve on the audible frames (within 0.6 LU; the 40 Hz tone's window spreads it over bins
    where K-weighting changes); a decoder that rebuilds audio from magnitudes can measure loudness without
    building the waveform."""
    a = torch.from_numpy(_signals()[name].T.copy()).float()
    window = torch.hann_window(1024)
    spec = torch.stft(a, 1024, 256, window=window, center=True, return_complex=True)
    track = stft_kweighted_power(spec.abs().square(), SR, window)
    assert track.shape == (2, spec.shape[-1])
    starts, ends = _frame_bounds(a.shape[-1], SR, 1 / 6, 1 / 6)
    est = (-0.691 + 10 * torch.log10(track_frame_powers(track, 256, starts, ends) + 1e-12)).clamp_min(-70)
    ref = loudness_curves(a, SR).double()
    audible = ref > -60
    if name == "silence":
        assert not audible.any() and (est == -70).all()
        return
    err = (est - ref).abs()[audible]
    assert float(err.max()) < 0.6, err
    assert float(err.mean()) < (0.05 if name == "noise" else 0.25), err
