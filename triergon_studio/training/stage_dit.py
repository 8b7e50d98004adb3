"""The DiT stage: the v-objective on VAE latents under the Tri-Ergon conditions, with the paper's dropout
(each prompt 0.3, the whole condition set 0.1) plus curve dropout, and EMA weights.

The VAE and the prompt encoders are frozen (trained by their stages). With a pool, the latents and prompt
tokens are computed once before the first step; with the stream they are computed per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from triergon_studio.errors import StudioError
from triergon_studio.training.config import Dist, DiTStageConfig
from triergon_studio.training.stages import (
    Source,
    Stage,
    build_triergon,
    segment_spec,
    to_device,
    video_float,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from triergon_studio.engine.curve_control.latent_head import LatentLoudnessHead

    LoudnessTrack = Callable[[Tensor], tuple[Tensor, int]]


class DiTModule(nn.Module):
    def __init__(
        self,
        dit: nn.Module,
        conditioner: nn.Module,
        latent_rate: float,
        cfg: DiTStageConfig,
        track: LoudnessTrack | None = None,
        sample_rate: int = 44100,
        gain_directions: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.dit, self.conditioner = dit, conditioner
        self.latent_rate, self.cfg = latent_rate, cfg
        # a list keeps the frozen head out of the trained (and exported) parameters
        self.head: list[LatentLoudnessHead] = []
        self.track: LoudnessTrack | None = None
        self.sample_rate = sample_rate
        if cfg.loudness_weight > 0 and cfg.loudness_source not in ("head", "track"):
            raise StudioError(f"loudness_source must be 'head' or 'track', got {cfg.loudness_source!r}", None)
        if cfg.loudness_weight > 0 and not 0.0 < cfg.loudness_max_t <= 1.0:
            raise StudioError(f"loudness_max_t must be in (0, 1], got {cfg.loudness_max_t}", None)
        if cfg.loudness_weight > 0 and cfg.loudness_source == "track":
            if track is None:
                raise StudioError(
                    "loudness_source 'track' needs an autoencoder with a loudness track (vae kind bandpca)",
                    None,
                )
            self.track = track
        elif cfg.loudness_weight > 0:
            from triergon_studio.engine.curve_control.latent_head import load_head

            if not cfg.loudness_head:
                raise StudioError("loudness_weight needs a loudness_head file", None)
            head = load_head(cfg.loudness_head).eval()
            for p in head.parameters():
                p.requires_grad_(False)
            self.head = [head]
        self.gain_directions: Callable[[Tensor], Tensor] | None = None
        if cfg.loudness_weight > 0 and cfg.loudness_gain_only:
            if gain_directions is None or cfg.loudness_source != "track":
                raise StudioError(
                    "loudness_gain_only needs loudness_source 'track' and a code with gain directions (bandpca)",
                    None,
                )
            self.gain_directions = gain_directions

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        from triergon_studio.engine.models.conditioning import Conditions, apply_condition_dropout
        from triergon_studio.engine.models.triergon import curve_to_frames
        from triergon_studio.engine.sampling import sample_training_t, v_loss
        from triergon_studio.engine.sampling.schedule import alpha_sigma

        x0 = batch["latents"]
        b, _, t_len = x0.shape
        gen = batch["generator"]
        use_curve = bool(torch.rand(1, generator=gen) >= self.cfg.p_lufs)
        cond = Conditions(
            text_emb=batch["text_emb"],
            audio_emb=batch["audio_emb"],
            video_emb=batch["video_emb"],
            lufs=batch["curves"].float() if use_curve else None,
            seconds_start=batch["seconds_start"].float(),
            seconds_total=batch["seconds_total"].float(),
        )
        cond = apply_condition_dropout(
            cond, p_modality=self.cfg.p_modality, p_all=self.cfg.p_all, generator=gen
        )
        ct = self.conditioner(cond)
        frames = None
        if ct.lufs is not None and self.dit.lufs_frame_proj is not None:
            frames = curve_to_frames(ct.lufs, t_len, self.latent_rate)
        t = sample_training_t(b, generator=gen).to(x0.device)
        noise = torch.randn(x0.shape, generator=gen).to(x0.device)
        mask = batch["latent_mask"][:, None, :]
        inputs = {"cond_tokens": ct.tokens, "global_cond": ct.global_cond, "frame_cond": frames}
        seen: list[tuple[Tensor, Tensor]] = []  # (x_t, v) of the pass, for the curve term

        def dit(x_t: Tensor, t: Tensor, **kw: Any) -> Tensor:
            v = self.dit(x_t, t, **kw)
            seen.append((x_t, v))
            return v

        loss = v_loss(dit, x0, t, noise, loss_mask=mask, **inputs)
        if not ((self.head or self.track is not None) and use_curve):
            return loss, {"with_curve": float(use_curve)}
        x_t, v = seen[0]
        a, s = alpha_sigma(t)
        estimate = a[:, None, None] * x_t - s[:, None, None] * v
        if self.gain_directions is not None:
            estimate = self.gain_only(estimate)
        lu = self._curve_term(estimate, batch["curves_lufs"].float(), self.item_weights(t))
        return loss + self.cfg.loudness_weight * lu, {"with_curve": 1.0, "loudness_lu": float(lu.detach())}

    def gain_only(self, estimate: Tensor) -> Tensor:
        """``estimate`` unchanged, with its gradient kept to the span of the code's left and right gain
        directions in each frame."""
        assert self.gain_directions is not None
        dirs = self.gain_directions(estimate.detach())[:, 0, :, 0]  # [2, latent_dim]: the same in every frame
        q, _ = torch.linalg.qr(dirs.T.float())  # [latent_dim, 2], orthonormal
        q = q.to(estimate.dtype)
        delta = estimate - estimate.detach()  # zero, carrying the gradient
        return estimate.detach() + torch.einsum("kq,jq,bjt->bkt", q, q, delta)

    def item_weights(self, t: Tensor) -> Tensor:
        """Each item's weight in the curve term: its signal share alpha(t)^2, none above ``loudness_max_t``."""
        from triergon_studio.engine.sampling.schedule import alpha_sigma

        a, _ = alpha_sigma(t)
        return a * a * (t <= self.cfg.loudness_max_t).to(a.dtype)

    def _curve_term(self, estimate: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        """Huber distance in LU (delta 3) between the estimate's curves (the head's, or the autoencoder's
        loudness track's) and ``target`` [B, 2, F] on the target's audible frames, averaged per item and
        weighted by ``weight`` [B]."""
        from triergon_studio.engine.curve_control.latent_head import curve_from_blocks, overlap_matrix
        from triergon_studio.engine.curve_control.loudness_torch import track_curves

        if self.track is not None:
            power, hop = self.track(estimate)
            n = estimate.shape[-1] * round(self.sample_rate / self.latent_rate)  # the decode's length
            got = track_curves(power, hop, n, self.sample_rate, floor=-120.0)
            f = min(got.shape[-1], target.shape[-1])
            return self._huber_lu(got[..., :f], target[..., :f], weight)
        head = self.head[0]
        cfg = head.cfg
        w = overlap_matrix(estimate.shape[-1], cfg.downsampling_ratio, cfg.sample_rate, target.shape[-1])
        got = curve_from_blocks(head(estimate), w.to(estimate.device))
        return self._huber_lu(got, target, weight)

    @staticmethod
    def _huber_lu(got: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        import torch.nn.functional as F

        from triergon_studio.core.constants import LUFS_ACTIVE

        audible = (target > LUFS_ACTIVE).float()
        err = F.huber_loss(got, target, reduction="none", delta=3.0) * audible
        per_item = err.sum((1, 2)) / audible.sum((1, 2)).clamp_min(1.0)
        return (weight * per_item).sum() / weight.sum().clamp_min(1e-6)


class DiTStage(Stage):
    prefix = {"dit.": "dit.", "conditioner.": "conditioner."}
    cfg: DiTStageConfig

    def __init__(self, cfg: DiTStageConfig, dist: Dist) -> None:
        super().__init__(cfg, dist)
        self.model = build_triergon(cfg, dist.device)
        self.model.vae.eval()
        if self.model.encoders is not None:
            self.model.encoders.eval()
        for part in (self.model.dit, self.model.conditioner):
            for p in part.parameters():
                p.requires_grad_(True)
        track = getattr(self.model.vae, "loudness_track", None)
        dirs = getattr(self.model.vae, "gain_directions", None)
        self.module = DiTModule(
            self.model.dit,
            self.model.conditioner,
            self.model.latent_rate_hz,
            cfg,
            track=track if callable(track) else None,
            sample_rate=int(self.model.cfg.sample_rate),
            gain_directions=dirs if callable(dirs) else None,
        )
        self.ema_target = self.module
        self.ema_decay = cfg.ema_decay
        self.source = Source(cfg, dist, segment_spec(cfg, with_video=True, with_frames6=False))
        self.gen = torch.Generator().manual_seed(cfg.seed * 1000 + dist.rank)
        self.cache: dict[str, Tensor] | None = None
        if self.source.pool is not None:
            self.cache = self._encode_pool()

    @torch.no_grad()
    def _conditions(self, audio: Tensor, video: Tensor, captions: list[str]) -> dict[str, Tensor | None]:
        enc = self.model.encoders
        if enc is None:
            return {"text_emb": None, "audio_emb": None, "video_emb": None}
        return {
            "text_emb": enc.encode_text(captions),
            "audio_emb": enc.encode_audio(audio),
            "video_emb": enc.encode_video(video_float(video)),
        }

    @torch.no_grad()
    def _latents(self, audio: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        z = self.model.vae.encode(audio)
        stride = self.model.vae.stride
        n_valid = torch.ceil(valid.float() / stride)
        mask = (torch.arange(z.shape[-1], device=z.device)[None, :] < n_valid[:, None].to(z.device)).float()
        return z, mask

    @torch.no_grad()
    def _encode_pool(self) -> dict[str, Tensor]:
        pool = self.source.pool
        assert pool is not None
        parts: dict[str, list[Tensor]] = {}
        dev = self.dist.device
        for s in range(0, len(pool), 16):
            idx = np.arange(s, min(s + 16, len(pool)))
            raw = pool.batch(idx)
            audio = torch.from_numpy(raw["audio"]).to(dev).float()
            video = torch.from_numpy(raw["video"]).to(dev)
            z, mask = self._latents(audio, torch.from_numpy(np.asarray(raw["valid"])))
            items: dict[str, Tensor | None] = {
                "latents": z,
                "latent_mask": mask,
                **self._conditions(audio, video, raw["caption"]),
            }
            for k, v in items.items():
                if v is not None:
                    parts.setdefault(k, []).append(v.cpu())
        cache = {k: torch.cat(v) for k, v in parts.items()}
        for k in ("curves", "curves_lufs", "seconds_start", "seconds_total"):
            cache[k] = torch.from_numpy(np.asarray(pool.arrays[k]))
        return cache

    def extra_state(self) -> dict[str, Any]:
        return {"generator": self.gen.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "generator" in state:
            self.gen.set_state(state["generator"])

    def next_batch(self, rng: np.random.Generator) -> dict[str, Any]:
        dev = self.dist.device
        if self.cache is not None:
            idx = torch.from_numpy(rng.integers(0, len(self.cache["latents"]), size=self.cfg.batch_size))
            batch: dict[str, Any] = {k: v[idx].to(dev) for k, v in self.cache.items()}
        else:
            raw = to_device(self.source.next(rng), dev)
            z, mask = self._latents(raw["audio"], raw["valid"])
            batch = {
                "latents": z,
                "latent_mask": mask,
                "curves": raw["curves"],
                "curves_lufs": raw["curves_lufs"],
                "seconds_start": raw["seconds_start"],
                "seconds_total": raw["seconds_total"],
                **self._conditions(raw["audio"], raw["video"], list(raw["caption"])),
            }
        for k in ("text_emb", "audio_emb", "video_emb"):
            batch.setdefault(k, None)
        batch["generator"] = self.gen
        return batch
