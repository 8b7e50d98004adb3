"""Stable Audio 3's diffusion transformer (Small: 20 x 1024, Medium: 24 x 1536 with differential attention)
and its two learned conditioners (the duration embedder and the prompt padding embedding).

Parameter names follow upstream's checkpoint (Stability-AI/stable-audio-3 ``models/dit.py`` under
``model.model.``, ``models/conditioners.py`` under ``conditioner.conditioners.``); the code is ours. The
objective is a rectified flow in ``t`` (x_t = (1 - t) x0 + t noise, the network predicts ``noise - x0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from triergon_studio.engine.models.sa3_config import SA3Config, SA3DiTConfig
from triergon_studio.engine.models.sa3_transformer import ContinuousTransformer, _mlp

DIT_PREFIX = "model.model."
COND_PREFIX = "conditioner.conditioners."
AE_PREFIX = "pretransform.model."

_LOGSNR_MIN, _LOGSNR_MAX = -12.0, 5.0


def expo_fourier_features(t: Tensor, dim: int, min_freq: float = 0.5, max_freq: float = 10000.0) -> Tensor:
    """[B] -> [B, dim] cos/sin features at log-spaced frequencies, in float32."""
    half = dim // 2
    ramp = torch.linspace(0, 1, half, device=t.device, dtype=torch.float32)
    freqs = torch.exp(ramp * (math.log(max_freq) - math.log(min_freq)) + math.log(min_freq))
    args = t.float().reshape(-1, 1) * freqs * 2 * math.pi
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


@dataclass(slots=True)
class DiTCond:
    """What one DiT evaluation needs besides ``x`` and ``t`` (raw 768-d tokens; projections are inside)."""

    context: Tensor  # [B, S, cond_token_dim]: prompt tokens + the duration token
    global_cond: Tensor  # [B, global_cond_dim]: the duration embedding
    local: Tensor | None = None  # [B, 1 + io, T]: keep-mask and masked known latents (upstream's layout)
    negative_context: Tensor | None = None  # for guidance; zeros when None


class SA3DiT(nn.Module):
    """``forward(x [B, C, T], t [B], cond) -> v [B, C, T]`` without guidance; ``guided`` adds CFG/APG."""

    def __init__(self, cfg: SA3DiTConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.cfg = cfg
        self.to_timestep_embed = _mlp(cfg.timestep_features_dim, d, bias=True)
        self.to_cond_embed = _mlp(cfg.cond_token_dim, d, bias=False)
        self.to_global_embed = _mlp(cfg.global_cond_dim, d, bias=False)
        self.transformer = ContinuousTransformer(cfg)
        self.preprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.preprocess_conv.weight.dtype

    def _t_cond(self, t: Tensor) -> Tensor:
        if not self.cfg.timestep_features_logsnr:
            return t
        tc = t.float().clamp(1e-7, 1 - 1e-7)
        logsnr = torch.log((1 - tc) / tc).clamp(_LOGSNR_MIN, _LOGSNR_MAX)
        return (_LOGSNR_MAX - logsnr) / (_LOGSNR_MAX - _LOGSNR_MIN)

    def context_kv(self, context: Tensor) -> list[tuple[Tensor, ...]]:
        """The text context's per-layer keys/values (constant over a sampling run: compute once)."""
        return self.transformer.context_kv(self.to_cond_embed(context.to(self.dtype)))

    def local_embeddings(self, local: Tensor | None) -> list[Tensor | None] | None:
        """Per-layer embeddings of the inpainting condition [B, 1 + io, T] (constant over a sampling run)."""
        if local is None:
            return None
        return self.transformer.local_embeddings(local.to(self.dtype).transpose(1, 2))

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        cond: DiTCond,
        context_kv: list[tuple[Tensor, ...]] | None = None,
        local_embs: list[Tensor | None] | None = None,
    ) -> Tensor:
        dtype = self.dtype
        x = x.to(dtype)
        kv = context_kv if context_kv is not None else self.context_kv(cond.context)
        g = self.to_global_embed(cond.global_cond.to(dtype))
        # t stays float32 into the features (bf16 would quantise it), as upstream.
        t_feat = expo_fourier_features(self._t_cond(t.float()).to(dtype), self.cfg.timestep_features_dim)
        g = g + self.to_timestep_embed(t_feat.to(dtype))
        x = self.preprocess_conv(x) + x
        embs = local_embs if local_embs is not None else self.local_embeddings(cond.local)
        out = self.transformer(x.transpose(1, 2), g, kv, embs).transpose(1, 2)
        return self.postprocess_conv(out) + out

    def guided(
        self,
        x: Tensor,
        t: Tensor,
        cond: DiTCond,
        cfg_scale: float,
        apg_scale: float = 1.0,
        context_kv: list[tuple[Tensor, ...]] | None = None,
        uncond_kv: list[tuple[Tensor, ...]] | None = None,
        local_embs: list[Tensor | None] | None = None,
    ) -> Tensor:
        """Classifier-free guidance in the clean-latent space, with adaptive projected guidance: with
        ``apg_scale`` 1 only the part of (cond - uncond) orthogonal to the conditional estimate is added,
        as upstream's default. The unconditional branch uses the negative prompt, else zero tokens."""
        if local_embs is None:
            local_embs = self.local_embeddings(cond.local)
        if cfg_scale == 1.0:
            return self(x, t, cond, context_kv, local_embs)
        neg = cond.negative_context if cond.negative_context is not None else torch.zeros_like(cond.context)
        v_c = self(x, t, cond, context_kv, local_embs)
        v_u = self(x, t, DiTCond(neg, cond.global_cond, cond.local), uncond_kv, local_embs)
        xf = x.to(v_c.dtype)
        sigma = t.to(v_c.dtype)[:, None, None]
        d_c = xf - v_c * sigma
        d_u = xf - v_u * sigma
        diff = d_c - d_u
        if apg_scale != 0.0:
            dcf = d_c.float()
            unit = dcf / dcf.norm(dim=(-1, -2), keepdim=True).clamp_min(1e-12)  # F.normalize over both dims
            par = (diff.float() * unit).sum(dim=[-1, -2], keepdim=True) * unit
            orth = (diff.float() - par).to(diff.dtype)
            diff = orth if apg_scale == 1.0 else apg_scale * orth + (1 - apg_scale) * diff
        d = d_c + (cfg_scale - 1) * diff
        return (xf - d) / sigma


class _Embedder(nn.Module):
    """``embedder.embedding.1`` in the checkpoint: index 0 is the parameter-free Fourier features."""

    def __init__(self, features: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Sequential(nn.Identity(), nn.Linear(features, dim))

    @property
    def linear(self) -> nn.Linear:
        return cast(nn.Linear, self.embedding[1])


class SecondsEmbedder(nn.Module):
    """``seconds_total`` -> one 768-d token (upstream's NumberConditioner with expo features)."""

    def __init__(self, dim: int, min_val: float, max_val: float, features: int = 256) -> None:
        super().__init__()
        self.min_val, self.max_val, self.features = min_val, max_val, features
        self.embedder = _Embedder(features, dim)

    def forward(self, seconds: Tensor) -> Tensor:
        s = seconds.float().clamp(self.min_val, self.max_val)
        norm = (s - self.min_val) / (self.max_val - self.min_val)
        lin = self.embedder.linear
        feats = expo_fourier_features(norm, self.features).to(lin.weight.dtype)
        return lin(feats).unsqueeze(1)  # [B, 1, dim]


class PromptPadding(nn.Module):
    """The learned embedding that replaces T5Gemma's output at padded token positions."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.padding_embedding = nn.Parameter(torch.randn(dim) * 0.02)

    def forward(self, emb: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask.bool().unsqueeze(-1), emb, self.padding_embedding.to(emb.dtype))


class SA3Conditioners(nn.Module):
    """``conditioner.conditioners.{prompt,seconds_total}`` of the checkpoint."""

    def __init__(self, cfg: SA3Config) -> None:
        super().__init__()
        dim = cfg.dit.cond_token_dim
        self.learned_padding = cfg.text_padding_mode == "learned"
        self.conditioners = nn.ModuleDict(
            {
                "prompt": PromptPadding(dim) if self.learned_padding else nn.Module(),
                "seconds_total": SecondsEmbedder(dim, cfg.seconds_min, cfg.seconds_max),
            }
        )

    def prompt_tokens(self, emb: Tensor, mask: Tensor) -> Tensor:
        """T5Gemma's last hidden state [B, L, 768] + attention mask -> the prompt tokens."""
        if self.learned_padding:
            return self.conditioners["prompt"](emb, mask)
        return emb * mask.unsqueeze(-1).to(emb.dtype)

    def seconds(self, seconds: Tensor) -> Tensor:
        return self.conditioners["seconds_total"](seconds)


def build_cond(
    conditioners: SA3Conditioners,
    prompt_emb: Tensor,
    prompt_mask: Tensor,
    seconds: float,
    negative: tuple[Tensor, Tensor] | None = None,
) -> DiTCond:
    """Upstream's conditioning: context = prompt tokens + the duration token; global = the duration token.
    A negative prompt keeps its real tokens and the duration token; its padding becomes zeros (upstream
    masks the negative tokens with its attention mask)."""
    sec = conditioners.seconds(torch.tensor([float(seconds)], device=prompt_emb.device))
    tokens = conditioners.prompt_tokens(prompt_emb, prompt_mask).to(sec.dtype)
    context = torch.cat([tokens, sec], dim=1)
    neg_context = None
    if negative is not None:
        n_emb, n_mask = negative
        n_tokens = conditioners.prompt_tokens(n_emb, n_mask).to(sec.dtype)
        n_tokens = n_tokens * n_mask.bool().unsqueeze(-1).to(sec.dtype)
        neg_context = torch.cat([n_tokens, sec], dim=1)
    return DiTCond(context=context, global_cond=sec[:, 0, :], negative_context=neg_context)


def local_condition(known: Tensor | None, keep: Tensor | None, n_frames: int, io_channels: int) -> Tensor:
    """Upstream's inpainting condition [1, 1 + io, T]: a keep-mask (1 = given) and the given latents there.
    Without inpainting both are zeros (everything generated), as upstream always passes them."""
    if known is None or keep is None:
        return torch.zeros(1, 1 + io_channels, n_frames)
    keep = keep.float().reshape(1, 1, -1)
    return torch.cat([keep, known.float() * keep], dim=1)
