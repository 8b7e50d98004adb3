"""The continuous transformer inside Stable Audio 3's DiT: adaLN blocks with self-attention (partial rotary,
RMS q/k norm, optionally differential), cross-attention to the text tokens, the inpainting local
conditioning, a SwiGLU feed-forward and prepended memory tokens.

Module and parameter names follow upstream's state dict (Stability-AI/stable-audio-3,
``models/transformer.py``) so a checkpoint loads with strict key matching; the code is ours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.models.sa3_config import SA3DiTConfig

Rope = tuple[Tensor, Tensor]  # cos, sin: [N, rot_dim] float32


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, x.shape[-1:], weight=self.gamma, eps=self.eps)


class RotaryEmbedding(nn.Module):
    """Rotary frequencies for the first ``dim`` channels of each head (the rest pass through)."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        # Persistent: upstream checkpoints carry it, and strict loading checks it.
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def cos_sin(self, n: int, device: torch.device) -> Rope:
        t = torch.arange(n, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(device=device, dtype=torch.float32))
        freqs = torch.cat((freqs, freqs), dim=-1)
        return freqs.cos(), freqs.sin()


def apply_rotary(t: Tensor, rope: Rope) -> Tensor:
    """Rotate the first ``rot_dim`` channels (halves paired, GPT-NeoX style) in float32."""
    cos, sin = rope
    rot = cos.shape[-1]
    dtype = t.dtype
    x, rest = t[..., :rot].float(), t[..., rot:]
    x1, x2 = x.chunk(2, dim=-1)
    x = x * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat((x.to(dtype), rest), dim=-1)


class Attention(nn.Module):
    """Multi-head attention; ``differential`` subtracts a second attention map's output (SA3 Medium)."""

    def __init__(self, cfg: SA3DiTConfig, cross: bool) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.heads = cfg.num_heads
        self.differential = cfg.differential
        self.cross = cross
        if cross:
            self.to_q = nn.Linear(d, d * (2 if cfg.differential else 1), bias=False)
            self.to_kv = nn.Linear(d, d * (3 if cfg.differential else 2), bias=False)
        else:
            self.to_qkv = nn.Linear(d, d * (5 if cfg.differential else 3), bias=False)
        self.to_out = nn.Linear(d, d, bias=False)
        self.qk_norm = cfg.qk_norm == "rms"
        if self.qk_norm:
            self.q_norm = RMSNorm(cfg.dim_heads, cfg.qk_norm_eps)
            self.k_norm = RMSNorm(cfg.dim_heads, cfg.qk_norm_eps)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.heads, -1).transpose(1, 2)

    def project_kv(self, context: Tensor) -> tuple[Tensor, ...]:
        """Keys/values of the (constant) text context, normed: reusable across sampler steps."""
        parts = [self._heads(p) for p in self.to_kv(context).chunk(3 if self.differential else 2, dim=-1)]
        if self.qk_norm:
            for i in range(len(parts) - 1):  # keys (and the differential keys), not values
                parts[i] = self.k_norm(parts[i])
        return tuple(parts)

    def forward(
        self, x: Tensor, rope: Rope | None = None, context_kv: tuple[Tensor, ...] | None = None
    ) -> Tensor:
        if self.cross:
            assert context_kv is not None
            qs = [self._heads(q) for q in self.to_q(x).chunk(2 if self.differential else 1, dim=-1)]
            ks, v = list(context_kv[:-1]), context_kv[-1]
            if self.qk_norm:
                qs = [self.q_norm(q) for q in qs]
        else:
            parts = [self._heads(p) for p in self.to_qkv(x).chunk(5 if self.differential else 3, dim=-1)]
            if self.differential:
                qs, ks, v = [parts[0], parts[3]], [parts[1], parts[4]], parts[2]
            else:
                qs, ks, v = [parts[0]], [parts[1]], parts[2]
            if self.qk_norm:
                qs = [self.q_norm(q) for q in qs]
                ks = [self.k_norm(k) for k in ks]
            if rope is not None:
                qs = [apply_rotary(q, rope).to(v.dtype) for q in qs]
                ks = [apply_rotary(k, rope).to(v.dtype) for k in ks]
        out = F.scaled_dot_product_attention(qs[0], ks[0], v)
        if self.differential:
            out = out - F.scaled_dot_product_attention(qs[1], ks[1], v)
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _GLU(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: Tensor) -> Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: float) -> None:
        super().__init__()
        inner = int(dim * mult)
        # Identity slots keep upstream's indices (ff.ff.0.proj, ff.ff.2).
        self.ff = nn.Sequential(_GLU(dim, inner), nn.Identity(), nn.Linear(inner, dim), nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.ff(x)


def _mlp(d_in: int, d_out: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_out, bias=bias), nn.SiLU(), nn.Linear(d_out, d_out, bias=bias))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: SA3DiTConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.pre_norm = RMSNorm(d, cfg.norm_eps)
        self.self_attn = Attention(cfg, cross=False)
        self.cross_attend_norm = RMSNorm(d, cfg.norm_eps)
        self.cross_attn = Attention(cfg, cross=True)
        self.ff_norm = RMSNorm(d, cfg.norm_eps)
        self.ff = FeedForward(d, cfg.ff_mult)
        self.to_scale_shift_gate = nn.Parameter(torch.randn(6 * d) / d**0.5)
        self.to_local_embed = _mlp(cfg.local_add_cond_dim, d, bias=True) if cfg.local_add_cond_dim else None

    def forward(
        self,
        x: Tensor,
        global_cond: Tensor,
        rope: Rope,
        context_kv: tuple[Tensor, ...],
        local_emb: Tensor | None,
    ) -> Tensor:
        ss = (self.to_scale_shift_gate + global_cond).unsqueeze(1)
        scale_a, shift_a, gate_a, scale_f, shift_f, gate_f = ss.chunk(6, dim=-1)
        h = self.pre_norm(x) * (1 + scale_a) + shift_a
        x = x + self.self_attn(h, rope=rope) * torch.sigmoid(1 - gate_a)
        x = x + self.cross_attn(self.cross_attend_norm(x), context_kv=context_kv)
        if local_emb is not None:
            x = x + local_emb
        h = self.ff_norm(x) * (1 + scale_f) + shift_f
        return x + self.ff(h) * torch.sigmoid(1 - gate_f)

    def local_embedding(self, local: Tensor, n_memory: int) -> Tensor | None:
        """The inpainting condition [B, T, 257] -> [B, M + T, D], zero over the memory tokens."""
        if self.to_local_embed is None:
            return None
        emb = self.to_local_embed(local)
        return F.pad(emb, (0, 0, n_memory, 0))


class ContinuousTransformer(nn.Module):
    def __init__(self, cfg: SA3DiTConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.cfg = cfg
        self.project_in = nn.Linear(cfg.io_channels, d, bias=False)
        self.project_out = nn.Linear(d, cfg.io_channels, bias=False)
        self.rotary_pos_emb = RotaryEmbedding(cfg.rotary_dim)
        self.num_memory_tokens = cfg.num_memory_tokens
        if cfg.num_memory_tokens:
            self.memory_tokens = nn.Parameter(torch.randn(cfg.num_memory_tokens, d))
        self.global_cond_embedder = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d * 6))
        self.layers = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.depth)])

    def context_kv(self, context: Tensor) -> list[tuple[Tensor, ...]]:
        return [layer.cross_attn.project_kv(context) for layer in self.layers]

    def forward(
        self,
        x: Tensor,
        global_embed: Tensor,
        context_kv: list[tuple[Tensor, ...]],
        local: Tensor | None,
    ) -> Tensor:
        """x [B, T, io] -> [B, T, io]; ``local`` is [B, T, local_add_cond_dim] or None."""
        b = x.shape[0]
        x = self.project_in(x)
        m = self.num_memory_tokens
        if m:
            x = torch.cat((self.memory_tokens.expand(b, -1, -1).to(x.dtype), x), dim=1)
        rope = self.rotary_pos_emb.cos_sin(x.shape[1], x.device)
        g = self.global_cond_embedder(global_embed)
        for layer, kv in zip(self.layers, context_kv, strict=True):
            local_emb = layer.local_embedding(local, m) if local is not None else None
            x = layer(x, g, rope, kv, local_emb)
        return self.project_out(x[:, m:, :])
