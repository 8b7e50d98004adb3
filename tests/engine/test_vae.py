"""Oobleck VAE: shapes for arbitrary lengths, SnakeBeta, weight norm, SAO key layout, bottleneck."""

from __future__ import annotations

import math

import pytest
import torch

from triergon_studio.engine.config import VAEConfig, get_preset
from triergon_studio.engine.models.vae import OobleckVAE, SnakeBeta, WNConv1d, vae_sample


@pytest.fixture(scope="module")
def tiny_vae() -> OobleckVAE:
    torch.manual_seed(0)
    return OobleckVAE(get_preset("tiny").vae).eval()


@pytest.mark.parametrize("n", [1, 2047, 2048, 2049, 100_003])
def test_any_length_round_trips_shape(tiny_vae: OobleckVAE, n: int) -> None:
    x = torch.randn(1, 2, n)
    with torch.inference_mode():
        z = tiny_vae.encode(x)
        assert z.shape == (1, 8, math.ceil(n / 2048))
        y = tiny_vae.decode(z, n)
    assert y.shape == (1, 2, n)
    assert torch.isfinite(y).all()


def test_decoder_output_is_stride_times_frames(tiny_vae: OobleckVAE) -> None:
    z = torch.randn(1, 8, 5)
    with torch.inference_mode():
        assert tiny_vae.decode(z).shape == (1, 2, 5 * 2048)


def test_snake_beta_formula() -> None:
    act = SnakeBeta(3)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.0, 0.5, -1.0]))
        act.beta.copy_(torch.tensor([0.0, -0.3, 1.0]))
    x = torch.randn(2, 3, 11)
    a = act.alpha.exp()[None, :, None]
    b = act.beta.exp()[None, :, None]
    expected = x + 1.0 / (b + 1e-9) * torch.sin(a * x) ** 2
    torch.testing.assert_close(act(x), expected)


def test_weight_norm_matches_definition() -> None:
    conv = WNConv1d(3, 5, 7, padding=3)
    with torch.no_grad():
        conv.weight_g.mul_(torch.linspace(0.5, 2.0, 5).view(5, 1, 1))
    w = conv.weight_v * conv.weight_g / conv.weight_v.flatten(1).norm(dim=1).view(5, 1, 1)
    x = torch.randn(1, 3, 20)
    torch.testing.assert_close(conv(x), torch.nn.functional.conv1d(x, w, conv.bias, padding=3))
    tconv = WNConv1d(4, 2, 8, stride=4, padding=2, transpose=True)
    assert tconv.weight_v.shape == (4, 2, 8) and tconv.weight_g.shape == (4, 1, 1)
    assert tconv(torch.randn(1, 4, 6)).shape == (1, 2, 24)


def test_sao_key_layout_and_size() -> None:
    with torch.device("meta"):
        vae = OobleckVAE(VAEConfig())
    sd = vae.state_dict()
    expected = {
        "encoder.layers.0.weight_g": (128, 1, 1),
        "encoder.layers.0.weight_v": (128, 2, 7),
        "encoder.layers.1.layers.0.layers.0.alpha": (128,),
        "encoder.layers.1.layers.0.layers.1.weight_v": (128, 128, 7),
        "encoder.layers.1.layers.0.layers.3.weight_v": (128, 128, 1),
        "encoder.layers.1.layers.3.beta": (128,),
        "encoder.layers.1.layers.4.weight_v": (128, 128, 4),
        "encoder.layers.2.layers.4.weight_v": (256, 128, 8),
        "encoder.layers.5.layers.4.weight_v": (2048, 1024, 16),
        "encoder.layers.6.alpha": (2048,),
        "encoder.layers.7.weight_v": (128, 2048, 3),
        "decoder.layers.0.weight_v": (2048, 64, 7),
        "decoder.layers.1.layers.0.alpha": (2048,),
        "decoder.layers.1.layers.1.weight_v": (2048, 1024, 16),
        "decoder.layers.1.layers.1.weight_g": (2048, 1, 1),
        "decoder.layers.1.layers.2.layers.1.weight_v": (1024, 1024, 7),
        "decoder.layers.5.layers.4.layers.3.bias": (128,),
        "decoder.layers.6.beta": (128,),
        "decoder.layers.7.weight_v": (2, 128, 7),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "decoder.layers.7.bias" not in sd
    n = sum(p.numel() for p in vae.parameters())
    assert 155e6 < n < 158e6  # the paper's "157M" VAE


def test_bottleneck_sample_and_kl() -> None:
    mean = torch.zeros(4, 3, 100)
    scale = torch.full((4, 3, 100), 5.0)
    g = torch.Generator().manual_seed(0)
    z, kl = vae_sample(mean, scale, g)
    std = torch.nn.functional.softplus(torch.tensor(5.0)) + 1e-4
    assert z.std().item() == pytest.approx(std.item(), rel=0.05)
    var = std**2
    assert kl.item() == pytest.approx(3 * (var - var.log() - 1).item(), rel=1e-4)
