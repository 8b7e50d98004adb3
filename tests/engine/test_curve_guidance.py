"""Curve guidance between sampler steps and the shaped init (issue 13), on a small differentiable decoder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from triergon_studio.audio.loudness import channel_curves
from triergon_studio.engine.curve_control.guidance import (
    CurveGuide,
    GuideSettings,
    check_guidance_memory,
    guided_steps,
    target_for_chunk,
    x_weight,
)
from triergon_studio.engine.curve_control.hooks import guide_step
from triergon_studio.engine.curve_control.loudness_torch import adherence_lu, loudness_curves
from triergon_studio.engine.curve_control.shaping import ShapeSettings, shape_init, shaped_excitation
from triergon_studio.engine.families.base import Settings, TakeInputs
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

SR, RATIO, C = 44100, 2048, 4


class ToyDecoder(torch.nn.Module):
    """Latent [B, C, T] -> stereo noise [B, 2, T * RATIO] whose level per channel follows softplus of a fixed
    mix of the latent channels (monotonic, smooth, nonlinear: a stand-in for a real VAE decoder)."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.mix = torch.nn.Parameter(torch.randn(2, C, generator=g) / C**0.5)
        self.register_buffer("carrier", torch.randn(1, 2, frames * RATIO, generator=g))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        level = torch.nn.functional.softplus(torch.einsum("oc,bct->bot", self.mix, z) - 2.0) * 0.05
        env = torch.nn.functional.interpolate(level, scale_factor=RATIO, mode="linear", align_corners=False)
        return env * self.carrier[..., : env.shape[-1]]


def _target(frames: int) -> np.ndarray:
    f = int(np.ceil(frames * RATIO / SR * 6))
    t = np.arange(f) / 6
    return np.stack([-40 + 20 * np.clip(t / t[-1], 0, 1), np.where((t % 1) < 0.5, -25.0, -70.0)])


def _toy_guide(
    frames: int, total: int, settings: GuideSettings, parameterisation: str = "ve"
) -> tuple[ToyDecoder, np.ndarray, CurveGuide]:
    dec = ToyDecoder(frames)
    target = _target(frames)
    guide = CurveGuide(
        dec, target_for_chunk(target, 0.0, frames, RATIO, SR), SR, RATIO, total, settings, parameterisation
    )
    return dec, target, guide


def _adherence(decoder: ToyDecoder, z: torch.Tensor, target: np.ndarray) -> float:
    with torch.no_grad():
        return adherence_lu(loudness_curves(decoder(z)[0], SR), target)


def test_guided_steps_spread_over_the_window_within_budget() -> None:
    assert guided_steps(25, GuideSettings(budget=4, start=0.2, end=0.8, final=0.0)) == [6, 11, 15, 20]
    assert guided_steps(10, GuideSettings(budget=100, start=0.0, end=1.0, final=0.0)) == list(
        range(1, 10)
    )  # never the last without final passes
    assert len(guided_steps(10, GuideSettings(budget=4, passes=2, final=0.0))) == 2
    # the default spends half the budget on the result: the other half spreads over the window
    assert guided_steps(25, GuideSettings(budget=8, start=0.2, end=0.8)) == [6, 11, 15, 20, 25]
    assert guided_steps(25, GuideSettings(budget=8, final=1.0)) == [25]


@pytest.mark.parametrize(
    "extra",
    [
        {"guide_strength": -1},
        {"guide_budget": 0},
        {"guide_start": 0.9, "guide_end": 0.5},
        {"guide_crop_s": float("nan")},
        {"guide_passes": 9, "guide_budget": 2},
        {"guide_final": 1.5},
        {"guide_silence": -1},
    ],
)
def test_bad_settings_are_one_line_errors(extra: dict[str, float]) -> None:
    with pytest.raises(ModelError) as err:
        GuideSettings.from_extra(extra)
    assert "\n" not in str(err.value)


def test_x_weight_per_parameterisation() -> None:
    assert x_weight("ve", 30.0) == 1.0
    assert x_weight("flow", 0.25) == pytest.approx(0.75)
    with pytest.raises(ModelError):
        x_weight("edm", 1.0)


@pytest.mark.parametrize("crop_s", [0.0, 1.0])
def test_guidance_moves_x_toward_the_curve(crop_s: float) -> None:
    frames = 65  # about 3 s
    settings = GuideSettings(strength=1.0, budget=10, passes=10, start=0.0, end=1.0, crop_s=crop_s, final=0.0)
    dec, target, guide = _toy_guide(frames, 12, settings)
    z = torch.zeros(1, C, frames)
    step = guide.steps[0]
    before = _adherence(dec, z, target)
    with torch.inference_mode():  # make_takes samples under inference mode
        x = guide_step(SamplerStep(step, 12, z.clone(), z.clone(), 0.5), guide)
    after = _adherence(dec, x, target)
    assert after < (0.5 if crop_s == 0 else 0.7) * before, (before, after)
    assert guide.passes_used == guide.settings.passes
    rec = guide.record()
    assert rec["passes_used"] == guide.passes_used and rec["loss_last"] < rec["loss_first"]


def test_final_passes_come_from_the_budget_and_guide_the_result() -> None:
    s = GuideSettings(budget=6, final=1 / 3, start=0.2, end=0.8)
    assert s.final_passes == 2
    steps = guided_steps(25, s)
    assert steps[-1] == 25 and len(steps) == 1 + 4  # the result, plus the budget left in the window
    assert guided_steps(25, GuideSettings(budget=2, final=1.0)) == [25]
    frames = 65
    dec, target, guide = _toy_guide(
        frames, 12, GuideSettings(strength=5.0, budget=4, final=1.0, start=0.0, end=1.0)
    )
    assert guide.steps == [12]
    weak = CurveGuide(dec, guide.target, SR, RATIO, 12, dataclasses.replace(guide.settings, strength=1.0))
    z = torch.zeros(1, C, frames)
    with torch.inference_mode():
        x = guide_step(SamplerStep(12, 12, z.clone(), z.clone(), 0.0), guide)
        x1 = guide_step(SamplerStep(12, 12, z.clone(), z.clone(), 0.0), weak)
    assert guide.passes_used == 4
    assert _adherence(dec, x, target) < 0.5 * _adherence(dec, z, target)
    # the result moves by the clean-latent change itself: strength does not scale it
    assert torch.equal(x, x1)


def test_final_passes_can_run_before_the_end() -> None:
    s = GuideSettings(budget=4, final=0.5, final_at=3, start=0.0, end=1.0)
    steps = guided_steps(10, s)
    assert steps[-1] == 7 and all(st < 7 for st in steps[:-1])  # the sampler's last 3 steps refine it
    frames = 65
    dec, target, guide = _toy_guide(
        frames, 10, GuideSettings(budget=2, final=1.0, final_at=2, strength=5.0), "flow"
    )
    assert guide.steps == [8]
    z = torch.zeros(1, C, frames)
    with torch.inference_mode():
        same = guide_step(SamplerStep(9, 10, z.clone(), z.clone(), 0.1), guide)
        x = guide_step(SamplerStep(8, 10, z.clone(), z.clone(), 0.25), guide)
    assert torch.equal(same, z) and guide.passes_used == 2
    # a flow's x = (1 - t) x0 + t n: the final change goes in scaled by 1 - t, and strength does not apply
    with torch.inference_mode():
        whole = guide_step(
            SamplerStep(8, 10, z.clone(), z.clone(), 0.0), dataclasses.replace(guide, passes_used=0)
        )
    assert float(whole.abs().sum()) > 0 and torch.allclose(x, 0.75 * whole, atol=1e-6)
    with pytest.raises(ModelError, match="guide_final_at"):
        GuideSettings.from_extra({"guide_final_at": -1})


def test_unguided_steps_and_none_leave_x_alone() -> None:
    frames = 22
    _, _, guide = _toy_guide(frames, 10, GuideSettings(budget=1, start=0.5))
    x = torch.randn(1, C, frames)
    other = next(i for i in range(1, 11) if i not in guide.steps)
    assert guide_step(SamplerStep(other, 10, x, x, 1.0), guide) is x
    assert guide_step(SamplerStep(guide.steps[0], 10, x, x, 1.0), None) is x
    assert guide.passes_used == 0


def test_memory_check_offers_the_cheaper_path() -> None:
    dec = ToyDecoder(700)
    settings = GuideSettings()
    need = check_guidance_memory(dec, C, 650, torch.device("cpu"), settings, RATIO, SR, free_bytes=2**40)
    assert need > 0
    with pytest.raises(ModelError, match="cheaper path") as err:
        check_guidance_memory(dec, C, 650, torch.device("cpu"), settings, RATIO, SR, free_bytes=need // 4)
    assert "\n" not in str(err.value)
    cropped = GuideSettings(crop_s=2.0)
    assert (
        check_guidance_memory(dec, C, 650, torch.device("cpu"), cropped, RATIO, SR, free_bytes=need // 4)
        < need
    )


def test_shaped_excitation_follows_the_curve() -> None:
    n = int(3.0 * SR)
    t = np.arange(18) / 6
    target = np.stack([-45 + 25 * t / 3, np.where((t % 1) < 0.5, -20.0, -70.0)])
    audio = shaped_excitation(target, n, SR, seed=3)
    assert audio.shape == (n, 2) and audio.dtype == np.float32
    assert adherence_lu(channel_curves(audio, SR), target) < 1.0
    quiet = channel_curves(audio, SR)[1][target[1] < -60]
    assert np.median(quiet) < -55  # silent target frames stay quiet


def test_shaped_excitation_uses_the_reference_sound() -> None:
    n = int(2.0 * SR)
    ref = np.zeros((SR // 2, 2), np.float32)
    ref[:, 0] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    ref[:, 1] = ref[:, 0]
    audio = shaped_excitation(np.full((2, 12), -25.0), n, SR, seed=0, excitation=ref)
    spec = np.abs(np.fft.rfft(audio[:, 0]))
    assert np.argmax(spec) == pytest.approx(440 * n / SR, abs=3)  # the tone, not noise
    with pytest.raises(ModelError):
        ShapeSettings(excitation="bogus")


def _settings(mode: str) -> Settings:
    return Settings(
        steps=8, cfg=1.0, sampler="euler", guidance="cfg", seed=7, init_noise=0.6, follow_curves=mode
    )


def test_shape_init_hook() -> None:
    n = SR
    own = np.zeros((n, 2), np.float32)
    inputs = TakeInputs(
        n_samples=n, duration_s=1.0, start_s=0.0, init_audio=own, curves=np.full((2, 6), -30.0)
    )
    assert shape_init(inputs, _settings("off"), SR) is own
    assert shape_init(inputs, _settings("guide"), SR) is own
    inputs.init_audio = None
    shaped = shape_init(inputs, _settings("shape+guide"), SR)
    assert shaped is not None and shaped.shape == (n, 2)
    assert adherence_lu(channel_curves(shaped, SR), inputs.curves) < 1.0
    inputs.curves = None
    assert shape_init(inputs, _settings("shape"), SR) is None
