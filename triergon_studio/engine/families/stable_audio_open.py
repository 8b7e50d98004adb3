"""Stable Audio Open 1.0 and Small behind the model protocol, loaded from a Hugging Face snapshot folder.

A snapshot (``stabilityai/stable-audio-open-1.0`` or ``stabilityai/stable-audio-open-small``) holds
``model_config.json``, ``model.safetensors`` (or ``model.ckpt``), and the T5-base text encoder in
``text_encoder/`` + ``tokenizer/``. The two variants share the Oobleck VAE and the DiT code; the config says
which objective (v for 1.0, rectified flow for Small), which conditions and which DiT shape.

Conditioning matches stable-audio-tools: the prompt through T5 (padded to the config's max_length, padding
zeroed; an empty prompt is T5("")), the timing numbers as learned-Fourier embeddings; the unconditional half of
guidance takes the negative prompt's tokens (or all zeros without one) and keeps the positive global condition.
Init audio (``init=``) is noised to ``settings.init_noise`` on the variant's own time axis: cosine time t for
1.0 (sigma = tan(pi t / 2), stable-audio-tools 0.0.19 ``init_noise_level`` = that sigma), flow time t for
Small (``init_noise_level`` = t), and sampled from there.
"""

from __future__ import annotations

from collections.abc import Generator
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
from triergon_studio.engine.families.sao_config import (
    CONFIG_FILE,
    SAOConfig,
    load_sao_config,
    looks_like_sao,
    read_json,
    safetensors_param_count,
)
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.core.progress import ProgressFn
    from triergon_studio.engine.families.sao_model import SAOCondition, SAOModel
    from triergon_studio.engine.families.sao_t5 import T5TextEncoder

FAMILY = "stable-audio-open"
LICENCE = "Stability AI Community License (gated on Hugging Face: accept the terms to download)"
V_SAMPLERS = ("dpmpp-3m-sde", "dpmpp-2m", "ddim", "euler")
FLOW_SAMPLERS = ("pingpong", "euler")
# Shares of the loading bar (SAO 1.0: 4.8 GB of weights, then T5-base from its folder); inside each stage the
# fraction is real work (values read, tensors loaded).
LOAD_STAGES = {"read": 0.45, "load": 0.25, "place": 0.1, "text": 0.2}
SIGMA_MIN, SIGMA_MAX = 0.3, 500.0  # the SAO 1.0 model card's sampling range (SPEC §3)


def _is_sao(folder: Path) -> bool:
    if not (folder / CONFIG_FILE).is_file() or (folder / "config.json").is_file():
        return False
    try:
        return looks_like_sao(read_json(folder))
    except ModelError:
        return False


def defaults_for(cfg: SAOConfig, guidance: str = "cfg") -> Defaults:
    """Each guidance rule with the defaults of the reference it matches (README, "Stable Audio Open").

    1.0 + cfg: stable-audio-tools 0.0.16-0.0.19 and the model card (100 steps, CFG 7, DPM-Solver++(3M) SDE).
    1.0 + apg: APG with the Euler sampler (stable-audio-3's defaults, the issue's "0.0.20").
    Small: 8 ping-pong steps without guidance (CFG 1), whichever rule is chosen.
    """
    if cfg.is_flow:
        return Defaults(steps=8, cfg=1.0, sampler="pingpong", guidance=guidance, init_noise=0.7)
    if guidance == "apg":
        return Defaults(steps=100, cfg=7.0, sampler="euler", guidance="apg", init_noise=0.7)
    return Defaults(steps=100, cfg=7.0, sampler="dpmpp-3m-sde", guidance="cfg", init_noise=0.7)


def info_for(cfg: SAOConfig, folder: Path, params: int = 0) -> ModelInfo:
    caps = Capabilities(
        text=True,
        negative_text=True,
        reference_audio=False,
        video=False,
        lufs=False,
        init_audio=True,
        inpaint=True,
        lufs_predictor=False,
        max_window_s=cfg.max_window_s,
        samplers=FLOW_SAMPLERS if cfg.is_flow else V_SAMPLERS,
        guidance_rules=("cfg", "apg"),
        notes=(
            "Stable Audio Open takes no video or reference-audio prompt: the picture steers it through the "
            "loudness curves; use init audio to vary a sound",
        ),
    )
    return ModelInfo(
        name=folder.name or "stable-audio-open",
        family=FAMILY,
        capabilities=caps,
        defaults=defaults_for(cfg),
        path=str(folder),
        params=params,
        licence=LICENCE,
        sample_rate=cfg.sample_rate,
        latent_rate_hz=cfg.latent_rate_hz,
        variant=cfg.variant,
        guidance_defaults={g: defaults_for(cfg, g) for g in ("cfg", "apg")},
    )


def describe(name_or_dir: str) -> ModelInfo:
    """Torch-free: the config, and the parameter count from the safetensors header when there is one."""
    folder = Path(name_or_dir).expanduser()
    cfg = load_sao_config(folder)
    weights = folder / "model.safetensors"
    return info_for(cfg, folder, safetensors_param_count(weights) if weights.is_file() else 0)


def load(
    name_or_dir: str,
    device: Any = "cpu",
    dtype: Any = None,
    *,
    text_encoder: str | Path | None = None,
    require_text_encoder: bool = True,
    progress: ProgressFn | None = None,
    **options: Any,
) -> StableAudioOpenModel:
    """Load the snapshot's weights strictly and its T5 from ``text_encoder/`` + ``tokenizer/`` (or
    ``text_encoder=DIR``). ``require_text_encoder=False`` (Python API with precomputed T5 embeddings in
    ``TakeInputs.embeddings``) loads without T5. ``progress(message, fraction)`` follows the stages: weights
    read (values) and loaded (tensors), the move to the device, the text encoder."""
    import torch

    from triergon_studio.core.progress import Stages
    from triergon_studio.engine.families.sao_model import find_weights, load_sao_model
    from triergon_studio.engine.families.sao_t5 import T5TextEncoder, find_text_encoder

    if options:
        raise ModelError(f"unknown load options: {', '.join(options)}", name_or_dir)
    folder = Path(name_or_dir).expanduser()
    if not folder.is_dir():
        raise ModelError("Stable Audio Open folder not found", folder)
    stages = Stages(progress, LOAD_STAGES)
    cfg = load_sao_config(folder)
    weights = find_weights(folder)
    t5_dirs = None
    if require_text_encoder or text_encoder is not None:
        t5_dirs = find_text_encoder(folder, text_encoder)  # before the weights: a missing T5 fails fast
    net = load_sao_model(cfg, weights, read=stages.part("read"), load=stages.part("load"))
    stages.start("place", f"Moving the model to {device}")
    dev = torch.device(device)
    net = net.to(dev)
    if dtype is not None:
        net = net.to(dtype)
    stages.done("place", "Model placed")
    t5 = None
    if t5_dirs is not None:
        stages.start("text", "Loading the T5 text encoder")
        t5 = T5TextEncoder(
            t5_dirs[0], t5_dirs[1], max_length=cfg.prompt_max_length, expected_dim=cfg.t5_dim, device=dev
        )
    stages.done("text", "Text encoder loaded")
    params = sum(p.numel() for p in net.parameters())
    return StableAudioOpenModel(net, info_for(cfg, folder, params), t5)


class StableAudioOpenModel:
    """A loaded Stable Audio Open 1.0 or Small on one device (``GenerationModel``)."""

    def __init__(self, net: SAOModel, info: ModelInfo, text_encoder: T5TextEncoder | None = None) -> None:
        self.net = net
        self.cfg: SAOConfig = net.cfg
        self.info = info
        self.text_encoder = text_encoder

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    @property
    def latent_channels(self) -> int:
        return int(self.cfg.vae.latent_dim)

    @property
    def downsampling_ratio(self) -> int:
        return int(self.cfg.downsampling_ratio)

    def defaults_for(self, guidance: str) -> Defaults:
        return defaults_for(self.cfg, guidance)

    # ------------------------------------------------------------------------------------------ checks

    def check(self, inputs: TakeInputs, settings: Settings) -> None:
        caps, name = self.info.capabilities, self.info.name
        if settings.sampler not in caps.samplers:
            raise ModelError(
                f"model '{name}' has no sampler {settings.sampler!r}; choose {', '.join(caps.samplers)}"
            )
        if settings.guidance not in caps.guidance_rules:
            raise ModelError(
                f"model '{name}' offers guidance {', '.join(caps.guidance_rules)}, not {settings.guidance!r}"
            )
        if inputs.reference is not None:
            raise ModelError(
                f"model '{name}' takes no reference-audio prompt; use init audio to vary a sound"
            )
        if self.text_encoder is None and "text" not in inputs.embeddings:
            raise ModelError(
                "no T5 text encoder loaded: add text_encoder/ and tokenizer/ from the Hugging Face "
                "snapshot, or pass --text-encoder DIR",
                self.info.path,
            )
        if inputs.negative_text and self.text_encoder is None and "negative_text" not in inputs.embeddings:
            raise ModelError(
                "a negative prompt needs the T5 text encoder (or precomputed negative_text embeddings)",
                self.info.path,
            )

    # ------------------------------------------------------------------------------------------ conditions

    def _t5(self, text: str, key: str, inputs: TakeInputs) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        n = self.cfg.prompt_max_length
        if key in inputs.embeddings:
            emb = torch.as_tensor(inputs.embeddings[key], dtype=torch.float32)
            emb = emb[None] if emb.ndim == 2 else emb
            if emb.ndim != 3 or emb.shape[0] != 1 or emb.shape[-1] != self.cfg.t5_dim:
                raise ModelError(
                    f"precomputed {key} embeddings must be [L, {self.cfg.t5_dim}], got {tuple(emb.shape)}"
                )
            emb = emb[:, :n]
            mask = torch.zeros(1, n, dtype=torch.bool)
            mask[:, : emb.shape[1]] = True
            full = torch.zeros(1, n, emb.shape[-1])
            full[:, : emb.shape[1]] = emb
            return full, mask
        assert self.text_encoder is not None
        return self.text_encoder.encode([text])

    def condition(self, inputs: TakeInputs, settings: Settings) -> SAOCondition:
        import torch

        with torch.no_grad():
            prompt = self.net.project_prompt(*self._t5(inputs.text, "text", inputs))
            negative = None
            if inputs.negative_text or "negative_text" in inputs.embeddings:
                negative = self.net.project_prompt(*self._t5(inputs.negative_text, "negative_text", inputs))
            cond = self.net.condition(prompt, negative, self._seconds(0.0, inputs.duration_s))
        cond.take_s = float(inputs.duration_s)
        return cond

    def _seconds(self, start_s: float, total_s: float) -> dict[str, float]:
        """1.0: seconds_start = where the window starts in the take, seconds_total = the take's length (as in
        training, where a window is cropped from a longer file). Small knows only seconds_total: the content
        left from the window's start."""
        ids = {n.id for n in self.cfg.numbers}
        out: dict[str, float] = {}
        if "seconds_start" in ids:
            out["seconds_start"] = start_s
            out["seconds_total"] = total_s
        elif "seconds_total" in ids:
            out["seconds_total"] = max(total_s - start_s, 0.0)
        missing = ids - set(out)
        if missing:
            raise ModelError(
                f"unsupported Stable Audio number condition(s) {sorted(missing)}", self.info.path
            )
        return out

    def window(self, cond: SAOCondition, start_s: float, length_s: float) -> SAOCondition:
        import torch

        with torch.no_grad():
            out = self.net.with_seconds(cond, self._seconds(start_s, cond.take_s))
        out.take_s = cond.take_s
        return out

    # ------------------------------------------------------------------------------------------ sampling

    def sample(
        self,
        cond: SAOCondition,
        n_frames: int,
        settings: Settings,
        generator: torch.Generator,
        *,
        inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
        init: torch.Tensor | None = None,
    ) -> Generator[SamplerStep, None, torch.Tensor]:
        import torch

        from triergon_studio.engine.families.sao_sampling import guided, v_start_sigma
        from triergon_studio.engine.sampling.flow import logsnr_schedule, steps_flow

        dev, dtype = self.device, self.dtype
        uncond = cond.negative_tokens if cond.negative_tokens is not None else torch.zeros_like(cond.tokens)
        fn = guided(
            self.net.forward_dit,
            cond.tokens.to(dev, dtype),
            cond.global_cond.to(dev, dtype),
            uncond.to(dev, dtype),
            settings.cfg,
            settings.guidance,
            self.cfg.objective,
        )
        # the noise first, as stable-audio-tools draws it right after seeding
        gdev = generator.device if generator is not None else torch.device("cpu")
        # the sampler state stays float32 whatever the weights' precision (the DiT casts its input)
        noise = torch.randn((1, self.latent_channels, n_frames), generator=generator, device=gdev).to(dev)
        f32 = torch.float32
        if inpaint is not None:
            inpaint = (inpaint[0].to(dev, f32), inpaint[1].to(dev, f32))
        if self.cfg.is_flow:
            start = settings.init_noise if init is not None else 1.0
            ts = logsnr_schedule(settings.steps, start).to(dev)
            x = noise if init is None else init.to(dev, f32) * (1 - start) + noise * start
            # stable-audio-tools keeps the known region by projecting it onto the state at every step
            flow = steps_flow(
                fn,
                x,
                ts,
                sampler=settings.sampler,
                generator=generator,
                inpaint=inpaint,
                inpaint_rule="project",
            )
            return (yield from flow)
        from triergon_studio.engine.sampling import VDenoiser, get_step_sampler, polyexponential_sigmas

        top = v_start_sigma(settings.init_noise, SIGMA_MAX) if init is not None else SIGMA_MAX
        if top <= SIGMA_MIN:
            raise ModelError(
                f"init noise {settings.init_noise:g} is below the schedule's lowest level "
                f"(sigma {SIGMA_MIN}); raise it"
            )
        sigmas = polyexponential_sigmas(settings.steps, SIGMA_MIN, top, 1.0).to(dev)
        x = noise * sigmas[0]
        if init is not None:
            x = x + init.to(dev, f32)
        steps = get_step_sampler(settings.sampler)(
            VDenoiser(fn), x, sigmas, generator=generator, inpaint=inpaint
        )
        return (yield from steps)

    # ------------------------------------------------------------------------------------------ VAE

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """The posterior mean (stable-audio-tools samples the posterior; its spread is tiny on the real VAE)."""
        import torch

        with torch.no_grad():
            return self.net.vae.encode(audio.to(self.device, self.dtype)).float()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net.vae.decode(latent.to(self.device, self.dtype)).float()

    def decode_steps(self, latent: torch.Tensor) -> Generator[float, None, torch.Tensor]:
        """``decode`` a layer at a time, yielding the fraction done (the same samples)."""
        audio = yield from self.net.vae.decode_steps(latent.to(self.device, self.dtype))
        return audio.float()


ENTRY = FamilyEntry(FAMILY, _is_sao, f"{__name__}:describe", f"{__name__}:load")
