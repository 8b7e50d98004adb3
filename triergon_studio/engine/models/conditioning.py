"""Tri-Ergon conditioning (SPEC §1): E = concat(E_M, E_L, E_T) along the sequence axis.

- E_M (4M tokens) = [e_task, e_L, e_A, e_V]. ``task id = 4*text + 2*audio + 1*video`` selects a learned
  embedding of M tokens. A missing prompt is replaced by a learned null token sequence of its modality
  (fixed choice: learned nulls, never zeros, so "absent" is distinguishable from the CFG zero context).
- E_L (2M tokens): the normalised 6 Hz curve ((L+70)/70 clipped to [0, 1]) per channel, zero-padded (that
  is, -70 LUFS) to 60 s = 360 values, linearly interpolated to M*d values and cut into M tokens; [left,
  right]. Without any curve a learned null sequence of 2M tokens is used.
- E_T (2M tokens): seconds_start and seconds_total through Stable-Audio-style number conditioners
  (clamp [0, 512], /512, 128 learned Fourier weights -> [x, sin, cos] -> Linear(257 -> d)). Each embedding is
  repeated to M tokens and a learned per-token offset (zero at init) is added so the tokens can differ.
- Global condition: concat(seconds_start emb, seconds_total emb) [B, 2d], as Stable Audio Open.

``kind="sao"`` builds Stable Audio Open's own context instead: precomputed T5 prompt tokens [B, 128, 768]
(zeros without a prompt; T5 itself is not bundled) followed by the two seconds tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.config import ConditioningConfig

N_TASKS = 8


@dataclass
class Conditions:
    """Raw conditions for a batch (docs/CONTRACTS.md). Embeddings are [B, M, d] or None (absent for the whole
    batch); the optional ``*_present`` [B] bool masks mark per-sample absence inside a batch. ``lufs`` is the
    normalised 6 Hz curve [B, 2, F6]. ``drop_all`` [B] bool: the whole condition set is dropped (CFG)."""

    text_emb: Tensor | None = None
    audio_emb: Tensor | None = None
    video_emb: Tensor | None = None
    lufs: Tensor | None = None
    seconds_start: Tensor | None = None
    seconds_total: Tensor | None = None
    text_present: Tensor | None = None
    audio_present: Tensor | None = None
    video_present: Tensor | None = None
    drop_all: Tensor | None = None

    @property
    def batch_size(self) -> int:
        for t in (
            self.seconds_total,
            self.seconds_start,
            self.text_emb,
            self.audio_emb,
            self.video_emb,
            self.lufs,
        ):
            if t is not None:
                return int(t.shape[0])
        raise ValueError("Conditions: cannot infer the batch size (no tensor given)")

    def presence(self) -> tuple[Tensor, Tensor, Tensor]:
        """Per-sample [B] bool presence of text, audio, video."""
        b = self.batch_size
        out = []
        for emb, mask in (
            (self.text_emb, self.text_present),
            (self.audio_emb, self.audio_present),
            (self.video_emb, self.video_present),
        ):
            if emb is None:
                out.append(torch.zeros(b, dtype=torch.bool))
            elif mask is None:
                out.append(torch.ones(b, dtype=torch.bool, device=emb.device))
            else:
                out.append(mask.to(torch.bool))
        return out[0], out[1], out[2]


def task_id(conditions: Conditions) -> Tensor:
    """``4*[text] + 2*[audio] + 1*[video]`` per sample, [B] long (0 = no prompt)."""
    text, audio, video = conditions.presence()
    dev = text.device
    return 4 * text.long() + 2 * audio.to(dev).long() + video.to(dev).long()


@dataclass
class ConditionTensors:
    """What the DiT consumes: cross-attention tokens [B, N, d], global condition [B, 2d], the optional
    normalised curve [B, 2, F6] for the frame-aligned path, and the task ids."""

    tokens: Tensor
    global_cond: Tensor
    lufs: Tensor | None
    task_ids: Tensor

    def unconditional(self) -> ConditionTensors:
        """The CFG unconditional half: every cross-attention token zeroed (SPEC §3), timing kept."""
        lufs = torch.zeros_like(self.lufs) if self.lufs is not None else None
        return replace(self, tokens=torch.zeros_like(self.tokens), lufs=lufs)


class LearnedFourier(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, None]
        f = x * self.weights[None, :].to(x.dtype) * 2 * math.pi
        return torch.cat([x, f.sin(), f.cos()], dim=-1)


class NumberEmbedder(nn.Module):
    def __init__(self, features: int, out_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Sequential(LearnedFourier(features), nn.Linear(features + 1, out_dim))

    @property
    def out_weight(self) -> Tensor:
        """The output projection's weight (its dtype and device are the embedder's)."""
        return cast(nn.Linear, self.embedding[1]).weight

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(x)


class NumberConditioner(nn.Module):
    """Stable Audio's number conditioner: [B] seconds -> [B, d]."""

    def __init__(self, cfg: ConditioningConfig) -> None:
        super().__init__()
        self.min, self.max = cfg.number_min, cfg.number_max
        self.embedder = NumberEmbedder(cfg.number_features, cfg.cond_dim)

    def forward(self, seconds: Tensor) -> Tensor:
        dtype = self.embedder.out_weight.dtype
        x = (seconds.to(dtype).clamp(self.min, self.max) - self.min) / (self.max - self.min)
        return self.embedder(x)


def curve_tokens(lufs: Tensor, m: int, d: int, frames: int) -> Tensor:
    """Normalised curve [B, 2, F] -> E_L [B, 2M, d]: pad/cut to ``frames``, interpolate to M*d per channel."""
    lufs = lufs.clamp(0.0, 1.0)
    f = lufs.shape[-1]
    lufs = F.pad(lufs, (0, frames - f)) if f < frames else lufs[..., :frames]
    dense = F.interpolate(lufs.float(), size=m * d, mode="linear", align_corners=True)
    b = lufs.shape[0]
    return dense.reshape(b, 2 * m, d)


class TriErgonConditioner(nn.Module):
    def __init__(self, cfg: ConditioningConfig) -> None:
        super().__init__()
        self.cfg = cfg
        m, d = cfg.num_tokens, cfg.cond_dim
        self.conditioners = nn.ModuleDict(
            {"seconds_start": NumberConditioner(cfg), "seconds_total": NumberConditioner(cfg)}
        )
        self.task_embed = nn.Embedding(N_TASKS, m * d)
        nn.init.normal_(self.task_embed.weight, std=0.02)
        self.null_prompts = nn.Parameter(torch.randn(3, m, d) * 0.02)  # text, audio, video
        self.null_lufs = nn.Parameter(torch.randn(2 * m, d) * 0.02)
        self.timing_offsets = nn.Parameter(torch.zeros(2, m, d))

    @property
    def num_tokens(self) -> int:
        return 8 * self.cfg.num_tokens

    def forward(self, cond: Conditions) -> ConditionTensors:
        m, d = self.cfg.num_tokens, self.cfg.cond_dim
        b = cond.batch_size
        ref = self.null_prompts
        dev, dtype = ref.device, ref.dtype
        presence = [p.to(dev) for p in cond.presence()]
        ids = 4 * presence[0].long() + 2 * presence[1].long() + presence[2].long()
        parts = [self.task_embed(ids).view(b, m, d)]
        for k, emb in enumerate((cond.text_emb, cond.audio_emb, cond.video_emb)):
            null = self.null_prompts[k].expand(b, m, d)
            if emb is None:
                parts.append(null)
                continue
            if emb.shape[1:] != (m, d):
                raise ValueError(f"prompt embedding {k} has shape {tuple(emb.shape)}, expected [B, {m}, {d}]")
            parts.append(torch.where(presence[k][:, None, None], emb.to(dev, dtype), null))
        if cond.lufs is not None:
            parts.append(curve_tokens(cond.lufs.to(dev), m, d, self.cfg.curve_frames).to(dtype))
        else:
            parts.append(self.null_lufs.expand(b, 2 * m, d))
        start, total = _seconds(cond, b, dev)
        e_start = self.conditioners["seconds_start"](start)
        e_total = self.conditioners["seconds_total"](total)
        parts.append(e_start[:, None, :] + self.timing_offsets[0])
        parts.append(e_total[:, None, :] + self.timing_offsets[1])
        tokens = torch.cat(parts, dim=1)
        if cond.drop_all is not None:
            tokens = tokens * (~cond.drop_all.to(dev, torch.bool)).to(dtype)[:, None, None]
        lufs = cond.lufs.to(dev, dtype) if cond.lufs is not None else None
        if lufs is not None and cond.drop_all is not None:
            lufs = lufs * (~cond.drop_all.to(dev, torch.bool)).to(dtype)[:, None, None]
        return ConditionTensors(tokens, torch.cat([e_start, e_total], dim=-1), lufs, ids)


class SAOConditioner(nn.Module):
    """Stable Audio Open's context: T5 prompt tokens (precomputed, in ``text_emb``) + seconds tokens."""

    def __init__(self, cfg: ConditioningConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conditioners = nn.ModuleDict(
            {"seconds_start": NumberConditioner(cfg), "seconds_total": NumberConditioner(cfg)}
        )

    @property
    def num_tokens(self) -> int:
        return self.cfg.prompt_max_length + 2

    def forward(self, cond: Conditions) -> ConditionTensors:
        ref = cast(NumberConditioner, self.conditioners["seconds_start"]).embedder.out_weight
        dev, dtype = ref.device, ref.dtype
        b = cond.batch_size
        n, d = self.cfg.prompt_max_length, self.cfg.cond_dim
        prompt = torch.zeros(b, n, d, device=dev, dtype=dtype)
        if cond.text_emb is not None:
            emb = cond.text_emb.to(dev, dtype)[:, :n]
            if emb.shape[-1] != d:
                raise ValueError(f"T5 prompt embedding has width {emb.shape[-1]}, expected {d}")
            prompt[:, : emb.shape[1]] = emb
            if cond.text_present is not None:
                prompt = prompt * cond.text_present.to(dev, dtype)[:, None, None]
        start, total = _seconds(cond, b, dev)
        e_start = self.conditioners["seconds_start"](start)
        e_total = self.conditioners["seconds_total"](total)
        tokens = torch.cat([prompt, e_start[:, None], e_total[:, None]], dim=1)
        if cond.drop_all is not None:
            tokens = tokens * (~cond.drop_all.to(dev, torch.bool)).to(dtype)[:, None, None]
        ids = task_id(cond).to(dev)
        return ConditionTensors(tokens, torch.cat([e_start, e_total], dim=-1), None, ids)


def _seconds(cond: Conditions, b: int, dev: torch.device) -> tuple[Tensor, Tensor]:
    start = cond.seconds_start if cond.seconds_start is not None else torch.zeros(b)
    if cond.seconds_total is None:
        raise ValueError("Conditions.seconds_total is required (the duration the model is asked for)")
    return start.to(dev).float().reshape(b), cond.seconds_total.to(dev).float().reshape(b)


def build_conditioner(cfg: ConditioningConfig) -> nn.Module:
    if cfg.kind == "sao":
        return SAOConditioner(cfg)
    return TriErgonConditioner(cfg)


def apply_condition_dropout(
    cond: Conditions,
    *,
    p_modality: float = 0.3,
    p_all: float = 0.1,
    generator: torch.Generator | None = None,
) -> Conditions:
    """Training-time dropout (paper): each present prompt dropped independently with ``p_modality`` (so 0 to
    3 stay active and the task id follows), the whole condition set with ``p_all`` for CFG."""
    b = cond.batch_size
    text, audio, video = cond.presence()

    def keep(mask: Tensor) -> Tensor:
        r = torch.rand(b, generator=generator)
        return mask.cpu() & (r >= p_modality)

    drop = torch.rand(b, generator=generator) < p_all
    if cond.drop_all is not None:
        drop = drop | cond.drop_all.cpu().to(torch.bool)
    dev = next(
        (t.device for t in (cond.seconds_total, cond.text_emb, cond.lufs) if t is not None),
        torch.device("cpu"),
    )
    return replace(
        cond,
        text_present=keep(text).to(dev) if cond.text_emb is not None else None,
        audio_present=keep(audio).to(dev) if cond.audio_emb is not None else None,
        video_present=keep(video).to(dev) if cond.video_emb is not None else None,
        drop_all=drop.to(dev),
    )
