"""The continuous transformer inside Stable Audio 3's DiT: adaLN blocks with self-attention (partial rotary,
RMS q/k norm, optionally differential), cross-attention to the text tokens, the inpainting local
conditioning, a SwiGLU feed-forward and prepended memory tokens.

Module and parameter names follow upstream's state dict (Stability-AI/stable-audio-3,
``models/transformer.py``) so a checkpoint loads with strict key matching; the code is ours.
"""

from __future__ import annotations

from typing import cast

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

    def inv_rms(self, x: Tensor) -> Tensor:
        # One reduction kernel (F.rms_norm runs as pow + mean + mul on the CPU).
        d = x.shape[-1]
        sq = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(d).add_(self.eps)
        return sq.rsqrt_()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.inv_rms(x) * self.gamma


class RotaryEmbedding(nn.Module):
    """Rotary frequencies for the first ``dim`` channels of each head (the rest pass through)."""

    inv_freq: Tensor

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        # Persistent: upstream checkpoints carry it, and strict loading checks it.
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def cos_sin(self, n: int, device: torch.device) -> Rope:
        t = torch.arange(n, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(device=device, dtype=torch.float32))
        freqs = torch.cat((freqs, freqs), dim=-1)[:, None, None, :]  # broadcast over [B, N, k, H, Dh]
        return freqs.cos(), freqs.sin()


def apply_rotary(t: Tensor, rope: Rope) -> Tensor:
    """Rotate the first ``rot_dim`` channels (halves paired, GPT-NeoX style) in float32, in place on a float32
    ``t`` (a fresh tensor); ``rope`` broadcasts against ``t[..., :rot_dim]``."""
    cos, sin = rope
    half = cos.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]  # both halves of upstream's cat(freqs, freqs) are equal
    x1, x2 = t[..., :half], t[..., half : 2 * half]
    a = x1.clone()
    x1.mul_(c).addcmul_(x2, s, value=-1.0)
    x2.mul_(c).addcmul_(a, s)
    return t


class Attention(nn.Module):
    """Multi-head attention; ``differential`` subtracts a second attention map's output (SA3 Medium)."""

    def __init__(self, cfg: SA3DiTConfig, cross: bool) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.heads = cfg.num_heads
        self.dim_heads = cfg.dim_heads
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

    def project_kv(self, context: Tensor) -> tuple[Tensor, ...]:
        """Keys/values of the (constant) text context, normed, [B, H, S, Dh]: reusable across sampler steps."""
        b, n, _ = context.shape
        parts = self.to_kv(context).view(b, n, -1, self.heads, self.dim_heads).unbind(2)
        keys = [self.k_norm(k) if self.qk_norm else k for k in parts[:-1]]
        return tuple(t.transpose(1, 2) for t in (*keys, parts[-1]))

    def _attend(self, qs: list[Tensor], ks: list[Tensor], v: Tensor) -> Tensor:
        out = F.scaled_dot_product_attention(qs[0], ks[0], v)
        if self.differential:
            out = out - F.scaled_dot_product_attention(qs[1], ks[1], v)
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))

    def forward(
        self, x: Tensor, rope: Rope | None = None, context_kv: tuple[Tensor, ...] | None = None
    ) -> Tensor:
        b, n, _ = x.shape
        h, dh = self.heads, self.dim_heads
        if self.cross:
            assert context_kv is not None
            q = self.to_q(x).view(b, n, -1, h, dh)
            if self.qk_norm:
                q = q * self.q_norm.inv_rms(q) * self.q_norm.gamma
            qs = [t.transpose(1, 2) for t in q.unbind(2)]
            return self._attend(qs, list(context_kv[:-1]), context_kv[-1])
        qkv = self.to_qkv(x).view(b, n, -1, h, dh)
        # Upstream's chunk order: q, k, v (then q_diff, k_diff): normalise and rotate all q/k slabs at once.
        idx = [0, 1, 3, 4] if self.differential else [0, 1]
        qk = qkv[:, :, idx] if self.differential else qkv[:, :, :2]
        v = qkv[:, :, 2].transpose(1, 2)
        if self.qk_norm:
            gamma = torch.stack([self.q_norm.gamma, self.k_norm.gamma] * (len(idx) // 2)).unsqueeze(1)
            qk = qk * self.q_norm.inv_rms(qk) * gamma
        if rope is not None:
            dtype = qk.dtype
            qk = apply_rotary(qk.float() if dtype != torch.float32 else qk.contiguous(), rope).to(dtype)
        parts = [t.transpose(1, 2) for t in qk.unbind(2)]
        qs, ks = parts[0::2], parts[1::2]
        return self._attend(qs, ks, v)


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

    def _modulated(self, norm: RMSNorm, x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
        # norm(x) * (1 + scale) + shift with the gain folded into the per-channel factor: two passes over x
        return torch.addcmul(shift, x * norm.inv_rms(x), norm.gamma * (1 + scale))

    def forward(
        self,
        x: Tensor,
        global_cond: Tensor,
        rope: Rope,
        context_kv: tuple[Tensor, ...],
        local_emb: Tensor | None,
        n_memory: int = 0,
    ) -> Tensor:
        """``local_emb`` is [B, T, D] for the tokens after the ``n_memory`` memory tokens (see ``local_embedding``)."""
        ss = (self.to_scale_shift_gate + global_cond).unsqueeze(1)
        scale_a, shift_a, gate_a, scale_f, shift_f, gate_f = ss.chunk(6, dim=-1)
        h = self._modulated(self.pre_norm, x, scale_a, shift_a)
        x = torch.addcmul(x, self.self_attn(h, rope=rope), torch.sigmoid(1 - gate_a))
        x = x + self.cross_attn(self.cross_attend_norm(x), context_kv=context_kv)
        if local_emb is not None:
            if torch.is_grad_enabled():
                x = x + F.pad(local_emb, (0, 0, n_memory, 0))
            else:
                x[:, n_memory:].add_(
                    local_emb
                )  # x is this block's own tensor; memory tokens get zeros upstream
        h = self._modulated(self.ff_norm, x, scale_f, shift_f)
        return torch.addcmul(x, self.ff(h), torch.sigmoid(1 - gate_f))

    def local_embedding(self, local: Tensor) -> Tensor | None:
        """The inpainting condition [B, T, 257] -> [B, T, D] (constant over a sampling run: compute once)."""
        if self.to_local_embed is None:
            return None
        return self.to_local_embed(local)


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

    @property
    def blocks(self) -> list[TransformerBlock]:
        return cast(list[TransformerBlock], list(self.layers))

    def context_kv(self, context: Tensor) -> list[tuple[Tensor, ...]]:
        return [block.cross_attn.project_kv(context) for block in self.blocks]

    def local_embeddings(self, local: Tensor) -> list[Tensor | None]:
        """Per-layer embeddings of the inpainting condition [B, T, local_add_cond_dim]."""
        return [block.local_embedding(local) for block in self.blocks]

    def forward(
        self,
        x: Tensor,
        global_embed: Tensor,
        context_kv: list[tuple[Tensor, ...]],
        local_embs: list[Tensor | None] | None,
    ) -> Tensor:
        """x [B, T, io] -> [B, T, io]; ``local_embs`` from ``local_embeddings`` (or None: no local condition)."""
        b = x.shape[0]
        x = self.project_in(x)
        m = self.num_memory_tokens
        if m:
            x = torch.cat((self.memory_tokens.expand(b, -1, -1).to(x.dtype), x), dim=1)
        rope = self.rotary_pos_emb.cos_sin(x.shape[1], x.device)
        g = self.global_cond_embedder(global_embed)
        embs = local_embs if local_embs is not None else [None] * len(self.layers)
        for layer, kv, emb in zip(self.layers, context_kv, embs, strict=True):
            x = layer(x, g, rope, kv, emb, m)
        return self.project_out(x[:, m:, :])
