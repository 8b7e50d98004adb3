"""Diffusion transformer of Stable Audio Open (``continuous_transformer``), the Tri-Ergon denoiser.

Pre-norm blocks: self-attention with rotary embedding on the first half of each head (the prepended global
token counts as position 0), cross-attention to the condition tokens with fewer KV heads repeated to the
query heads, SwiGLU feed-forward. The timestep (Fourier features) plus the global condition is prepended as
one token and removed at the output. Module names follow the Stable Audio Open keys (SPEC §3): with its
``model.model.`` prefix replaced by ``dit.`` a checkpoint loads strictly.

Tri-Ergon addition (config ``lufs_mode="tokens+frame"``): L/R loudness curves at the latent frame rate go
through a zero-initialised ``lufs_frame_proj`` Linear(2 -> dim) and are added to the input tokens after
``project_in``, a ControlNet/Sketch2Sound-style frame-aligned path next to the paper's cross-attention path.
With ``lufs_frame_blocks`` the curves also reach every block: ``lufs_frame_embed`` (a width-5 conv over the
frames, SiLU) and one zero-initialised ``lufs_frame_block_proj`` Linear per block, added to the frame tokens
before the block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.config import DiTConfig


class FourierFeatures(nn.Module):
    """``[cos(2 pi x W^T), sin(2 pi x W^T)]`` with a fixed-at-init, trainable W of shape [out/2, in]."""

    def __init__(self, in_features: int, out_features: int, std: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)

    def forward(self, x: Tensor) -> Tensor:
        f = 2 * math.pi * x @ self.weight.T.to(x.dtype)
        return torch.cat([f.cos(), f.sin()], dim=-1)


class LayerNorm(nn.Module):
    """LayerNorm with a learned gamma and a fixed zero beta (a buffer, saved in the state dict)."""

    beta: Tensor  # a registered buffer

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma.to(x.dtype), self.beta.to(x.dtype), self.eps)


class RotaryEmbedding(nn.Module):
    inv_freq: Tensor  # a registered buffer

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, seq_len: int) -> Tensor:
        pos = torch.arange(seq_len, device=self.inv_freq.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq.float()[None, :]
        return torch.cat([freqs, freqs], dim=-1)  # [N, dim]


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(t: Tensor, freqs: Tensor) -> Tensor:
    """Rotate the first ``freqs.shape[-1]`` dims of each head of ``t`` [B, H, N, D]; the rest pass through."""
    rot = freqs.shape[-1]
    dtype = t.dtype
    t_rot, t_pass = t[..., :rot].float(), t[..., rot:]
    t_rot = t_rot * freqs.cos() + _rotate_half(t_rot) * freqs.sin()
    return torch.cat([t_rot.to(dtype), t_pass], dim=-1)


class Attention(nn.Module):
    def __init__(
        self, dim: int, head_dim: int, dim_context: int | None = None, qk_norm: bool = False
    ) -> None:
        super().__init__()
        self.heads = dim // head_dim
        self.head_dim = head_dim
        if dim_context is not None:
            self.kv_heads = dim_context // head_dim
            self.to_q = nn.Linear(dim, dim, bias=False)
            self.to_kv = nn.Linear(dim_context, 2 * dim_context, bias=False)
        else:
            self.kv_heads = self.heads
            self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.to_out.weight)
        # SAO Small: LayerNorm over each head's q and k, before the rotary embedding.
        self.q_norm: nn.LayerNorm | None = nn.LayerNorm(head_dim, eps=1e-6) if qk_norm else None
        self.k_norm: nn.LayerNorm | None = nn.LayerNorm(head_dim, eps=1e-6) if qk_norm else None

    def _split(self, t: Tensor, heads: int) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, heads, self.head_dim).transpose(1, 2)

    def _norm_qk(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        if self.q_norm is None or self.k_norm is None:
            return q, k
        return self.q_norm(q).to(q.dtype), self.k_norm(k).to(k.dtype)

    def forward(self, x: Tensor, context: Tensor | None = None, rotary: Tensor | None = None) -> Tensor:
        if context is None:
            q, k, v = (self._split(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
            q, k = self._norm_qk(q, k)
            if rotary is not None:
                q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        else:
            q = self._split(self.to_q(x), self.heads)
            k, v = (self._split(t, self.kv_heads) for t in self.to_kv(context).chunk(2, dim=-1))
            q, k = self._norm_qk(q, k)
            if self.kv_heads != self.heads:
                rep = self.heads // self.kv_heads
                k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(q, k, v)
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class GLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x: Tensor) -> Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        inner = dim * mult
        out = nn.Linear(inner, dim)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        # Identity slots keep the checkpoint indices: ff.ff.0.proj, ff.ff.2.
        self.ff = nn.Sequential(GLU(dim, inner), nn.Identity(), out, nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.ff(x)


class TransformerBlock(nn.Module):
    def __init__(
        self, dim: int, head_dim: int, dim_context: int, ff_mult: int, qk_norm: bool = False
    ) -> None:
        super().__init__()
        self.pre_norm = LayerNorm(dim)
        self.self_attn = Attention(dim, head_dim, qk_norm=qk_norm)
        self.cross_attend_norm = LayerNorm(dim)
        self.cross_attn = Attention(dim, head_dim, dim_context=dim_context, qk_norm=qk_norm)
        self.ff_norm = LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x: Tensor, context: Tensor | None, rotary: Tensor) -> Tensor:
        x = x + self.self_attn(self.pre_norm(x), rotary=rotary)
        if context is not None:
            x = x + self.cross_attn(self.cross_attend_norm(x), context=context)
        return x + self.ff(self.ff_norm(x))


class ContinuousTransformer(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.project_in = nn.Linear(cfg.io_channels, dim, bias=False)
        self.project_out = nn.Linear(dim, cfg.io_channels, bias=False)
        self.rotary_pos_emb = RotaryEmbedding(max(cfg.head_dim // 2, 32))
        self.layers = nn.ModuleList(
            TransformerBlock(dim, cfg.head_dim, cfg.context_dim, cfg.ff_mult, cfg.qk_norm == "ln")
            for _ in range(cfg.depth)
        )

    def forward(
        self,
        x: Tensor,
        prepend: Tensor,
        context: Tensor | None,
        input_add: Tensor | None = None,
        block_adds: list[Tensor] | None = None,
    ) -> Tensor:
        h = self.project_in(x)
        if input_add is not None:
            h = h + input_add
        h = torch.cat([prepend, h], dim=1)
        rotary = self.rotary_pos_emb(h.shape[1])
        for i, layer in enumerate(self.layers):
            if block_adds is not None:
                h = h + block_adds[i]
            h = layer(h, context, rotary)
        return self.project_out(h)


class DiffusionTransformer(nn.Module):
    """``forward(x [B, C, T], t [B], cond_tokens [B, N, d] | None, global_cond [B, G] | None,
    frame_cond [B, 2, T] | None) -> v [B, C, T]``."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        dim, c = cfg.embed_dim, cfg.io_channels
        self.timestep_features = FourierFeatures(1, 256)
        self.to_timestep_embed = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))
        d_cond, d_ctx = cfg.cond_token_dim, cfg.context_dim
        self.to_cond_embed = nn.Sequential(
            nn.Linear(d_cond, d_ctx, bias=False), nn.SiLU(), nn.Linear(d_ctx, d_ctx, bias=False)
        )
        self.to_global_embed = nn.Sequential(
            nn.Linear(cfg.global_cond_dim, dim, bias=False), nn.SiLU(), nn.Linear(dim, dim, bias=False)
        )
        self.transformer = ContinuousTransformer(cfg)
        self.preprocess_conv = nn.Conv1d(c, c, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(c, c, 1, bias=False)
        nn.init.zeros_(self.preprocess_conv.weight)
        nn.init.zeros_(self.postprocess_conv.weight)
        self.lufs_frame_proj: nn.Linear | None = None
        if cfg.lufs_mode == "tokens+frame":
            self.lufs_frame_proj = nn.Linear(2, dim)
            nn.init.zeros_(self.lufs_frame_proj.weight)
            nn.init.zeros_(self.lufs_frame_proj.bias)
        self.lufs_frame_embed: nn.Conv1d | None = None
        self.lufs_frame_block_proj: nn.ModuleList | None = None
        if cfg.lufs_frame_blocks:
            self.lufs_frame_embed = nn.Conv1d(2, dim, 5, padding=2, padding_mode="replicate")
            projs = [nn.Linear(dim, dim) for _ in range(cfg.depth)]
            for proj in projs:
                nn.init.zeros_(proj.weight)
                nn.init.zeros_(proj.bias)
            self.lufs_frame_block_proj = nn.ModuleList(projs)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        cond_tokens: Tensor | None = None,
        global_cond: Tensor | None = None,
        frame_cond: Tensor | None = None,
    ) -> Tensor:
        dtype = self.transformer.project_in.weight.dtype
        x, t = x.to(dtype), t.to(dtype)
        context = self.to_cond_embed(cond_tokens.to(dtype)) if cond_tokens is not None else None
        g = self.to_timestep_embed(self.timestep_features(t.reshape(-1, 1)))
        if global_cond is not None:
            g = g + self.to_global_embed(global_cond.to(dtype))
        x = self.preprocess_conv(x) + x
        add = None
        if frame_cond is not None and self.lufs_frame_proj is not None:
            if frame_cond.shape[-1] != x.shape[-1]:
                raise ValueError(
                    f"frame condition has {frame_cond.shape[-1]} frames, latent has {x.shape[-1]}"
                )
            add = self.lufs_frame_proj(frame_cond.to(dtype).transpose(1, 2))
        block_adds = None
        if (
            frame_cond is not None
            and self.lufs_frame_embed is not None
            and self.lufs_frame_block_proj is not None
        ):
            e = F.silu(self.lufs_frame_embed(frame_cond.to(dtype))).transpose(1, 2)
            # a zero row for the prepended timestep token, which the curve does not touch
            block_adds = [F.pad(proj(e), (0, 0, 1, 0)) for proj in self.lufs_frame_block_proj]
        out = self.transformer(x.transpose(1, 2), g[:, None, :], context, add, block_adds)
        out = out[:, 1:, :].transpose(1, 2)
        return self.postprocess_conv(out) + out
