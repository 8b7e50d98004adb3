"""Tri-Ergon behind the model protocol: our DiT with text, reference-audio and video prompts, LUFS curves and
timing, over its autoencoder (Oobleck; the compact preset's is spectral), sampled in k-diffusion's sigma space
with the v-objective (SPEC §3)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.engine.families.base import (
    Capabilities,
    Defaults,
    FamilyEntry,
    ModelInfo,
    Settings,
    TakeInputs,
)
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.core.progress import ProgressFn
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.engine.models.conditioning import Conditions
    from triergon_studio.engine.models.triergon import TriErgon

FAMILY = "tri-ergon"
SAMPLER_NAMES = ("dpmpp-3m-sde", "dpmpp-2m", "ddim", "euler")


def _is_ours(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def capabilities_for(cfg: ModelConfig) -> Capabilities:
    has_enc = cfg.encoders is not None
    return Capabilities(
        text=has_enc,
        negative_text=has_enc,
        reference_audio=has_enc,
        video=has_enc,
        lufs=True,
        init_audio=True,
        inpaint=True,
        lufs_predictor=cfg.lufs_predictor is not None,
        max_window_s=float(cfg.max_duration_s),
        samplers=SAMPLER_NAMES,
        guidance_rules=("cfg",),
        notes=()
        if has_enc
        else ("this model has no prompt encoders: it follows the curves and timing only",),
    )


def info_for(cfg: ModelConfig, path: str | None, params: int = 0) -> ModelInfo:
    s = cfg.sampling
    return ModelInfo(
        name=cfg.name,
        family=FAMILY,
        capabilities=capabilities_for(cfg),
        defaults=Defaults(
            steps=int(s.steps),
            cfg=float(s.cfg_scale),
            sampler=s.sampler,
            guidance="cfg",
            init_noise=0.7,
            follow_curves="off",
            guide=dict(s.guide),
        ),
        path=path,
        params=params,
        licence="Apache-2.0 (trained by this project)" if path else "",
        sample_rate=cfg.sample_rate,
        latent_rate_hz=cfg.latent_rate_hz,
        variant=cfg.preset,
    )


def _config_for(name_or_dir: str) -> tuple[ModelConfig, str | None]:
    from triergon_studio.engine.config import ModelConfig, get_preset
    from triergon_studio.engine.weights import CONFIG_FILE, RANDOM_SUFFIX, resolve_model

    kind, path = resolve_model(name_or_dir)
    if kind == "random":
        cfg = get_preset(name_or_dir[: -len(RANDOM_SUFFIX)])
        cfg.name = name_or_dir
        return cfg, None
    assert path is not None
    return ModelConfig.from_json(path / CONFIG_FILE), str(path)


def describe(name_or_dir: str) -> ModelInfo:
    cfg, path = _config_for(name_or_dir)
    params = 0
    if path is not None:
        try:
            manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
            params = int(manifest.get("params", {}).get("total", 0) or 0)
        except (OSError, ValueError, AttributeError):
            params = 0
    return info_for(cfg, path, params)


def load(
    name_or_dir: str,
    device: Any = "cpu",
    dtype: Any = None,
    *,
    progress: ProgressFn | None = None,
    **options: Any,
) -> TriErgonModel:
    """``progress(message, fraction)`` follows the loading stages (``weights.LOAD_STAGES``)."""
    from triergon_studio.engine.weights import load_model

    if options:
        raise ModelError(f"Tri-Ergon models take no load options (got {', '.join(options)})", name_or_dir)
    net = load_model(name_or_dir, device, dtype, progress=progress)
    _, path = _config_for(name_or_dir) if not name_or_dir.endswith("-random") else (None, None)
    return TriErgonModel(net, path)


ENTRY = FamilyEntry(FAMILY, _is_ours, f"{__name__}:describe", f"{__name__}:load")


class TriErgonModel:
    """A loaded Tri-Ergon (or a Stable Audio Open checkpoint run by the same network code)."""

    def __init__(self, net: TriErgon, path: str | None = None, info: ModelInfo | None = None) -> None:
        self.net = net
        self.info = info or info_for(net.cfg, path, sum(net.param_counts().values()))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def latent_channels(self) -> int:
        return int(self.net.cfg.vae.latent_dim)

    @property
    def downsampling_ratio(self) -> int:
        return int(self.net.cfg.vae.downsampling_ratio)

    @property
    def min_frames(self) -> int:
        """Models trained on fixed windows sample at least that many latent frames (then trim)."""
        return int(self.net.cfg.sample_size_frames or 0)

    # ------------------------------------------------------------------------------------------ checks

    def check(self, inputs: TakeInputs, settings: Settings) -> None:
        caps = self.info.capabilities
        name = self.info.name
        if settings.sampler not in caps.samplers:
            raise ModelError(
                f"model '{name}' has no sampler {settings.sampler!r}; choose {', '.join(caps.samplers)}"
            )
        if settings.guidance not in caps.guidance_rules:
            raise ModelError(
                f"model '{name}' offers guidance {', '.join(caps.guidance_rules)}, not {settings.guidance!r}"
            )
        if inputs.reference is not None and "audio" not in inputs.embeddings and self.net.encoders is None:
            raise ModelError(
                f"model '{name}' has no prompt encoders, so it cannot use a reference-audio prompt"
            )
        wants_text = bool(inputs.text or inputs.negative_text) and "text" not in inputs.embeddings
        if wants_text and self.net.encoders is None:
            raise ModelError(f"model '{name}' has no prompt encoders, so it cannot use a text prompt")

    # ------------------------------------------------------------------------------------------ conditions

    def condition(self, inputs: TakeInputs, settings: Settings) -> tuple[Conditions, Conditions | None]:
        """The conditions, and the negative prompt's conditions for the unconditional half (or None)."""
        from triergon_studio.engine.pipeline_inputs import build_conditions, negative_conditions

        cond = build_conditions(inputs, self.net)
        neg = negative_conditions(inputs, self.net, cond) if inputs.negative_text else None
        return cond, neg

    def window(
        self, cond: tuple[Conditions, Conditions | None], start_s: float, length_s: float
    ) -> tuple[Conditions, Conditions | None]:
        from triergon_studio.engine.pipeline_inputs import slice_conditions

        pos, neg = cond
        return slice_conditions(pos, start_s, length_s), (
            slice_conditions(neg, start_s, length_s) if neg is not None else None
        )

    def task_id(self, cond: tuple[Conditions, Conditions | None]) -> int:
        from triergon_studio.engine.models.triergon import task_id

        return int(task_id(cond[0])[0])

    # ------------------------------------------------------------------------------------------ sampling

    def sample(
        self,
        cond: tuple[Conditions, Conditions | None],
        n_frames: int,
        settings: Settings,
        generator: torch.Generator,
        *,
        inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
        init: torch.Tensor | None = None,
    ) -> Generator[SamplerStep, None, torch.Tensor]:
        import torch

        from triergon_studio.engine.sampling import cfg_denoiser, get_step_sampler, polyexponential_sigmas

        s = self.net.cfg.sampling
        dev = self.device
        pos, neg = cond
        with torch.no_grad():
            ct = self.net.condition(pos)
            un = self.net.condition(neg) if neg is not None else ct.unconditional()
            if neg is not None:
                un = replace(un, global_cond=ct.global_cond)  # the positive timing, as Stable Audio does
            drop = None
            if s.curve_cfg and pos.lufs is not None:
                drop = (self.net.model_kwargs(self.net.condition(replace(pos, lufs=None))), s.curve_cfg)
        denoiser = cfg_denoiser(
            self.net.denoise_v, self.net.model_kwargs(ct), self.net.model_kwargs(un), settings.cfg, drop
        )
        sigma_max = s.sigma_max
        if init is not None:
            # init_noise is a fraction of the diffusion time t in [0, 1]: sigma = tan(t pi / 2)
            sigma_max = min(s.sigma_max, max(s.sigma_min * 1.01, math.tan(settings.init_noise * math.pi / 2)))
        sigmas = polyexponential_sigmas(settings.steps, s.sigma_min, sigma_max, 1.0).to(dev)
        shape = (1, self.latent_channels, n_frames)
        x = torch.randn(shape, generator=generator, device=dev, dtype=torch.float32) * sigmas[0]
        if init is not None:
            x = x + init.to(dev, torch.float32)
        steps = get_step_sampler(settings.sampler)(denoiser, x, sigmas, generator=generator, inpaint=inpaint)
        return (yield from steps)

    # ------------------------------------------------------------------------------------------ VAE

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        import torch

        vae = self.net.vae
        with torch.no_grad():
            return vae.encode(audio.to(self.device, vae.latent_dtype)).float()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        vae = self.net.vae
        return vae.decode(latent.to(vae.latent_dtype)).float()

    @property
    def loudness_track(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, int]] | None:
        """The autoencoder's cheap estimate of a decode's K-weighted power (``[B, C, M]`` every ``hop``
        samples) for curve guidance, when it has one (band-PCA), else None."""
        track = getattr(self.net.vae, "loudness_track", None)
        return track if callable(track) else None

    @property
    def gain_directions(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The autoencoder's exact latent change per dB of gain on each channel (``[2, *z.shape]``) for gain
        mode, when its code has one (band-PCA), else None."""
        dirs = getattr(self.net.vae, "gain_directions", None)
        return dirs if callable(dirs) else None

    def decode_steps(self, latent: torch.Tensor) -> Generator[float, None, torch.Tensor]:
        """``decode`` a layer at a time, yielding the fraction done (the same samples)."""
        vae = self.net.vae
        audio = yield from vae.decode_steps(latent.to(vae.latent_dtype))
        return audio.float()

    # ------------------------------------------------------------------------------------------ T_LUFS

    def predict_curves(self, video_path: str, progress: ProgressFn | None = None) -> Any:
        """T_LUFS curves of the whole video; ``progress(message, fraction)`` follows decoding and prediction."""
        from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

        if self.net.lufs_predictor is None:
            raise ModelError(
                f"model '{self.info.name}' has no LUFS predictor; pass curves or use motion curves"
            )
        return predict_curves_for_video(video_path, self.net.lufs_predictor, progress)
