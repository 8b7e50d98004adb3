"""DINOv2: parameter counts, both checkpoint layouts at full ViT-S shapes, and the forward pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from triergon_studio.engine.models.dinov2 import (
    DinoV2,
    build_dinov2,
    count_params,
    frame_features,
    hub_to_hf_state_dict,
    imagenet_normalize,
    load_dinov2,
    load_dinov2_state_dict,
)
from triergon_studio.engine.models.dinov2_config import DINOV2_PRESETS, DinoV2Config
from triergon_studio.errors import ModelError


def official_hub_shapes(d: int, depth: int, registers: int = 0) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of ``dinov2_vit*14*_pretrain.pth``, written out independently of the model."""
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1370, d),
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, 14, 14),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
    }
    if registers:
        shapes["register_tokens"] = (1, registers, d)
    for i in range(depth):
        b = f"blocks.{i}."
        shapes |= {
            b + "norm1.weight": (d,),
            b + "norm1.bias": (d,),
            b + "attn.qkv.weight": (3 * d, d),
            b + "attn.qkv.bias": (3 * d,),
            b + "attn.proj.weight": (d, d),
            b + "attn.proj.bias": (d,),
            b + "ls1.gamma": (d,),
            b + "norm2.weight": (d,),
            b + "norm2.bias": (d,),
            b + "mlp.fc1.weight": (4 * d, d),
            b + "mlp.fc1.bias": (4 * d,),
            b + "mlp.fc2.weight": (d, 4 * d),
            b + "mlp.fc2.bias": (d,),
            b + "ls2.gamma": (d,),
        }
    return shapes


def official_hf_keys(depth: int, registers: bool) -> set[str]:
    keys = {
        "embeddings.cls_token",
        "embeddings.mask_token",
        "embeddings.position_embeddings",
        "embeddings.patch_embeddings.projection.weight",
        "embeddings.patch_embeddings.projection.bias",
        "layernorm.weight",
        "layernorm.bias",
    }
    if registers:
        keys.add("embeddings.register_tokens")
    for i in range(depth):
        p = f"encoder.layer.{i}."
        for name in (
            "norm1",
            "norm2",
            "attention.attention.query",
            "attention.attention.key",
            "attention.attention.value",
            "attention.output.dense",
            "mlp.fc1",
            "mlp.fc2",
        ):
            keys |= {p + name + ".weight", p + name + ".bias"}
        keys |= {p + "layer_scale1.lambda1", p + "layer_scale2.lambda1"}
    return keys


def synthetic_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, s in shapes.items():
        scale = 0.02 if len(s) > 1 else 0.1
        sd[k] = torch.randn(s, generator=g) * scale + (
            1.0 if k.endswith(("norm1.weight", "norm2.weight", "norm.weight")) else 0.0
        )
    return sd


@pytest.fixture(scope="module")
def vits_sd() -> dict[str, Tensor]:
    return synthetic_state_dict(official_hub_shapes(384, 12))


def test_param_counts_on_meta() -> None:
    s = count_params(build_dinov2("dinov2-vits14", "meta"))
    b = count_params(build_dinov2("dinov2-vitb14", "meta"))
    assert s == pytest.approx(22.1e6, rel=0.01)
    assert b == pytest.approx(86.6e6, rel=0.01)
    assert count_params(build_dinov2("dinov2-vits14-reg", "meta")) == s + 4 * 384
    assert count_params(build_dinov2("dinov2-vitb14-reg", "meta")) == b + 4 * 768


def test_hub_file_loads_with_full_vits_shapes(tmp_path: Path, vits_sd: dict[str, Tensor]) -> None:
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(vits_sd, path)
    model = load_dinov2(path)
    assert model.cfg.embed_dim == 384 and model.cfg.depth == 12 and model.cfg.num_heads == 6
    assert model.cfg.img_size == 518 and model.cfg.num_registers == 0
    assert torch.equal(model.blocks[7].attn.qkv.weight, vits_sd["blocks.7.attn.qkv.weight"])
    assert count_params(model) == count_params(build_dinov2("dinov2-vits14", "meta"))
    x = imagenet_normalize(torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    cls, patches = model(x, return_patch_tokens=True)
    assert cls.shape == (2, 384) and patches.shape == (2, 256, 384)
    assert torch.isfinite(cls).all()


def test_hf_layout_gives_identical_features(tmp_path: Path, vits_sd: dict[str, Tensor]) -> None:
    hf = hub_to_hf_state_dict(vits_sd)
    assert set(hf) == official_hf_keys(12, registers=False)
    assert hf["encoder.layer.3.attention.attention.key.weight"].shape == (384, 384)
    assert torch.equal(
        hf["encoder.layer.3.attention.attention.key.weight"], vits_sd["blocks.3.attn.qkv.weight"][384:768]
    )
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.items()}, str(path))
    from_hf = load_dinov2(path)
    from_hub = load_dinov2_state_dict(vits_sd, "hub")
    x = imagenet_normalize(torch.rand(1, 3, 126, 168, generator=torch.Generator().manual_seed(2)))
    assert torch.equal(from_hf(x), from_hub(x))


def test_registers_hf_round_trip_and_token_layout() -> None:
    sd = synthetic_state_dict(official_hub_shapes(64, 2, registers=4), seed=3)
    hf = hub_to_hf_state_dict(sd)
    assert set(hf) == official_hf_keys(2, registers=True)
    model = load_dinov2_state_dict({"dinov2." + k: v for k, v in hf.items()}, "hf")
    assert model.cfg.num_registers == 4 and model.cfg.num_heads == 1
    feats = model.forward_features(imagenet_normalize(torch.rand(1, 3, 56, 42)))
    assert feats["registers"].shape == (1, 4, 64) and feats["patch_tokens"].shape == (1, 12, 64)


def reference_forward(sd: dict[str, Tensor], x: Tensor, heads: int, depth: int) -> Tensor:
    """Plain functional DINOv2 straight from the hub tensors, heads handled one at a time."""
    d = sd["cls_token"].shape[-1]
    tok = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=14)
    h0, w0 = tok.shape[-2:]
    tok = tok.flatten(2).transpose(1, 2)
    pos = sd["pos_embed"][:, 1:].reshape(1, 37, 37, d).permute(0, 3, 1, 2)
    pos = F.interpolate(pos, scale_factor=((h0 + 0.1) / 37, (w0 + 0.1) / 37), mode="bicubic")
    pos = torch.cat([sd["pos_embed"][:, :1], pos.flatten(2).transpose(1, 2)], 1)
    z = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), tok], 1) + pos
    hd = d // heads
    for i in range(depth):
        p = f"blocks.{i}."
        y = F.layer_norm(z, (d,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], 1e-6)
        qkv = y @ sd[p + "attn.qkv.weight"].T + sd[p + "attn.qkv.bias"]
        q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        outs = []
        for hh in range(heads):
            sl = slice(hh * hd, (hh + 1) * hd)
            att = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(hd), -1)
            outs.append(att @ v[..., sl])
        a = torch.cat(outs, -1) @ sd[p + "attn.proj.weight"].T + sd[p + "attn.proj.bias"]
        z = z + a * sd[p + "ls1.gamma"]
        y = F.layer_norm(z, (d,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], 1e-6)
        y = F.gelu(y @ sd[p + "mlp.fc1.weight"].T + sd[p + "mlp.fc1.bias"])
        z = z + (y @ sd[p + "mlp.fc2.weight"].T + sd[p + "mlp.fc2.bias"]) * sd[p + "ls2.gamma"]
    return F.layer_norm(z, (d,), sd["norm.weight"], sd["norm.bias"], 1e-6)[:, 0]


def test_forward_matches_a_functional_reference() -> None:
    sd = synthetic_state_dict(official_hub_shapes(128, 2), seed=4)
    model = load_dinov2_state_dict(sd, "synthetic")
    x = imagenet_normalize(torch.rand(2, 3, 98, 140, generator=torch.Generator().manual_seed(5)))
    with torch.no_grad():
        assert torch.allclose(model(x), reference_forward(sd, x, heads=2, depth=2), atol=1e-5)
        full = torch.rand(1, 3, 518, 518)
        assert torch.equal(model.interpolate_pos_encoding(518, 518), model.pos_embed)
        assert model(full).shape == (1, 128)


def test_loader_errors_name_the_problem(tmp_path: Path, vits_sd: dict[str, Tensor]) -> None:
    broken = dict(vits_sd)
    del broken["blocks.3.ls2.gamma"]
    broken["blocks.0.extra"] = torch.zeros(1)
    with pytest.raises(
        ModelError, match=r"missing keys: blocks\.3\.ls2\.gamma.*unexpected keys: blocks\.0\.extra"
    ):
        load_dinov2_state_dict(broken, "broken.pth")
    with pytest.raises(ModelError, match="not a DINOv2 checkpoint"):
        load_dinov2_state_dict({"foo": torch.zeros(1)}, "x.pth")
    with pytest.raises(ModelError, match="not found"):
        load_dinov2(tmp_path / "absent.pth")
    with pytest.raises(ModelError, match="multiple of the 14"):
        DinoV2(DinoV2Config(64, 1, 1))(torch.zeros(1, 3, 30, 28))


def test_frame_features_from_uint8_frames() -> None:
    model = DinoV2(DinoV2Config(64, 1, 1)).eval()
    frames = torch.randint(0, 256, (5, 90, 160, 3), dtype=torch.uint8)
    feats = frame_features(model, frames, batch_size=2, size=56)
    assert feats.shape == (5, 64) and torch.isfinite(feats).all()
    assert set(DINOV2_PRESETS) == {"dinov2-vits14", "dinov2-vits14-reg", "dinov2-vitb14", "dinov2-vitb14-reg"}


def test_newer_transformers_attention_names() -> None:
    sd = synthetic_state_dict(official_hub_shapes(64, 1), seed=6)
    hf = hub_to_hf_state_dict(sd)
    renamed = {
        k.replace("attention.attention.query", "attention.q_proj")
        .replace("attention.attention.key", "attention.k_proj")
        .replace("attention.attention.value", "attention.v_proj")
        .replace("attention.output.dense", "attention.o_proj"): v
        for k, v in hf.items()
    }
    x = imagenet_normalize(torch.rand(1, 3, 28, 28))
    assert torch.equal(load_dinov2_state_dict(renamed, "new")(x), load_dinov2_state_dict(sd, "hub")(x))
