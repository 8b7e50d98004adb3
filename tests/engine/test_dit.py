"""DiT: SAO key names, parameter counts of the large presets (meta), rotary, KV-head repetition, frame path."""

from __future__ import annotations

import pytest
import torch

from triergon_studio.engine.config import DiTConfig, get_preset
from triergon_studio.engine.models.dit import Attention, DiffusionTransformer, RotaryEmbedding, apply_rotary


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize(("name", "target"), [("tri-ergon-s", 881e6), ("tri-ergon-l", 1.06e9)])
def test_large_preset_param_counts_on_meta(name: str, target: float) -> None:
    cfg = get_preset(name)
    with torch.device("meta"):
        dit = DiffusionTransformer(cfg.dit)
    n = sum(p.numel() for p in dit.parameters())
    assert abs(n - target) / target < 0.01, n
    per_block = sum(p.numel() for p in dit.transformer.layers[0].parameters())
    assert per_block == pytest.approx(43.6e6, rel=0.01)


def test_sao_key_names_and_shapes() -> None:
    with torch.device("meta"):
        dit = DiffusionTransformer(get_preset("sao-1.0").dit)
    sd = dit.state_dict()
    expected = {
        "timestep_features.weight": (128, 1),
        "to_timestep_embed.0.weight": (1536, 256),
        "to_timestep_embed.2.bias": (1536,),
        "to_cond_embed.0.weight": (768, 768),
        "to_cond_embed.2.weight": (768, 768),
        "to_global_embed.0.weight": (1536, 1536),
        "preprocess_conv.weight": (64, 64, 1),
        "postprocess_conv.weight": (64, 64, 1),
        "transformer.project_in.weight": (1536, 64),
        "transformer.project_out.weight": (64, 1536),
        "transformer.layers.23.pre_norm.gamma": (1536,),
        "transformer.layers.23.pre_norm.beta": (1536,),
        "transformer.layers.0.self_attn.to_qkv.weight": (4608, 1536),
        "transformer.layers.0.self_attn.to_out.weight": (1536, 1536),
        "transformer.layers.0.cross_attn.to_q.weight": (1536, 1536),
        "transformer.layers.0.cross_attn.to_kv.weight": (1536, 768),
        "transformer.layers.0.ff.ff.0.proj.weight": (12288, 1536),
        "transformer.layers.0.ff.ff.0.proj.bias": (12288,),
        "transformer.layers.0.ff.ff.2.weight": (1536, 6144),
        "transformer.layers.0.ff.ff.2.bias": (1536,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "to_cond_embed.0.bias" not in sd and "lufs_frame_proj.weight" not in sd
    assert dit.transformer.layers[0].cross_attn.kv_heads == 12
    assert dit.transformer.layers[0].cross_attn.heads == 24


def test_rotary_only_first_half_and_relative() -> None:
    rope = RotaryEmbedding(32)
    freqs = rope(10)
    assert freqs.shape == (10, 32)
    q = torch.randn(1, 1, 10, 64)
    out = apply_rotary(q, freqs)
    torch.testing.assert_close(out[..., 32:], q[..., 32:])
    torch.testing.assert_close(out[..., 0, :], q[..., 0, :])  # position 0 is not rotated
    # relative: <R(i)q, R(j)k> depends only on i - j
    k = torch.randn(1, 1, 10, 64)
    qs, ks = (
        apply_rotary(q[..., :1, :].expand(1, 1, 10, 64), freqs),
        apply_rotary(k[..., :1, :].expand(1, 1, 10, 64), freqs),
    )
    d1 = (qs[..., 3, :] * ks[..., 1, :]).sum()
    d2 = (qs[..., 7, :] * ks[..., 5, :]).sum()
    torch.testing.assert_close(d1, d2, atol=1e-4, rtol=1e-4)


def test_kv_heads_repeat_interleaved() -> None:
    torch.manual_seed(0)
    att = Attention(128, 32, dim_context=64)  # 4 query heads, 2 kv heads
    _randomize(att)
    x, ctx = torch.randn(2, 5, 128), torch.randn(2, 3, 64)
    q = att.to_q(x).view(2, 5, 4, 32).transpose(1, 2)
    k, v = (t.view(2, 3, 2, 32).transpose(1, 2) for t in att.to_kv(ctx).chunk(2, dim=-1))
    k, v = k[:, [0, 0, 1, 1]], v[:, [0, 0, 1, 1]]
    w = torch.softmax(q @ k.transpose(-1, -2) / 32**0.5, dim=-1)
    ref = att.to_out((w @ v).transpose(1, 2).reshape(2, 5, 128))
    torch.testing.assert_close(att(x, context=ctx), ref, atol=1e-5, rtol=1e-5)


def _tiny_dit(mode: str = "tokens") -> DiffusionTransformer:
    cfg = DiTConfig(
        io_channels=8,
        embed_dim=64,
        depth=2,
        num_heads=2,
        cond_token_dim=64,
        global_cond_dim=128,
        lufs_mode=mode,
    )  # type: ignore[arg-type]
    torch.manual_seed(0)
    dit = DiffusionTransformer(cfg).eval()
    _randomize(dit)
    return dit


def test_forward_shapes_and_conditioning_matters() -> None:
    dit = _tiny_dit()
    x, t = torch.randn(2, 8, 37), torch.tensor([0.3, 0.9])
    ctx, g = torch.randn(2, 12, 64), torch.randn(2, 128)
    out = dit(x, t, ctx, g)
    assert out.shape == x.shape
    assert not torch.allclose(out, dit(x, t, ctx * 0, g))
    assert not torch.allclose(out, dit(x, t, ctx, g * 0))
    assert not torch.allclose(out, dit(x, t * 0.5, ctx, g))
    # batch elements are independent
    torch.testing.assert_close(dit(x[:1], t[:1], ctx[:1], g[:1]), out[:1], atol=1e-5, rtol=1e-5)


def test_frame_path_zero_init_then_active() -> None:
    cfg = DiTConfig(
        io_channels=8,
        embed_dim=64,
        depth=1,
        num_heads=2,
        cond_token_dim=64,
        global_cond_dim=128,
        lufs_mode="tokens+frame",
    )
    dit = DiffusionTransformer(cfg).eval()
    assert dit.lufs_frame_proj is not None
    assert torch.count_nonzero(dit.lufs_frame_proj.weight) == 0
    dit = _tiny_dit("tokens+frame")
    x, t = torch.randn(1, 8, 20), torch.tensor([0.5])
    ctx, g = torch.randn(1, 4, 64), torch.randn(1, 128)
    f = torch.rand(1, 2, 20)
    assert not torch.allclose(dit(x, t, ctx, g, f), dit(x, t, ctx, g, None))
    with pytest.raises(ValueError, match="frames"):
        dit(x, t, ctx, g, torch.rand(1, 2, 7))


def _tiny_cfg(**kw: object) -> DiTConfig:
    return DiTConfig(
        io_channels=8, embed_dim=64, depth=2, num_heads=2, cond_token_dim=64, global_cond_dim=128, **kw
    )  # type: ignore[arg-type]


def test_frame_blocks_start_as_the_same_function_then_reach_every_block() -> None:
    plain = _tiny_dit("tokens+frame")
    blocks = DiffusionTransformer(_tiny_cfg(lufs_mode="tokens+frame", lufs_frame_blocks=True)).eval()
    missing, unexpected = blocks.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected
    assert sorted({k.split(".")[0] for k in missing}) == ["lufs_frame_block_proj", "lufs_frame_embed"]
    assert blocks.lufs_frame_block_proj is not None and len(blocks.lufs_frame_block_proj) == 2
    x, t = torch.randn(2, 8, 20), torch.tensor([0.3, 0.7])
    ctx, g, f = torch.randn(2, 4, 64), torch.randn(2, 128), torch.rand(2, 2, 20)
    # zero-initialised: a checkpoint without the new keys is the same function
    torch.testing.assert_close(blocks(x, t, ctx, g, f), plain(x, t, ctx, g, f))
    # the loss reaches each block's projection (zero weights, so only through their own gradient)
    blocks(x, t, ctx, g, f).square().sum().backward()
    for proj in blocks.lufs_frame_block_proj:
        assert torch.count_nonzero(proj.weight.grad) > 0  # type: ignore[union-attr, index]
    # once trained, the curve changes the output through the blocks even with the input path off
    with torch.no_grad():
        assert plain.lufs_frame_proj is not None and blocks.lufs_frame_proj is not None
        blocks.lufs_frame_proj.weight.zero_()
        blocks.lufs_frame_proj.bias.zero_()
        blocks.lufs_frame_block_proj[1].weight.normal_(std=0.1)  # type: ignore[union-attr]
    assert not torch.allclose(blocks(x, t, ctx, g, f), blocks(x, t, ctx, g, f.flip(-1)))
    # without a curve (dropped) neither path is used
    torch.testing.assert_close(blocks(x, t, ctx, g, None), plain(x, t, ctx, g, None))


def test_frame_blocks_need_the_frame_path() -> None:
    from triergon_studio.errors import ModelError

    with pytest.raises(ModelError, match="lufs_frame_blocks"):
        _tiny_cfg(lufs_mode="tokens", lufs_frame_blocks=True).validate()
