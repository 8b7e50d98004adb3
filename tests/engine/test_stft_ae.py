"""The compact preset's spectral autoencoder: lengths, latent rate, mid/side coding, the exact latent
normalisation fold, gradients, config checks and a save/load round trip."""

from __future__ import annotations

import math

import pytest
import torch

from tests.steps import drive
from triergon_studio.engine.config import VAEConfig, get_preset
from triergon_studio.engine.models.autoencoders import build_autoencoder
from triergon_studio.engine.models.stft_ae import MAX_LOG_GAIN, SpectralAE
from triergon_studio.errors import ModelError


def small_cfg() -> VAEConfig:
    return VAEConfig(
        kind="stft", channels=32, c_mults=[], strides=[8], latent_dim=8, n_fft=512, hop_length=128
    )


@pytest.fixture(scope="module")
def ae() -> SpectralAE:
    torch.manual_seed(0)
    model = build_autoencoder(small_cfg())
    assert isinstance(model, SpectralAE)
    return model.eval()


@pytest.mark.parametrize("n", [1, 1023, 1024, 1025, 44_101])
def test_any_length_round_trips_shape(ae: SpectralAE, n: int) -> None:
    x = torch.randn(2, 2, n) * 0.1
    with torch.inference_mode():
        z = ae.encode(x)
        assert z.shape == (2, 8, math.ceil(n / 1024))
        y = ae.decode(z, n)
    assert y.shape == (2, 2, n) and torch.isfinite(y).all()


def test_decoder_output_is_stride_times_frames(ae: SpectralAE) -> None:
    with torch.inference_mode():
        assert ae.decode(torch.randn(1, 8, 5)).shape == (1, 2, 5 * 1024)


def test_the_compact_preset_uses_it_at_the_old_latent_rate() -> None:
    cfg = get_preset("compact")
    assert cfg.vae.kind == "stft" and cfg.vae.downsampling_ratio == 2048 and cfg.vae.latent_dim == 32
    assert cfg.latent_rate_hz == pytest.approx(44100 / 2048)


def test_a_centred_source_decodes_to_identical_channels(ae: SpectralAE) -> None:
    """Mid/side coding: with the side spectrum's head silenced, left and right are the same signal."""
    torch.manual_seed(1)
    model = build_autoencoder(small_cfg()).eval()
    head = model.decoder.head
    bins = small_cfg().n_fft // 2 + 1
    with torch.no_grad():  # rows [side, log-magnitude] of the head: drive the side magnitude to ~0
        rows = slice(2 * bins, 3 * bins)
        head.weight[rows] = 0.0
        head.bias[rows] = -30.0
        y = model.decode(torch.randn(1, 8, 4))
    assert float((y[:, 0] - y[:, 1]).abs().max()) < 1e-6 * float(y.abs().max())
    assert float(y.abs().max()) > 0


def test_latent_normalisation_fold_is_exact() -> None:
    torch.manual_seed(2)
    model = build_autoencoder(small_cfg()).eval()
    x = torch.randn(2, 2, 8192) * 0.2
    with torch.no_grad():
        z = model.encode(x)
        y = model.decode(z)
        mean, std = torch.randn(8) * 0.3, torch.rand(8) + 0.5
        model.fold_latent_normalisation(mean, std)
        z2 = model.encode(x)
        torch.testing.assert_close(z2, (z - mean[None, :, None]) / std[None, :, None], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.decode(z2), y, atol=1e-5, rtol=1e-4)


def test_gradients_reach_every_parameter(ae: SpectralAE) -> None:
    model = build_autoencoder(small_cfg())
    x = torch.randn(2, 2, 4096) * 0.1
    y = model.decode(model.encode(x), x.shape[-1])
    (y - x).pow(2).mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead
    assert all(float(p.grad.abs().sum()) > 0 for p in model.parameters() if p.grad is not None)


def test_a_few_steps_reduce_the_spectral_loss() -> None:
    from triergon_studio.training import losses

    torch.manual_seed(3)
    model = build_autoencoder(small_cfg())
    t = torch.arange(8192) / 44100
    x = torch.stack([torch.stack([0.2 * torch.sin(2 * torch.pi * f * t)] * 2) for f in (330.0, 2500.0)])
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    first = last = 0.0
    for i in range(30):
        y = model.decode(model.encode(x), x.shape[-1])
        loss = losses.multi_scale_mel(y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first, last = (float(loss), float(loss)) if i == 0 else (first, float(loss))
    assert last < 0.6 * first


@pytest.mark.parametrize(
    "kw",
    [
        {"strides": [8, 8]},
        {"strides": [3]},
        {"n_fft": 256, "hop_length": 256},
        {"io_channels": 1},
    ],
)
def test_bad_configs_are_refused(kw: dict[str, object]) -> None:
    cfg = small_cfg()
    for k, v in kw.items():
        setattr(cfg, k, v)
    with pytest.raises(ModelError, match="stft autoencoder"):
        cfg.validate()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ModelError, match="kind"):
        VAEConfig(kind="wavenet").validate()  # type: ignore[arg-type]


def test_saved_model_folder_round_trips(tmp_path: object) -> None:
    from pathlib import Path

    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import load_model_dir, save_model_dir

    cfg = get_preset("tiny")
    cfg.vae = small_cfg()
    torch.manual_seed(4)
    model = build_model(cfg)
    folder = save_model_dir(model, cfg, Path(str(tmp_path)) / "m", {})
    loaded = load_model_dir(folder)
    assert loaded.cfg.vae.kind == "stft"
    x = torch.randn(1, 2, 4096) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.vae.decode(loaded.vae.encode(x)), model.vae.decode(model.vae.encode(x))
        )


def test_stepwise_decode_gives_the_same_samples_and_moves(ae: SpectralAE) -> None:
    z = torch.randn(1, 8, 6)
    with torch.inference_mode():
        fractions, stepped = drive(ae.decode_steps(z))
        whole = ae.decode(z)
    assert torch.equal(stepped, whole)
    assert len(fractions) >= 5 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_coherent_side_starts_as_the_free_decoder_and_pans_a_source() -> None:
    """``side="coherent"``: a free decoder's weights decode exactly as before (the pan starts at zero) and encode
    nearly as before (the balance input starts small); a pan
    makes the side a copy of the mid's phase, so one channel is louder, which a free side's own phase cannot
    do on average (bundle v2.1 lost the L/R balance that way)."""
    torch.manual_seed(5)
    free = build_autoencoder(small_cfg()).eval()
    cfg = small_cfg()
    cfg.side = "coherent"
    coherent = build_autoencoder(cfg).eval()
    missing, unexpected = coherent.load_state_dict(free.state_dict(), strict=False)
    pans = ["decoder.pan.bias", "decoder.pan.weight", "encoder.pan_in.bias", "encoder.pan_in.weight"]
    assert sorted(missing) == pans and not unexpected
    x = torch.randn(1, 2, 8192) * 0.1
    z = torch.randn(1, 8, 6)
    bins = cfg.n_fft // 2 + 1
    with torch.no_grad():
        torch.testing.assert_close(coherent.decode(z), free.decode(z))
        assert coherent.encoder.pan_in is not None  # small, not zero: see PAN_IN_INIT_SCALE
        moved = coherent.encode(x) - free.encode(x)
        assert 0 < float(moved.pow(2).mean()) < 0.05 * float(free.encode(x).pow(2).mean())
        coherent.encoder.pan_in.weight.zero_()
        torch.testing.assert_close(coherent.encode(x), free.encode(x))
        rows = slice(2 * bins, 3 * bins)  # silence the free side: what is left of the side is the pan
        for m in (free, coherent):
            m.decoder.head.weight[rows] = 0.0
            m.decoder.head.bias[rows] = -30.0
        assert coherent.decoder.pan is not None
        coherent.decoder.pan.bias.fill_(math.atanh(0.5))  # S = M / 2: L = 1.5 M, R = 0.5 M
        y = coherent.decode(z)
    ratio_db = 10 * math.log10(float(y[:, 0].pow(2).mean()) / float(y[:, 1].pow(2).mean()))
    assert ratio_db == pytest.approx(20 * math.log10(3.0), abs=0.05)


def test_only_a_coherent_encoder_can_tell_which_channel_is_louder() -> None:
    """Swapping L and R flips the side's sign and keeps its magnitude: an encoder of log |M| and log |S| gives
    the same latent for a source panned left and the same source panned right (why bundle v2.1's latents
    carry no balance); the coherent encoder's balance input tells them apart."""
    torch.manual_seed(6)
    cfg = small_cfg()
    cfg.side = "coherent"
    free, coherent = build_autoencoder(small_cfg()).eval(), build_autoencoder(cfg).eval()
    src = torch.randn(1, 1, 8192) * 0.1
    left, right = torch.cat([src, 0.3 * src], 1), torch.cat([0.3 * src, src], 1)
    with torch.no_grad():
        torch.testing.assert_close(free.encode(left), free.encode(right))
        assert coherent.encoder.pan_in is not None
        coherent.encoder.pan_in.weight.normal_(0.0, 0.1)
        assert float((coherent.encode(left) - coherent.encode(right)).abs().max()) > 1e-2


def test_a_coherent_side_is_refused_for_the_oobleck_vae() -> None:
    with pytest.raises(ModelError, match="side"):
        VAEConfig(kind="oobleck", side="coherent").validate()
    cfg = small_cfg()
    cfg.side = "stereo"  # type: ignore[assignment]
    with pytest.raises(ModelError, match="side"):
        cfg.validate()


def test_a_gain_head_starts_silent_and_scales_each_channel_by_its_own_gain() -> None:
    """``gain_head``: a decoder without one loads into one and decodes exactly as before; constant log gains
    scale left and right by exactly those gains (mid/side rotated, not only scaled), the spectrum unchanged."""
    torch.manual_seed(7)
    cfg = small_cfg()
    cfg.side = "coherent"
    plain = build_autoencoder(cfg).eval()
    cfg.gain_head = True
    gained = build_autoencoder(cfg).eval()
    missing, unexpected = gained.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(k.startswith("decoder.gain.") for k in missing) and not unexpected
    z = torch.randn(1, 8, 6)
    head = gained.decoder.gain
    assert head is not None
    with torch.no_grad():
        y0 = plain.decode(z)
        torch.testing.assert_close(gained.decode(z), y0)
        head.net[-1].bias.copy_(torch.tensor([0.5, -0.25]))  # type: ignore[operator]
        y = gained.decode(z)
    bound = MAX_LOG_GAIN * torch.tanh(torch.tensor([0.5, -0.25]) / MAX_LOG_GAIN)
    expect = y0 * torch.exp(bound)[None, :, None]
    torch.testing.assert_close(y, expect, atol=1e-5, rtol=1e-4)


def test_a_gain_head_is_bounded_and_learns_a_level_alone() -> None:
    """Its gains stay within +-20 dB however large its output, and trained alone on a level error it moves
    the output's level by the 6 dB asked (the stage test checks that nothing else moves)."""
    torch.manual_seed(8)
    cfg = small_cfg()
    cfg.gain_head = True
    ae = build_autoencoder(cfg)
    head = ae.decoder.gain
    assert head is not None
    z = torch.randn(1, 8, 4)
    with torch.no_grad():
        rms0 = float(ae.decode(z).pow(2).mean().sqrt())
        head.net[-1].bias.fill_(1e3)  # type: ignore[operator]
        rms = float(ae.decode(z).pow(2).mean().sqrt())
        head.net[-1].bias.zero_()  # type: ignore[operator]
    assert 20 * math.log10(rms / rms0) == pytest.approx(20.0, abs=0.01)
    for p in ae.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(head.parameters(), lr=3e-2)
    z = torch.randn(2, 8, 6)
    with torch.no_grad():
        target = 10 * torch.log10(ae.decode(z).pow(2).mean()) - 6.0
    for _ in range(40):
        level = 10 * torch.log10(ae.decode(z).pow(2).mean())
        loss = (level - target).abs()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 1.0


def test_a_gain_head_is_refused_for_the_oobleck_vae() -> None:
    with pytest.raises(ModelError, match="gain_head"):
        VAEConfig(kind="oobleck", gain_head=True).validate()
