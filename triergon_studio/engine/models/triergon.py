"""Tri-Ergon (Li et al., 2024): Oobleck VAE + DiT with multi-modal, LUFS and timing conditions.

``TriErgon`` holds ``.vae``, ``.dit``, ``.conditioner``, ``.encoders`` (prompt encoders, optional) and
``.lufs_predictor`` (T_LUFS, optional). ``denoise_v`` is the v-prediction network the samplers call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.config import ModelConfig
from triergon_studio.engine.models.autoencoders import build_autoencoder
from triergon_studio.engine.models.conditioning import (
    Conditions,
    ConditionTensors,
    apply_condition_dropout,
    build_conditioner,
    task_id,
)
from triergon_studio.engine.models.dit import DiffusionTransformer
from triergon_studio.engine.models.encoder_factory import build_prompt_encoders
from triergon_studio.engine.models.lufs_predictor import LufsPredictor
from triergon_studio.errors import ModelError

__all__ = [
    "Conditions",
    "ConditionTensors",
    "TriErgon",
    "apply_condition_dropout",
    "build_model",
    "curve_to_frames",
    "task_id",
    "count_params",
]


def curve_to_frames(lufs: Tensor, n_frames: int, frame_rate: float, curve_rate: float = 6.0) -> Tensor:
    """Resample a [B, 2, F] curve to ``n_frames`` frames at ``frame_rate`` Hz by linear interpolation at each
    frame's centre time (curve value k covers [k/rate, (k+1)/rate)); held constant past either end."""
    b, c, f = lufs.shape
    centres = (torch.arange(n_frames, device=lufs.device, dtype=torch.float32) + 0.5) / frame_rate
    pos = (centres * curve_rate - 0.5).clamp(0.0, max(f - 1, 0))
    lo = pos.floor().long().clamp(max=f - 1)
    hi = (lo + 1).clamp(max=f - 1)
    w = (pos - lo.float()).to(lufs.dtype)
    return lufs[..., lo] * (1 - w) + lufs[..., hi] * w


def count_params(module: nn.Module | None) -> int:
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters())


class TriErgon(nn.Module):
    def __init__(
        self, cfg: ModelConfig, encoders: nn.Module | None = None, *, build_encoders: bool = True
    ) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.vae = build_autoencoder(cfg.vae, cfg.sample_rate)
        self.dit = DiffusionTransformer(cfg.dit)
        self.conditioner = build_conditioner(cfg.conditioning)
        if encoders is None and build_encoders and cfg.encoders is not None:
            encoders = _build_encoders(cfg)
        self.encoders = encoders
        self.lufs_predictor: LufsPredictor | None = None
        if build_encoders and cfg.lufs_predictor is not None:
            self.lufs_predictor = _build_lufs_predictor(cfg)

    @property
    def latent_rate_hz(self) -> float:
        return self.cfg.latent_rate_hz

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    def condition(self, conditions: Conditions) -> ConditionTensors:
        return self.conditioner(conditions)

    def frame_condition(self, lufs: Tensor | None, n_frames: int) -> Tensor | None:
        """The frame-aligned loudness input [B, 2, T] (None unless ``lufs_mode`` is ``tokens+frame``)."""
        if lufs is None or self.dit.lufs_frame_proj is None:
            return None
        return curve_to_frames(lufs, n_frames, self.latent_rate_hz, self.cfg.conditioning.curve_rate_hz)

    def denoise_v(
        self,
        x_t: Tensor,
        t: Tensor,
        cond_tokens: Tensor | None = None,
        global_cond: Tensor | None = None,
        frame_cond: Tensor | None = None,
    ) -> Tensor:
        """v-prediction. ``frame_cond`` is the normalised 6 Hz curve [B, 2, F6]; it is resampled here to the
        latent frame rate (only used by ``tokens+frame`` models)."""
        frames = self.frame_condition(frame_cond, x_t.shape[-1]) if frame_cond is not None else None
        return self.dit(x_t, t, cond_tokens, global_cond, frames).to(x_t.dtype)

    def model_kwargs(self, ct: ConditionTensors) -> dict[str, Any]:
        """Keyword arguments for ``denoise_v`` from built condition tensors."""
        return {"cond_tokens": ct.tokens, "global_cond": ct.global_cond, "frame_cond": ct.lufs}

    def param_counts(self) -> dict[str, int]:
        return {
            "dit_params": count_params(self.dit),
            "vae_params": count_params(self.vae),
            "conditioner_params": count_params(self.conditioner),
            "encoder_params": count_params(self.encoders),
            "lufs_predictor_params": count_params(self.lufs_predictor),
        }


def _build_encoders(cfg: ModelConfig) -> nn.Module | None:
    if cfg.encoders is None:
        return None
    return build_prompt_encoders(
        cfg.encoders, cond_dim=cfg.conditioning.cond_dim, num_tokens=cfg.conditioning.num_tokens
    )


def _build_lufs_predictor(cfg: ModelConfig) -> LufsPredictor | None:
    return None if cfg.lufs_predictor is None else LufsPredictor(cfg.lufs_predictor)


def build_model(
    cfg: ModelConfig,
    device: str | torch.device = "cpu",
    *,
    dtype: torch.dtype | None = None,
    encoders: nn.Module | None = None,
    build_encoders: bool = True,
) -> TriErgon:
    """Build a model; ``device="meta"`` allocates nothing (parameter counting of the large presets)."""
    # Import torchaudio's kaldi module outside the device context: its module-level EPSILON tensor, first
    # created under ``torch.device("meta")``, would break every later fbank (LanguageBind audio) in the process.
    import torchaudio.compliance.kaldi  # noqa: F401

    try:
        with torch.device(device):
            model = TriErgon(cfg, encoders, build_encoders=build_encoders)
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise ModelError(
                f"out of memory building {cfg.name} on {device}: try a smaller preset, --device cpu, or bf16"
            ) from exc
        raise
    if dtype is not None:  # the prompt encoders and T_LUFS stay fp32 (run once per generation)
        for part in (model.vae, model.dit, model.conditioner):
            part.to(dtype)
    return model.eval()


def frames_for_samples(cfg: ModelConfig, n_samples: int) -> int:
    return -(-n_samples // cfg.vae.downsampling_ratio)


def pad_to(x: Tensor, n: int) -> Tensor:
    return F.pad(x, (0, n - x.shape[-1])) if x.shape[-1] < n else x[..., :n]
