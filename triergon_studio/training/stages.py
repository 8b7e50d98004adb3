"""The four training stages. Each wraps the parts of a ``TriErgon`` model it trains in a module whose
``forward(batch)`` returns ``(loss, metrics)``, so the runner can put it under DistributedDataParallel.

- vae: multi-resolution STFT + mid/side STFT + KL (+ optional STFT-discriminator hinge loss, mel, balance and
  loudness-curve terms);
- encoders: language-centred contrastive alignment (InfoNCE audio<->text and video<->text, text as anchor);
- dit: v-objective, modality dropout 0.3 each, full-condition dropout 0.1, curve dropout, EMA weights;
- lufs: T_LUFS regression (MSE) of the normalised L/R curves from 6 fps frames; a gated head adds an
  audibility BCE and counts the MSE on audible frames only.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.core.constants import LUFS_ACTIVE, LUFS_FLOOR
from triergon_studio.engine.models.vae import vae_sample
from triergon_studio.errors import StudioError
from triergon_studio.training import losses
from triergon_studio.training.config import (
    Dist,
    EncodersStageConfig,
    LufsStageConfig,
    RunConfig,
    VAEStageConfig,
    merge_overrides,
)
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.data import (
    MixSpec,
    SegmentSpec,
    SegmentStream,
    as_iterable_dataset,
    collate,
)
from triergon_studio.training.pool import Pool, build_pool
from triergon_studio.training.rotating_pool import (
    Reservoir,
    RotatingPool,
    RotatingSpec,
    window_frames_from_seconds,
)

if TYPE_CHECKING:
    from triergon_studio.engine.models.encoders import PromptEncoder
    from triergon_studio.engine.models.lufs_predictor import LufsPredictor
    from triergon_studio.engine.models.vae import LatentAutoencoder, OobleckVAE, WNConv1d

# ---- model and weights -------------------------------------------------------------------------------------


def resolve_model_config(cfg: RunConfig) -> Any:
    from triergon_studio.engine.config import ModelConfig, get_preset

    base = ModelConfig.from_json(Path(cfg.model)) if cfg.model.endswith(".json") else get_preset(cfg.model)
    if not cfg.model_overrides:
        return base
    return ModelConfig.from_dict(merge_overrides(base.to_dict(), cfg.model_overrides), cfg.model)


def load_stage_weights(model: nn.Module, paths: list[str]) -> list[str]:
    """Load prefixed weights (``vae.``, ``dit.``, ``encoders.``...) written by earlier stages."""
    from safetensors.torch import load_file

    own = model.state_dict()
    loaded: list[str] = []
    for p in paths:
        if not Path(p).exists():
            raise StudioError("weights of an earlier stage not found", p)
        sd = load_file(p)
        bad = [k for k in sd if k not in own or own[k].shape != sd[k].shape]
        if bad:
            raise StudioError(f"weights do not fit this model (first: {bad[0]})", p)
        model.load_state_dict(sd, strict=False)
        loaded.extend(sd)
    return loaded


def build_triergon(cfg: RunConfig, device: torch.device) -> Any:
    from triergon_studio.engine.models.triergon import build_model

    model = build_model(resolve_model_config(cfg), device="cpu").to(device)
    load_stage_weights(model, cfg.init)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ---- data --------------------------------------------------------------------------------------------------


def segment_spec(cfg: RunConfig, **flags: bool) -> SegmentSpec:
    return SegmentSpec(
        seconds=cfg.segment_seconds,
        video_frames=cfg.video_frames,
        video_size=cfg.video_size,
        lufs_size=cfg.lufs_size,
        **flags,
    )


class Source:
    """Batches from a fixed pool (random items per rank) or from the endless stream through a DataLoader."""

    def __init__(self, cfg: RunConfig, dist: Dist, spec: SegmentSpec) -> None:
        self.cfg, self.dist = cfg, dist
        corpus = CorpusConfig(**cfg.corpus)
        self.pool: Pool | None = None
        if cfg.pool_size > 0:
            path = Path(cfg.pool_path) if cfg.pool_path else None
            full = dataclasses.replace(spec, with_video=True, with_frames6=True) if path else spec
            if path is not None and path.exists():
                self.pool = Pool.load(path)
            elif path is not None and dist.world_size > 1 and not dist.main:
                torch.distributed.barrier()  # rank 0 builds the shared pool
                self.pool = Pool.load(path)
            else:
                self.pool = build_pool(
                    cfg.pool_size,
                    cfg.seed,
                    full,
                    corpus,
                    tuple(cfg.manifests),
                    cfg.manifest_weight,
                    cfg.pool_workers,
                )
                if path is not None:
                    self.pool.save(path)
                    if dist.world_size > 1:
                        torch.distributed.barrier()
            self.iterator = None
        else:
            stream = SegmentStream(
                cfg.seed,
                spec,
                MixSpec(corpus, tuple(cfg.manifests), cfg.manifest_weight),
                dist.rank,
                dist.world_size,
            )
            loader = torch.utils.data.DataLoader(
                as_iterable_dataset(stream),
                batch_size=cfg.batch_size,
                num_workers=cfg.num_workers,
                collate_fn=collate,
            )
            self.iterator = iter(loader)

    def next(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.pool is not None:
            idx = rng.integers(0, len(self.pool), size=self.cfg.batch_size)
            raw = self.pool.batch(idx)
            out = {
                k: (torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v)
                for k, v in raw.items()
            }
            out["index"] = torch.from_numpy(idx)
            return out
        assert self.iterator is not None
        return next(self.iterator)


def to_device(batch: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, Tensor):
            v = v.to(dev)
            if k == "audio":
                v = v.float()  # pools keep audio as float16; frames stay uint8 until used
        out[k] = v
    return out


def video_float(frames: Tensor) -> Tensor:
    """uint8 [B, F, H, W, 3] -> float [B, F, 3, H, W] in [0, 1]."""
    return frames.permute(0, 1, 4, 2, 3).float() / 255.0


# ---- stages ------------------------------------------------------------------------------------------------


class Stage:
    """What the runner drives: ``module`` (trained, ``forward(batch) -> (loss, metrics)``), the batches, and
    the export of its weights under their model prefixes. ``ema_target``: averaged with ``ema_decay``."""

    module: nn.Module
    source: Source
    ema_target: nn.Module | None = None
    ema_decay: float = 0.0
    prefix: dict[str, str] = {}

    def __init__(self, cfg: RunConfig, dist: Dist) -> None:
        self.cfg, self.dist = cfg, dist

    def next_batch(self, rng: np.random.Generator) -> dict[str, Any]:
        return to_device(self.source.next(rng), self.dist.device)

    def after_step(self, batch: dict[str, Any], step: int, lr: float) -> dict[str, float]:
        return {}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        return None

    def export(self, ema: dict[str, Tensor] | None) -> dict[str, Tensor]:
        sd = ema if ema is not None else self.module.state_dict()
        out: dict[str, Tensor] = {}
        for k, v in sd.items():
            for src, dst in self.prefix.items():
                if k.startswith(src):
                    out[dst + k[len(src) :]] = v
        return out


class VAEModule(nn.Module):
    def __init__(self, vae: LatentAutoencoder, cfg: VAEStageConfig, disc: nn.Module | None) -> None:
        super().__init__()
        self.vae, self.cfg = vae, cfg
        self.disc = [disc]  # a list keeps the discriminator out of this module's parameters
        self.last_fake: Tensor | None = None
        # the init autoencoder, frozen, for ``anchor_weight`` (a list keeps it out of the trained parameters)
        self.anchor: list[LatentAutoencoder] = []
        if cfg.anchor_weight > 0:
            ref = copy.deepcopy(vae).eval()
            for p in ref.parameters():
                p.requires_grad_(False)
            self.anchor = [ref]

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        x = batch["audio"]
        if self.cfg.freeze_encoder:  # the latents the DiT was trained on; KL does not move them
            with torch.no_grad():
                z = self.vae.encode_moments(x)[0]
            kl = z.new_zeros(())
        else:
            mean, scale = self.vae.encode_moments(x)
            if self.cfg.sample_latents:
                z, kl = vae_sample(mean, scale)
            else:  # a deterministic autoencoder: short runs collapse when the decoder only sees noisy samples
                z = mean
                kl = (mean * mean).sum(1).mean()
        anchor = z.new_zeros(())
        if self.anchor:  # on the posterior mean: the latent a DiT was trained on
            with torch.no_grad():
                ref = self.anchor[0].encode_moments(x)[0]
            anchor = (mean - ref).pow(2).mean()
        y = self.vae.decode(z, x.shape[-1])
        ffts = tuple(self.cfg.stft_ffts)
        mr = losses.multi_resolution_stft(y, x, ffts) if self.cfg.stft_weight > 0 else y.new_zeros(())
        ms = losses.sum_difference_stft(y, x, ffts) if self.cfg.stereo_weight > 0 else y.new_zeros(())
        env = losses.envelope_loss(y, x)
        loss = (
            self.cfg.stft_weight * mr
            + self.cfg.stereo_weight * ms
            + self.cfg.kl_weight * kl
            + self.cfg.envelope_weight * env
            + self.cfg.anchor_weight * anchor
        )
        metrics = {
            "anchor": float(anchor.detach()),
            "mrstft": float(mr.detach()),
            "midside": float(ms.detach()),
            "kl": float(kl.detach()),
            "envelope": float(env.detach()),
        }
        if self.cfg.balance_weight > 0:
            bal = losses.balance_loss(y, x)
            loss = loss + self.cfg.balance_weight * bal
            metrics["balance"] = float(bal.detach())
        if self.cfg.loudness_weight > 0:
            lu = losses.loudness_curve_loss(y, x, silence=self.cfg.loudness_silence)
            loss = loss + self.cfg.loudness_weight * lu
            metrics["loudness_lu"] = float(lu.detach())
        if self.cfg.mel_weight > 0:
            mel = losses.multi_scale_mel(y, x)
            loss = loss + self.cfg.mel_weight * mel
            metrics["mel"] = float(mel.detach())
        disc = self.disc[0]
        if disc is not None:
            fake_logits, fake_feats = disc(y)
            with torch.no_grad():
                _, real_feats = disc(x)
            adv = losses.hinge_g(fake_logits) + losses.feature_matching(real_feats, fake_feats)
            loss = loss + self.cfg.adv_weight * adv
            metrics["adv_g"] = float(adv.detach())
            self.last_fake = y.detach()
        return loss, metrics


@torch.no_grad()
def data_dependent_init(vae: OobleckVAE, audio: Tensor) -> int:
    """Weight-norm data-dependent init (Salimans & Kingma 2016): scale each conv so its output has unit variance
    per channel on real audio, one conv at a time in forward order. Quiet audio otherwise leaves the latent
    path so weak that a short run learns a constant output and ignores the latent (seen on this corpus).
    The decoder's last conv is scaled to the audio's own RMS instead."""
    # Only WNConv1d carries weight_g / weight_v in the VAE.
    convs = [cast("WNConv1d", m) for m in vae.modules() if hasattr(m, "weight_g") and hasattr(m, "weight_v")]
    last = vae.decoder.layers[-2] if isinstance(vae.decoder.layers[-1], nn.Identity) else None
    for conv in convs:
        out: list[Tensor] = []
        handle = conv.register_forward_hook(lambda _m, _i, o, store=out: store.append(o))
        vae.decode(vae.encode(audio), audio.shape[-1])
        handle.remove()
        o = out[0].transpose(0, 1).flatten(1)  # [C, B*T]
        std = o.std(1).clamp_min(1e-6)
        goal = float(audio.std()) if conv is last else 1.0
        w = conv.weight().clone()
        axis = 1 if getattr(conv, "transpose", False) else 0  # the output-channel axis
        shape = [1] * w.ndim
        shape[axis] = -1
        conv.set_weight(w * (goal / std).view(shape))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias * goal / std - o.mean(1) * goal / std * (conv is not last))
    return len(convs)


class VAEStage(Stage):
    prefix = {"vae.": "vae."}
    cfg: VAEStageConfig
    module: VAEModule

    def __init__(self, cfg: VAEStageConfig, dist: Dist) -> None:
        ffts = list(cfg.disc_ffts)  # checked before any model is built
        if (cfg.freeze_encoder or cfg.anchor_weight > 0) and not cfg.init:
            raise StudioError("freeze_encoder and anchor_weight need the autoencoder's weights in init", None)
        if cfg.freeze_encoder and cfg.anchor_weight > 0:
            raise StudioError(
                "anchor_weight holds a trained encoder near its init: not with freeze_encoder", None
            )
        if cfg.adversarial and (not ffts or any(n < 64 or n & (n - 1) for n in ffts)):
            raise StudioError(f"disc_ffts must be powers of two >= 64, got {ffts}", None)
        super().__init__(cfg, dist)
        model = build_triergon(cfg, dist.device)
        trained = model.vae.decoder if cfg.freeze_encoder else model.vae
        chosen = [(n, p) for n, p in trained.named_parameters()]
        if cfg.trainable:
            prefix = "decoder." if cfg.freeze_encoder else ""
            chosen = [(n, p) for n, p in chosen if any((prefix + n).startswith(t) for t in cfg.trainable)]
            if not chosen:
                raise StudioError(f"trainable {cfg.trainable} names no parameter of the autoencoder", None)
        for _, p in chosen:
            p.requires_grad_(True)
        self.disc: nn.Module | None = None
        if cfg.adversarial:
            disc = (
                losses.STFTDiscriminator(ffts[0])
                if len(ffts) == 1
                else losses.MultiResolutionDiscriminator(ffts)
            )
            self.disc = disc.to(dist.device)
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
            self.disc_train: nn.Module = self.disc
            if dist.world_size > 1:
                ids = [dist.local_rank] if dist.device.type == "cuda" else None
                self.disc_train = nn.parallel.DistributedDataParallel(self.disc, device_ids=ids)
        self.module = VAEModule(model.vae, cfg, self.disc)
        self.source = Source(cfg, dist, segment_spec(cfg, with_video=False, with_frames6=False))
        if cfg.data_init and not cfg.init and model.vae.cfg.kind == "oobleck":
            batch = self.next_batch(np.random.default_rng([cfg.seed, 0xD1]))
            data_dependent_init(cast("OobleckVAE", model.vae), batch["audio"])

    def next_batch(self, rng: np.random.Generator) -> dict[str, Any]:
        b = super().next_batch(rng)
        crop = int(self.cfg.crop_seconds * 44100)
        n = b["audio"].shape[-1]
        if 0 < crop < n:
            valid = b["valid"].cpu().numpy() if isinstance(b["valid"], Tensor) else np.asarray(b["valid"])
            starts = [int(rng.integers(0, max(1, min(n, int(v)) - crop + 1))) for v in valid]
            b["audio"] = torch.stack([b["audio"][i, :, s : s + crop] for i, s in enumerate(starts)])
        return b

    def after_step(self, batch: dict[str, Any], step: int, lr: float) -> dict[str, float]:
        if self.disc is None or self.module.last_fake is None:
            return {}
        for g in self.disc_opt.param_groups:
            g["lr"] = lr
        real, _ = self.disc_train(batch["audio"])
        fake, _ = self.disc_train(self.module.last_fake)
        d_loss = losses.hinge_d(real, fake)
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.disc_opt.step()
        return {"adv_d": float(d_loss.detach())}

    @torch.no_grad()
    def export(self, ema: dict[str, Tensor] | None) -> dict[str, Tensor]:
        """Fold per-channel latent centring and scaling into the encoder's last and the decoder's first conv,
        so the DiT sees roughly zero-mean, unit-variance latents (the samplers assume sigma_data = 1)."""
        vae = self.module.vae
        vae.eval()
        if self.cfg.freeze_encoder or self.cfg.anchor_weight > 0:
            # the latents are (held near) the given ones: folding a new scale would move them
            return super().export(None)
        rng = np.random.default_rng([self.cfg.seed, 0x5CA1E])
        zs = [vae.encode(self.next_batch(rng)["audio"]) for _ in range(max(1, 64 // self.cfg.batch_size))]
        z = torch.cat(zs).transpose(0, 1).flatten(1)  # [C, B*T]
        mean, std = z.mean(1), z.std(1).clamp_min(1e-3)
        normalise_latents(vae, mean, std)
        z2 = torch.cat([vae.encode(self.next_batch(rng)["audio"]) for _ in range(2)])
        self.summary_extra = {
            "latent_mean_before": float(mean.abs().mean()),
            "latent_std_before": float(std.mean()),
            "latent_std_after": float(z2.std()),
        }
        return super().export(None)

    def extra_state(self) -> dict[str, Any]:
        if self.disc is None:
            return {}
        return {"disc": self.disc.state_dict(), "disc_opt": self.disc_opt.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.disc is not None and "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_opt"])


@torch.no_grad()
def normalise_latents(vae: LatentAutoencoder, mean: Tensor, std: Tensor) -> None:
    """z' = (z - mean) / std, exactly (the decoder sees z = z' std + mean)."""
    vae.fold_latent_normalisation(mean, std)


class EncodersModule(nn.Module):
    def __init__(self, encoders: nn.Module, init_logit_scale: float) -> None:
        super().__init__()
        self.encoders = encoders
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        enc = cast("PromptEncoder", self.encoders)  # any prompt encoders module (small or LanguageBind)
        t = enc.embed_text(list(batch["caption"]))
        a = enc.embed_audio(batch["audio"])
        v = enc.embed_video(video_float(batch["video"]))
        labels = batch["label"].long() if isinstance(batch["label"], Tensor) else None
        l_at = losses.info_nce(a, t, self.logit_scale, labels)
        l_vt = losses.info_nce(v, t, self.logit_scale, labels)
        metrics = {
            "nce_audio_text": float(l_at.detach()),
            "nce_video_text": float(l_vt.detach()),
            "logit_scale": float(self.logit_scale.detach()),
        }
        if labels is not None:
            with torch.no_grad():
                metrics["a2t_top1"] = float((labels[(a @ t.t()).argmax(1)] == labels).float().mean())
        return l_at + l_vt, metrics


class EncodersStage(Stage):
    prefix = {"encoders.": "encoders."}

    def __init__(self, cfg: EncodersStageConfig, dist: Dist) -> None:
        super().__init__(cfg, dist)
        model = build_triergon(cfg, dist.device)
        if model.encoders is None:
            raise StudioError(f"model {cfg.model!r} has no prompt encoders to train")
        for p in model.encoders.parameters():
            p.requires_grad_(True)
        self.module = EncodersModule(model.encoders, cfg.init_logit_scale)
        self.source = Source(cfg, dist, segment_spec(cfg, with_video=True, with_frames6=False))

    def next_batch(self, rng: np.random.Generator) -> dict[str, Any]:
        b = super().next_batch(rng)
        cfg = cast(EncodersStageConfig, self.cfg)
        if cfg.caption_paraphrase > 0 and isinstance(b.get("label"), Tensor):
            from triergon_studio.training.corpus import CLASS_NAMES
            from triergon_studio.training.corpus.phrasings import paraphrase

            b["caption"] = [
                paraphrase(rng, CLASS_NAMES[lab], cfg.paraphrase_noise)
                if lab >= 0 and rng.uniform() < cfg.caption_paraphrase
                else cap
                for cap, lab in zip(b["caption"], b["label"].tolist(), strict=True)
            ]
        crop = int(cfg.audio_crop_seconds * 44100)
        n = b["audio"].shape[-1]
        if 0 < crop < n:  # a window inside the real audio of each segment (shorter clips are zero-padded)
            valid = b["valid"].cpu().numpy() if isinstance(b["valid"], Tensor) else np.asarray(b["valid"])
            starts = [int(rng.integers(0, max(1, min(n, int(v)) - crop + 1))) for v in valid]
            b["audio"] = torch.stack([b["audio"][i, :, s : s + crop] for i, s in enumerate(starts)])
        return b


# A gated T_LUFS's squared level error counts in these units: a 10 LU miss weighs as much as a wrong gate
# call made with 63 % confidence (BCE 1).
GATED_LEVEL_UNIT_LU = 10.0


class LufsModule(nn.Module):
    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def features(self, frames6: Tensor) -> Tensor:
        from triergon_studio.engine.models.dinov2 import preprocess_frames
        from triergon_studio.engine.models.lufs_predictor import FrameFeatureExtractor, LufsPredictor

        pred = cast(LufsPredictor, self.predictor)
        fx = pred.features
        if isinstance(fx, FrameFeatureExtractor):
            # per clip: the motion input needs time order
            return torch.stack([fx(fx.prepare(clip)) for clip in frames6])
        # DINOv2 features (the paper's T_LUFS): the backbone is frozen, so its features carry no gradient
        size = pred.cfg.dinov2_image_size
        with torch.no_grad():
            feats = [pred._dinov2_features(preprocess_frames(clip, size, crop=False)) for clip in frames6]
        return torch.stack(feats)

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        feats = self.features(batch["frames6"])
        target = batch["curves"].float()
        frame_idx = torch.arange(target.shape[-1], device=target.device)[None, :]
        if "n_frames" in batch:  # rotating pool: windows shorter than the batch are padded, keep them out
            n_valid = batch["n_frames"].float()
            padding: Tensor | None = frame_idx >= n_valid[:, None]
        else:
            n_valid = torch.ceil(batch["valid"].float() / 44100 * 6).clamp(min=1)
            padding = None
        predictor = cast("LufsPredictor", self.predictor)
        level, gate = predictor.forward_parts(feats, padding)  # [B, 2, F] each
        mask = (frame_idx < n_valid[:, None]).float()
        mask = mask[:, None, :].expand_as(target)
        audible = mask * (target * -LUFS_FLOOR + LUFS_FLOOR > LUFS_ACTIVE).float()
        stats: dict[str, float] = {}
        if gate is None:
            loss = ((level - target) ** 2 * mask).sum() / mask.sum().clamp_min(1)
        else:
            # the level in units of GATED_LEVEL_UNIT_LU, so its loss and the gate's are of one size
            err = (level - target) * -LUFS_FLOOR / GATED_LEVEL_UNIT_LU
            level_loss = (err**2 * audible).sum() / audible.sum().clamp_min(1)
            gate_bce = F.binary_cross_entropy_with_logits(gate, (audible > 0).float(), reduction="none")
            gate_loss = (gate_bce * mask).sum() / mask.sum().clamp_min(1)
            loss = level_loss + gate_loss
            with torch.no_grad():
                hit = ((gate >= 0).float() == (audible > 0).float()).float()
                stats = {
                    "level_loss": float(level_loss),
                    "gate_loss": float(gate_loss),
                    "gate_acc": float((hit * mask).sum() / mask.sum().clamp_min(1)),
                }
        with torch.no_grad():
            pred = predictor.read_parts(level, gate)
            mae = ((pred - target).abs() * -LUFS_FLOOR * audible).sum() / audible.sum().clamp_min(1)
        return loss, {"mae_lu": float(mae), **stats}


class LufsStage(Stage):
    prefix = {"predictor.": "lufs_predictor."}

    def __init__(self, cfg: LufsStageConfig, dist: Dist) -> None:
        super().__init__(cfg, dist)
        model = build_triergon(cfg, dist.device)
        if model.lufs_predictor is None:
            raise StudioError(
                f"model {cfg.model!r} has no T_LUFS predictor (set lufs_predictor in its config)"
            )
        if cfg.init_one_picture:
            _load_one_picture_t_lufs(model.lufs_predictor, Path(cfg.init_one_picture))
        for p in model.lufs_predictor.parameters():
            p.requires_grad_(True)
        self.module = LufsModule(model.lufs_predictor)
        self.rotating: RotatingPool | None = None
        per_frame = model.lufs_predictor.cfg.pictures_per_frame
        if cfg.rotating:
            self.rotating = _rotating_pool(cfg, dist, per_frame)
        else:
            spec = segment_spec(cfg, with_video=False, with_frames6=True)
            self.source = Source(cfg, dist, dataclasses.replace(spec, lufs_per_frame=per_frame))

    def next_batch(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.rotating is None:
            return super().next_batch(rng)
        cfg = cast(LufsStageConfig, self.cfg)
        if cfg.generator:  # started here, after a resume restored the pool's counters
            self.rotating.start_generator(cfg.generator_nice)
        raw = self.rotating.batch(rng)
        batch = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in raw.items()}
        return to_device(batch, self.dist.device)

    def after_step(self, batch: dict[str, Any], step: int, lr: float) -> dict[str, float]:
        return self.rotating.stats() if self.rotating is not None else {}

    def extra_state(self) -> dict[str, Any]:
        return {"rotating": self.rotating.state()} if self.rotating is not None else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.rotating is not None and "rotating" in state:
            self.rotating.restore(state["rotating"])

    def export(self, ema: dict[str, Tensor] | None) -> dict[str, Tensor]:
        if self.rotating is not None:
            self.rotating.stop_generator()
            self.summary_extra = {f"final_{k}": v for k, v in self.rotating.stats().items()}
        return super().export(ema)


def _load_one_picture_t_lufs(predictor: nn.Module, path: Path) -> None:
    """Load a one-picture T_LUFS's stage weights (``lufs_predictor.*``) into ``predictor``, which reads
    sub-frames: the step channels start at zero (``widen_to_sub_frames``)."""
    from safetensors.torch import load_file

    from triergon_studio.engine.models.lufs_predictor import LufsPredictor, widen_to_sub_frames
    from triergon_studio.errors import ModelError

    if not path.exists():
        raise StudioError("the one-picture T_LUFS weights (init_one_picture) were not found", path)
    prefix = "lufs_predictor."
    sd = {k[len(prefix) :]: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}
    pred = cast(LufsPredictor, predictor)
    try:
        pred.load_state_dict(widen_to_sub_frames(sd, pred.cfg), strict=True)
    except (ModelError, RuntimeError) as exc:
        raise StudioError(
            f"init_one_picture does not fit this T_LUFS: {str(exc).splitlines()[0]}", path
        ) from exc


def _rotating_pool(cfg: LufsStageConfig, dist: Dist, per_frame: int = 1) -> RotatingPool:
    from triergon_studio.training.corpus.heldout import HELDOUT_SEED
    from triergon_studio.training.eval.dev_check import DEV_SEED

    if cfg.seed in (HELDOUT_SEED, DEV_SEED):
        raise StudioError(f"the T_LUFS clip seed {cfg.seed} is the held-out or dev seed; choose another")
    spec = RotatingSpec(
        seed=cfg.seed,
        size=cfg.lufs_size,
        per_frame=per_frame,
        corpus=CorpusConfig(**cfg.corpus),
        clip_dir=Path(cfg.clip_dir) if cfg.clip_dir else Path(cfg.out_dir) / "clips",
        window_frames=window_frames_from_seconds(cfg.window_seconds),
        live_clips=cfg.live_clips,
        uses_per_clip=cfg.uses_per_clip,
        fresh_fraction=cfg.fresh_fraction,
        prefetch=cfg.prefetch_clips,
        processes=cfg.generator_processes,
        brightness=cfg.brightness_jitter,
        contrast=cfg.contrast_jitter,
        rank=dist.rank,
        world_size=dist.world_size,
    )
    reservoir = Reservoir.load(Path(cfg.pool_path)) if cfg.reservoir else None
    return RotatingPool(spec, cfg.batch_size, reservoir)
