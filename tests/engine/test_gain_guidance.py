"""Guidance that moves gains instead of the free latent (``guide_gain``, issue 13): the interpolation from
the curve grid, the directions found through the encoder, both paths, and the use case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.engine.test_curve_guidance import RATIO, SR, C, ToyDecoder, _adherence, _target
from tests.engine.test_latent_head import _guided_take_metadata, _toy_head
from triergon_studio.engine.curve_control.guidance import (
    HEAD_DEFAULTS,
    CurveGuide,
    GuideSettings,
    gain_interpolation,
    target_for_chunk,
)
from triergon_studio.engine.curve_control.hooks import guide_step
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError


class ToyEncoder:
    """The toy decoder's inverse: each block's RMS per channel, through the inverse softplus, mapped to the
    minimum-norm latent. Gain on a channel moves the latent along a fixed direction per block, as a real
    encoder roughly does."""

    def __init__(self, dec: ToyDecoder) -> None:
        self.pinv = torch.linalg.pinv(dec.mix.detach())  # [C, 2]
        carrier = dec.carrier
        assert isinstance(carrier, torch.Tensor)
        self.carrier = carrier

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        b, ch, n = audio.shape
        t = n // RATIO
        carrier = self.carrier[..., : t * RATIO].reshape(1, ch, t, RATIO)
        x = audio[..., : t * RATIO].reshape(b, ch, t, RATIO)
        rms = (x.pow(2).mean(-1) / carrier.pow(2).mean(-1)).sqrt()  # the envelope level per block
        pre = torch.log(torch.expm1((rms / 0.05).clamp_min(1e-6))) + 2.0  # softplus^-1, plus the offset
        return torch.einsum("co,bot->bct", self.pinv, pre)


def _toy_guide(
    dec: ToyDecoder, curve: np.ndarray, frames: int, settings: GuideSettings, steps: int = 12, **kw: Any
) -> CurveGuide:
    """A guide for the toy decoder's one chunk of ``frames`` latent frames, following ``curve``."""
    return CurveGuide(dec, target_for_chunk(curve, 0.0, frames, RATIO, SR), SR, RATIO, steps, settings, **kw)


def _last_step(guide: CurveGuide, z: torch.Tensor, steps: int = 12) -> torch.Tensor:
    """The guide's work after the sampler's last step, from the clean latent ``z``."""
    with torch.inference_mode():
        return guide_step(SamplerStep(steps, steps, z.clone(), z.clone(), 0.0), guide)


def test_gain_interpolation_maps_curve_gains_onto_latent_frames() -> None:
    frames, n_curve = 65, 19
    w = gain_interpolation(frames, RATIO, SR, n_curve)
    assert w.shape == (n_curve, frames) and bool((w >= 0).all())
    assert torch.allclose(w.sum(0), torch.ones(frames), atol=1e-6)  # a constant gain stays constant
    ramp = torch.arange(n_curve, dtype=torch.float32)[None]
    centres = ((torch.arange(frames) + 0.5) * RATIO / SR * 6 - 0.5).clamp(0, n_curve - 1)
    assert torch.allclose((ramp @ w)[0], centres, atol=1e-5)  # linear between frame centres
    assert int((w > 0).sum(0).max()) <= 2
    assert torch.equal(gain_interpolation(5, RATIO, SR, 1), torch.ones(1, 5))


def test_settings_parse_the_gain_mode() -> None:
    assert GuideSettings.from_extra({}).gain == "off"  # the decoder path moves the free latent
    assert GuideSettings.from_extra({}, head=True).gain == HEAD_DEFAULTS["gain"] == "all"
    assert GuideSettings.from_extra({"guide_gain": 1}).gain == "final"
    assert GuideSettings.from_extra({"guide_gain": 0}, head=True).gain == "off"
    with pytest.raises(ModelError, match="guide_gain") as err:
        GuideSettings.from_extra({"guide_gain": 3})
    assert "\n" not in str(err.value)
    assert GuideSettings.from_extra({"guide_gain_net": 0}).gain_net is False
    with pytest.raises(ModelError, match="unknown guidance knob 'guide_gian'") as err:
        GuideSettings.from_extra({"guide_gian": 2, "cfg": 3.0})  # other extras pass; a misspelt knob does not
    assert "\n" not in str(err.value)


def _gain_residuals(guide: CurveGuide, z: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """How far the change ``x - z`` is from a gain move: the share of it outside each latent frame's two
    gain directions, and the share of the per-frame gains that no gain curve on the 6 Hz grid explains."""
    with torch.no_grad():
        dirs = guide._gain_directions(guide.decode(z), z)[:, 0]  # [2, C, T]
    d = (x - z)[0]
    coefs, outside = [], 0.0
    for t in range(z.shape[-1]):
        basis = dirs[:, :, t].T  # [C, 2]
        coef = torch.linalg.lstsq(basis, d[:, t : t + 1]).solution
        outside += float((basis @ coef)[:, 0].sub(d[:, t]).pow(2).sum())
        coefs.append(coef[:, 0])
    gains = torch.stack(coefs, 1)  # [2, T]
    interp = guide._gain_interp(z.shape[-1])  # [F, T]
    fit = torch.linalg.lstsq(interp.T, gains.T).solution  # [F, 2]
    off_grid = float((interp.T @ fit - gains.T).norm() / gains.norm())
    return (outside / float(d.pow(2).sum())) ** 0.5, off_grid


@pytest.mark.parametrize("path", ["head", "decoder"])
def test_gain_mode_follows_the_curve_along_gain_directions_only(path: str) -> None:
    frames = 65
    dec = ToyDecoder(frames)
    target = _target(frames)
    extra = {"guide_budget": 6, "guide_final": 1.0, "guide_gain": 2}
    settings = GuideSettings.from_extra(extra, head=path == "head")
    head = _toy_head(dec, frames) if path == "head" else None
    guide = _toy_guide(dec, target, frames, settings, head=head, encode=ToyEncoder(dec))
    z = torch.full((1, C, frames), 0.5)
    before = _adherence(dec, z, target)
    x = _last_step(guide, z)
    after = _adherence(dec, x, target)
    assert after < 0.6 * before, (before, after)
    assert guide.passes_used == 6 and min(guide.losses) < guide.losses[0]
    outside, off_grid = _gain_residuals(guide, z, x)
    assert outside < 1e-3 and off_grid < 1e-3, (outside, off_grid)
    # the same budget on the free latent sets each latent frame's level on its own: a flutter inside the
    # curve frames that no 6 Hz gain curve makes (the toy's level depends on the gain span alone, so the
    # free change stays in it)
    free_settings = GuideSettings.from_extra({**extra, "guide_gain": 0}, head=path == "head")
    y = _last_step(_toy_guide(dec, target, frames, free_settings, head=head), z)
    assert _gain_residuals(guide, z, y)[1] > 0.05


def test_gain_mode_without_an_encoder_is_refused_in_one_line() -> None:
    frames = 22
    dec = ToyDecoder(frames)
    guide = _toy_guide(dec, _target(frames), frames, GuideSettings(gain="all", final=1.0), steps=4)
    with pytest.raises(ModelError, match="encoder") as err:
        _last_step(guide, torch.zeros(1, C, frames), steps=4)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from triergon_studio.engine.weights import random_model, save_model_dir

    return save_model_dir(random_model("tiny", seed=0), None, tmp_path_factory.mktemp("m") / "tiny")


def test_gain_mode_through_the_use_case_and_its_refusals(tiny_folder: Path) -> None:
    from triergon_studio.takes import load_model

    model = load_model(str(tiny_folder))
    meta = _guided_take_metadata(model, guide_gain=2.0, guide_budget=2.0)
    assert meta["guide_gain"] == "all" and meta["guide_path"] == "decoder"
    assert int(meta["guide_passes"]) >= 2  # type: ignore[call-overload]
    with pytest.raises(ModelError, match="guide_crop_s") as err:
        _guided_take_metadata(model, guide_gain=2.0, guide_crop_s=1.0)
    assert "\n" not in str(err.value)


def test_a_model_folders_own_guidance_knobs_sit_under_the_takes(tmp_path: Path) -> None:
    """``sampling.guide`` in a folder's config: its takes start from those knobs, a take's own win, and a
    bad default is refused before any work, naming the model."""
    import dataclasses

    from triergon_studio.cli.model_cmds import model_info
    from triergon_studio.engine.weights import random_model, save_model_dir
    from triergon_studio.takes import load_model

    model = random_model("tiny", seed=0)
    cfg = model.cfg
    own = dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, guide={"guide_gain": 2}))
    loaded = load_model(str(save_model_dir(model, own, tmp_path / "own")))
    assert dict(loaded.info.defaults.guide) == {"guide_gain": 2}
    assert model_info(str(tmp_path / "own"))["default_guide"] == {"guide_gain": 2}  # what model-info shows
    assert _guided_take_metadata(loaded, guide_budget=2.0)["guide_gain"] == "all"  # the decoder path's is off
    assert _guided_take_metadata(loaded, guide_budget=2.0, guide_gain=0.0)["guide_gain"] == "off"
    bad = dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, guide={"guide_gain": 5}))
    with pytest.raises(ModelError, match="default guidance .*guide_gain must be") as err:
        _guided_take_metadata(load_model(str(save_model_dir(model, bad, tmp_path / "bad"))))
    assert "\n" not in str(err.value) and str(tmp_path / "bad") in str(err.value)
