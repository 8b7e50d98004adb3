"""The band-PCA autoencoder (bundle version 3): lengths, the fitted code's whitening, what a round trip keeps
(band powers and loudness), determinism, gradients, the exact normalisation fold, config checks and a save and
load through a model folder."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from tests.steps import drive
from triergon_studio.engine.config import VAEConfig
from triergon_studio.engine.curve_control.loudness_torch import (
    adherence_lu,
    loudness_curves,
    track_curves,
)
from triergon_studio.engine.models.autoencoders import build_autoencoder
from triergon_studio.engine.models.band_pca_ae import BandPCAAE, fit_band_pca
from triergon_studio.errors import ModelError

SR = 44100


def small_cfg(**kw: object) -> VAEConfig:
    base: dict[str, object] = {
        "kind": "bandpca",
        "c_mults": [],
        "strides": [4],
        "latent_dim": 12,
        "n_fft": 512,
        "hop_length": 128,
        "n_bands": 16,
        "gl_iters": 16,
    }
    return VAEConfig(**{**base, **kw})  # type: ignore[arg-type]


def _clips(n: int, seconds: float, seed: int) -> list[torch.Tensor]:
    """Stereo clips with a class of sound each: filtered noise bursts, tones, panned and silent stretches."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    out = []
    for i in range(n):
        noise = torch.randn(int(seconds * SR), generator=g)
        cutoff = 1 + i % 5
        smooth = torch.nn.functional.avg_pool1d(noise[None, None], 2 * cutoff + 1, 1, cutoff)[0, 0]
        tone = torch.sin(2 * math.pi * (220 + 110 * (i % 7)) * t)
        env = (torch.sin(2 * math.pi * (0.5 + i % 3) * t) > 0).float()
        mono = 0.1 * (smooth * env + 0.5 * tone * (1 - env))
        pan = 0.2 + 0.6 * (i % 4) / 3
        out.append(torch.stack([mono * pan, mono * (1 - pan)]))
    return out


@pytest.fixture(scope="module")
def ae() -> BandPCAAE:
    model = build_autoencoder(small_cfg(), SR)
    assert isinstance(model, BandPCAAE)
    fit = fit_band_pca(model, _clips(12, 2.0, 0))
    assert fit["explained_variance"] > 0.9
    return model.eval()


@pytest.mark.parametrize("n", [1, 511, 512, 513, 44_101])
def test_any_length_round_trips_shape(ae: BandPCAAE, n: int) -> None:
    x = torch.randn(2, 2, n) * 0.1
    with torch.inference_mode():
        z = ae.encode(x)
        assert z.shape == (2, 12, math.ceil(n / 512))
        y = ae.decode(z, n)
    assert y.shape == (2, 2, n) and torch.isfinite(y).all()


def test_the_fitted_code_is_whitened_on_its_own_clips(ae: BandPCAAE) -> None:
    with torch.inference_mode():
        z = torch.cat([ae.encode(c[None])[0] for c in _clips(12, 2.0, 0)], dim=-1)
    std = z.std(dim=-1)
    assert torch.allclose(std, torch.ones_like(std), atol=0.05), std
    assert z.mean(dim=-1).abs().max() < 0.05


def _band_db(ae: BandPCAAE, x: torch.Tensor) -> torch.Tensor:
    return ae.encoder.log_band_powers(x) * (10 / math.log(10))


def test_a_round_trip_keeps_band_powers_and_loudness_of_unseen_clips(ae: BandPCAAE) -> None:
    """Clips the code was not fitted on: the decoded audio's band powers (re-measured) stay within a few dB of
    the input's where there is sound, and its loudness within 1 LU; an unfitted code of the same size (the
    first 12 log band powers, unscaled) cannot do that."""
    import pyloudnorm

    meter = pyloudnorm.Meter(SR)
    blank = build_autoencoder(small_cfg(), SR)
    assert isinstance(blank, BandPCAAE)
    errors, blank_errors = [], []
    for x in _clips(4, 2.0, 99):
        x = x[None]
        with torch.inference_mode():
            y, y0 = ae.decode(ae.encode(x), x.shape[-1]), blank.decode(blank.encode(x), x.shape[-1])
        ref = _band_db(ae, x)
        loud = ref > ref.max() - 40
        errors.append((_band_db(ae, y) - ref)[loud].abs().mean().item())
        blank_errors.append((_band_db(ae, y0) - ref)[loud].abs().mean().item())
        lu_in = meter.integrated_loudness(x[0].T.numpy().astype(np.float64))
        lu_out = meter.integrated_loudness(y[0].T.numpy().astype(np.float64))
        assert abs(lu_out - lu_in) < 1.0, (lu_in, lu_out)
    assert np.mean(errors) < 3.0, errors
    assert np.mean(blank_errors) > 2 * np.mean(errors), (errors, blank_errors)


def test_panning_survives_the_round_trip(ae: BandPCAAE) -> None:
    x = _clips(4, 2.0, 5)[3][None]  # pan 0.8 left
    with torch.inference_mode():
        y = ae.decode(ae.encode(x), x.shape[-1])
    rms = y.square().mean(-1).sqrt()[0]
    ratio_db = 20 * math.log10(float(rms[0] / rms[1]))
    assert ratio_db == pytest.approx(20 * math.log10(0.8 / 0.2), abs=1.5)


def test_decode_is_deterministic_and_differentiable(ae: BandPCAAE) -> None:
    z = torch.randn(1, 12, 6)
    with torch.inference_mode():
        assert torch.equal(ae.decode(z), ae.decode(z))
    silent = torch.full((1, 12, 6), -30.0, requires_grad=True)  # a floor far under any band: magnitudes ~0
    for latent in (z.clone().requires_grad_(True), silent):
        ae.decode(latent).square().mean().backward()
        assert latent.grad is not None and torch.isfinite(latent.grad).all()
    assert silent.grad is not None and z.abs().sum() > 0


def test_decode_steps_report_each_griffin_lim_iteration_with_the_same_samples(ae: BandPCAAE) -> None:
    """A long take's decode reports progress while the phase search runs (it gave one update per window),
    and stepping leaves the caller's grad mode alone between steps."""
    z = torch.randn(1, 12, 9, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = ae.decode(z)

    def grad_mode_kept() -> None:
        assert torch.is_grad_enabled()

    with torch.enable_grad():
        fractions, out = drive(ae.decode_steps(z), grad_mode_kept)
    assert torch.equal(out, ref)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(set(fractions)) == ae.decoder.gl_iters + 1


def test_the_phase_is_a_constant_of_the_backward_pass(ae: BandPCAAE) -> None:
    """By default the Griffin-Lim phase search runs outside autograd: the same samples as the exact backward,
    and for a loudness-like loss nearly the same gradient."""
    z = ae.encode(_clips(2, 1.0, 3)[0][None]).detach()
    grads, outs = [], []
    for exact in (False, True):
        ae.decoder.exact_phase_grad = exact
        latent = z.clone().requires_grad_(True)
        out = ae.decode(latent)
        out.square().mean().log().backward()
        assert latent.grad is not None
        grads.append(latent.grad.flatten())
        outs.append(out.detach())
    ae.decoder.exact_phase_grad = False
    assert torch.equal(outs[0], outs[1])
    assert float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)) > 0.95


def _track_curve(ae: BandPCAAE, z: torch.Tensor, n: int) -> torch.Tensor:
    power, hop = ae.loudness_track(z)
    return track_curves(power[0], hop, n, SR).double()


def test_the_loudness_track_measures_what_a_decode_measures(ae: BandPCAAE) -> None:
    """The track (from the magnitudes, no Griffin-Lim) gives a decode's curve within 0.5 LU on the audible
    frames of unseen clips, and carries gradients to the latent."""
    for x in _clips(3, 2.0, 7):
        with torch.inference_mode():
            z = ae.encode(x[None])
            audio = ae.decode(z)[0]
            ref = loudness_curves(audio, SR).double()
            est = _track_curve(ae, z, audio.shape[-1])
        audible = ref > -60
        err = (est - ref).abs()[audible]
        assert audible.sum() > 10 and float(err.mean()) < 0.5, err
    latent = z.clone().requires_grad_(True)
    ae.loudness_track(latent)[0].log().mean().backward()
    assert latent.grad is not None and torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0


def test_guidance_measures_through_the_track_and_decodes_once(ae: BandPCAAE) -> None:
    """With the track, guided steps decode nothing but the final step's first pass, which sets the per-frame
    correction; the result follows the target better, as a decode measures it."""
    from triergon_studio.engine.curve_control.guidance import CurveGuide, GuideSettings, target_for_chunk
    from triergon_studio.engine.curve_control.hooks import guide_step
    from triergon_studio.engine.sampler_step import SamplerStep

    x = _clips(2, 2.0, 11)[1][None]
    with torch.inference_mode():
        z0 = ae.encode(x)
        own = loudness_curves(ae.decode(z0)[0], SR).numpy()
    target = own + np.array([[6.0], [-4.0]])  # louder left, quieter right
    decodes = 0

    def decode(z: torch.Tensor) -> torch.Tensor:
        nonlocal decodes
        decodes += 1
        return ae.decode(z)

    frames, ratio = z0.shape[-1], ae.stride
    settings = GuideSettings(budget=6, start=0.0, end=1.0, final=0.5, head=False)
    guide = CurveGuide(
        decode,
        target_for_chunk(target, 0.0, frames, ratio, SR),
        SR,
        ratio,
        4,
        settings,
        track=ae.loudness_track,
    )
    z = z0.clone()
    with torch.inference_mode():
        for step in range(1, 5):
            z = guide_step(SamplerStep(step, 4, z.clone(), z.clone(), 0.0), guide)
            assert decodes == (1 if step == 4 else 0)
        after = loudness_curves(ae.decode(z)[0], SR).numpy()
    assert guide.passes_used == 6 and guide._fix is not None
    assert adherence_lu(after, target) < 0.5 * adherence_lu(own, target), (adherence_lu(own, target),)


def test_the_codes_gain_directions_are_what_encoding_a_gain_finds(ae: BandPCAAE) -> None:
    """Gain mode's directions without encoding: the code's own (a gain shifts its channel's log band powers)
    equal the encoder's difference for audio 1 dB louder on one side, and moving along them makes the decode
    that much louder on that side only."""
    from triergon_studio.engine.curve_control.guidance import encoded_gain_directions

    x = _clips(1, 2.0, 21)[0][None]
    with torch.inference_mode():
        z = ae.encode(x)
        audio = ae.decode(z)
        dirs = ae.gain_directions(z)
        encoded = encoded_gain_directions(ae.encode, audio, z)
        assert dirs.shape == (2, *z.shape)
        assert torch.allclose(dirs, encoded, atol=1e-2 * float(dirs.abs().max())), (
            (dirs - encoded).abs().max()
        )
        louder = ae.decode(z + 3.0 * dirs[0])
    rise = 10 * torch.log10(louder.square().mean(-1) / audio.square().mean(-1))[0]
    assert float(rise[0]) == pytest.approx(3.0, abs=0.2) and abs(float(rise[1])) < 0.1, rise


@pytest.mark.parametrize("by_track", [True, False])
def test_the_level_shift_brings_each_channel_to_the_curves_level(ae: BandPCAAE, by_track: bool) -> None:
    """``guide_level``: one move along the code's gain directions puts each channel's median level on the
    target's (6 dB up on the left, 9 dB down on the right here), keeps the shape within a channel, and costs
    a counted pass only when it has to decode."""
    from triergon_studio.engine.curve_control.guidance import CurveGuide, GuideSettings, target_for_chunk

    x = _clips(2, 2.0, 11)[1][None]
    with torch.inference_mode():
        z = ae.encode(x)
        own = loudness_curves(ae.decode(z)[0], SR).numpy()
    target = own + np.array([[6.0], [-9.0]])
    guide = CurveGuide(
        ae.decode,
        target_for_chunk(target, 0.0, z.shape[-1], ae.stride, SR),
        SR,
        ae.stride,
        4,
        GuideSettings(level=True, head=False),
        track=ae.loudness_track if by_track else None,
        gain_dirs=ae.gain_directions,
    )
    with torch.inference_mode():
        shift = guide._level_shift(z)
        assert shift is not None
        after = loudness_curves(ae.decode(z + shift)[0], SR).numpy()
    both = (own > -60) & (target > -60)
    for c, want in ((0, 6.0), (1, -9.0)):
        moved = after[c][both[c]] - own[c][both[c]]
        assert float(np.median(moved)) == pytest.approx(want, abs=0.4), moved
        assert float(np.std(moved)) < 0.3, moved  # a gain, not a reshaping
    assert guide.passes_used == (0 if by_track else 1)
    assert len(guide.level_db) == 1 and guide.record()["level_db"] == guide.level_db


def test_the_normalisation_fold_is_exact(ae: BandPCAAE) -> None:
    model = build_autoencoder(small_cfg(), SR)
    assert isinstance(model, BandPCAAE)
    model.load_state_dict(ae.state_dict())
    x = _clips(1, 1.0, 3)[0][None]
    mean, std = torch.linspace(-0.5, 0.5, 12), torch.linspace(0.5, 2.0, 12)
    with torch.inference_mode():
        z = model.encode(x)
        before = model.decode(z)
        model.fold_latent_normalisation(mean, std)
        z2 = model.encode(x)
        after = model.decode(z2)
    assert torch.allclose(z2, (z - mean[:, None]) / std[:, None], atol=1e-4)
    assert torch.allclose(after, before, atol=1e-4)


@pytest.mark.parametrize(
    ("kw", "word"),
    [({"latent_dim": 40}, "latent_dim"), ({"strides": [4, 2]}, "one stride"), ({"gl_iters": -1}, "gl_iters")],
)
def test_bad_configs_are_refused(kw: dict[str, object], word: str) -> None:
    with pytest.raises(ModelError, match=word):
        small_cfg(**kw).validate()


def test_fitting_on_too_little_audio_is_refused() -> None:
    model = build_autoencoder(small_cfg(), SR)
    assert isinstance(model, BandPCAAE)
    with pytest.raises(ValueError, match="fewer than 12"):
        fit_band_pca(model, [torch.zeros(2, 512 * 5)])


def test_a_bf16_module_still_codes_in_float32(ae: BandPCAAE) -> None:
    """On a GPU the model is cast to bf16: the code's buffers are read as float32, and a parameterless module
    still names the dtype its inputs go in as."""
    model = build_autoencoder(small_cfg(), SR)
    assert isinstance(model, BandPCAAE)
    model.load_state_dict(ae.state_dict())
    x = _clips(1, 1.0, 3)[0][None]
    with torch.inference_mode():
        ref = ae.encode(x)
        model.to(torch.bfloat16)
        assert model.latent_dtype == torch.bfloat16
        z = model.encode(x.to(torch.bfloat16))
        y = model.decode(z)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
    assert (z.float() - ref).abs().max() < 0.05


def test_a_model_with_the_code_generates_guides_and_survives_its_folder(tmp_path: object) -> None:
    """The tiny preset with a band-PCA autoencoder: a fitted code saved in a model folder loads back exactly,
    and the one use case generates a take of the exact length, deterministic by seed, that curve guidance
    (which differentiates the Griffin-Lim decode) changes."""
    from pathlib import Path

    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.families.triergon import TriErgonModel
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import load_model_dir, save_model_dir
    from triergon_studio.errors import CancelledError
    from triergon_studio.takes import Progress, generate_takes, run_to_end

    cfg = get_preset("tiny")
    cfg.vae = VAEConfig(kind="bandpca", c_mults=[], strides=[8], latent_dim=8, n_bands=16, gl_iters=4)
    torch.manual_seed(0)
    net = build_model(cfg).eval()
    assert isinstance(net.vae, BandPCAAE)
    fit_band_pca(net.vae, _clips(6, 2.0, 1))
    folder = save_model_dir(net, cfg, Path(str(tmp_path)) / "m")
    back = load_model_dir(folder).eval()
    assert torch.equal(back.vae.encoder.pca_basis, net.vae.encoder.pca_basis)
    model = TriErgonModel(back)
    curve = LoudnessCurve(np.full(12, -20.0), np.full(12, -30.0), 2.0)

    def take(follow: str, **extra: float) -> tuple[np.ndarray, dict[str, object]]:
        spec = TakeSpec(
            span=TimeSpan(0.0, 2.0), curves=curve, follow_curves=follow, steps=3, seed=5, extra=extra
        )
        (t,) = run_to_end(generate_takes(spec, model))
        return np.asarray(t.audio), dict(t.record["metadata"])

    off, _ = take("off")
    assert off.shape == (2 * SR, 2) and np.isfinite(off).all()
    assert np.array_equal(off, take("off")[0])
    guided, meta = take("guide")
    assert np.isfinite(guided).all() and not np.allclose(off, guided)
    assert meta["guide_measure"] == "track"
    gained, meta = take("guide", guide_gain=2, guide_track=0)
    assert meta["guide_measure"] == "decode" and meta["guide_gain_dirs"] == "code"
    assert not np.allclose(gained, guided)
    # the seed search reads its candidates' curves off the track too: near what decoding them measures
    by_track = take("guide", guide_seeds=3, guide_seed_steps=2)[1]["seed_search_errors_lu"]
    by_decode = take("guide", guide_seeds=3, guide_seed_steps=2, guide_track=0)[1]["seed_search_errors_lu"]
    assert isinstance(by_track, list) and isinstance(by_decode, list) and by_track != by_decode
    assert np.allclose(by_track, by_decode, atol=1.0), (by_track, by_decode)
    # the decode reports each Griffin-Lim iteration, and a cancel lands between two of them
    plain = TakeSpec(span=TimeSpan(0.0, 2.0), steps=3, seed=5)
    seen: list[Progress] = []
    run_to_end(generate_takes(plain, model), seen.append)
    decoding = [p.message for p in seen if p.stage == "decoding"]
    assert len(set(decoding)) > back.vae.decoder.gl_iters, decoding
    cancel = threading.Event()
    shown = []
    with pytest.raises(CancelledError):
        for p in generate_takes(plain, model, cancel=cancel):
            if p.stage == "decoding":
                shown.append(p.message)
                if p.message.endswith("%"):  # the first iteration is done
                    cancel.set()
    assert len(shown) == 2 and shown[-1].endswith("decoding 20%"), shown


def test_it_builds_on_the_meta_device() -> None:
    """model-info sizes a model on the meta device, where a filterbank cannot be computed."""
    with torch.device("meta"):
        model = build_autoencoder(small_cfg(), SR)
    assert model.decoder.inverse_fbank.shape == (16, 257) and model.encoder.fbank.is_meta
