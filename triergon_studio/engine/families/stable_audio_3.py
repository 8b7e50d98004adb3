"""Stable Audio 3 (Small-SFX, Small-Music, Medium and their base checkpoints) behind the model protocol.

Our DiT (``engine/models/sa3_dit.py``), T5Gemma through ``transformers`` (``sa3_text.py``) and the SAME
autoencoder (``same.py``), loaded from the folder a user downloads. Each Tri-Ergon control maps onto it:
text -> T5Gemma; the picture-exact length -> the duration token, then trimmed; init audio -> audio-to-audio
from ``init_noise``; regions and continuation -> native inpainting (the keep-mask and known latents as the
model's local condition, and the known latents restored exactly at the end); loudness curves -> curve control
(the model has no LUFS input). Post-trained checkpoints (``rf_denoiser``) sample with ping-pong in 8 steps
without guidance; base checkpoints (``rectified_flow``) with Euler, 50 steps and APG guidance at 7, as upstream.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.engine.families.base import Capabilities, Defaults, ModelInfo, Settings, TakeInputs
from triergon_studio.engine.families.registry import FamilyEntry
from triergon_studio.engine.models.sa3_config import (
    DEFAULT_HEADROOM_S,
    SA3Config,
    looks_like_sa3,
    read_config,
)
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

FAMILY = "stable-audio-3"
LICENCE = "Stability AI Community License"
# Shares of the loading bar (T5Gemma first, then the checkpoint); inside the read and load stages the fraction
# is real work (values read, tensors assigned).
LOAD_STAGES = {"text": 0.25, "read": 0.4, "load": 0.3, "place": 0.05}
NOTES = (
    "Stable Audio 3 takes no video prompt: the picture steers it through the loudness curves",
    "Stable Audio 3 takes no reference-audio prompt: use the audio as init audio (audio-to-audio) instead",
)


def _detect(folder: Path) -> bool:
    p = folder / "model_config.json"
    if not p.is_file():
        return False
    try:
        return looks_like_sa3(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def variant_for(cfg: SA3Config, folder: Path) -> str:
    name = folder.name.lower()
    size = "medium" if cfg.dit.differential else "small"
    if size == "small":
        size = "small-sfx" if "sfx" in name else "small-music" if "music" in name else "small"
    return size if cfg.post_trained else f"{size}-base"


def capabilities_for(cfg: SA3Config) -> Capabilities:
    notes: tuple[str, ...] = NOTES
    if cfg.post_trained:
        notes = (
            *notes,
            "this checkpoint is distilled for 8 steps without guidance: a negative prompt needs CFG above 1",
        )
    if cfg.dit.differential:
        notes = (*notes, "Stable Audio 3 Medium runs on a CUDA GPU only, as upstream")
    return Capabilities(
        text=True,
        negative_text=True,
        reference_audio=False,
        video=False,
        lufs=False,
        init_audio=True,
        inpaint=True,
        lufs_predictor=False,
        max_window_s=cfg.max_window_s,
        samplers=("pingpong",) if cfg.post_trained else ("euler", "dpmpp", "pingpong"),
        guidance_rules=("apg", "cfg"),
        notes=notes,
    )


def defaults_for(cfg: SA3Config) -> Defaults:
    if cfg.post_trained:
        return Defaults(steps=8, cfg=1.0, sampler="pingpong", guidance="apg", init_noise=0.9)
    return Defaults(steps=50, cfg=7.0, sampler="euler", guidance="apg", init_noise=0.9)


def info_for(cfg: SA3Config, folder: Path, params: int) -> ModelInfo:
    return ModelInfo(
        name=folder.name,
        family=FAMILY,
        capabilities=capabilities_for(cfg),
        defaults=defaults_for(cfg),
        path=str(folder),
        params=params,
        licence=LICENCE,
        sample_rate=cfg.sample_rate,
        latent_rate_hz=cfg.latent_rate_hz,
        variant=variant_for(cfg, folder),
    )


def describe(name_or_dir: str) -> ModelInfo:
    """From ``model_config.json`` and the weights file's header only (no torch)."""
    from triergon_studio.engine.models.sa3_config import dit_param_count

    folder = Path(name_or_dir).expanduser()
    _, cfg = read_config(folder / "model_config.json")
    params = dit_param_count(cfg.dit)
    st = folder / "model.safetensors"
    if st.is_file():
        from triergon_studio.engine.models.sa3_header import param_count_from_file

        params = param_count_from_file(st)
    return info_for(cfg, folder, params)


def load(name_or_dir: str, device: Any = "cpu", dtype: Any = None, **options: Any) -> StableAudio3Model:
    """Options: ``text_encoder`` (a T5Gemma folder), ``headroom_s`` (default 6 s, upstream's), ``allow_cpu``
    (run Medium without CUDA: tests only), ``progress`` (``progress(message, fraction)`` over the stages:
    text encoder, weights read (values) and assigned (tensors), the move to the device)."""
    import torch

    from triergon_studio.core.progress import Stages
    from triergon_studio.engine.models.sa3_loading import load_parts
    from triergon_studio.engine.models.sa3_text import load_text_encoder

    progress = options.pop("progress", None)
    unknown = set(options) - {"text_encoder", "headroom_s", "allow_cpu"}
    if unknown:
        raise ModelError(f"unknown load options: {', '.join(sorted(unknown))}", name_or_dir)
    folder = Path(name_or_dir).expanduser()
    dev = torch.device(device)
    _, cfg = read_config(folder / "model_config.json")
    if cfg.dit.differential and dev.type != "cuda" and not options.get("allow_cpu", False):
        raise ModelError(
            "Stable Audio 3 Medium runs on a CUDA GPU only (as upstream); use Small on this machine", folder
        )
    stages = Stages(progress, LOAD_STAGES)
    stages.start("text", "Loading the T5Gemma text encoder")
    text = load_text_encoder(cfg, folder, options.get("text_encoder"), dev)
    stages.done("text", "Text encoder loaded")
    cfg, dit, cond, ae, path = load_parts(
        folder, dtype or torch.float32, read=stages.part("read"), load=stages.part("load")
    )
    stages.start("place", f"Moving the model to {dev}")
    params = sum(t.numel() for m in (dit, cond, ae) for t in m.state_dict().values())
    model = StableAudio3Model(cfg, dit.to(dev), cond.to(dev), ae.to(dev), text, info_for(cfg, folder, params))
    stages.done("place", "Model placed")
    model.headroom_s = float(options.get("headroom_s", DEFAULT_HEADROOM_S))
    return model


ENTRY = FamilyEntry(FAMILY, _detect, f"{__name__}:describe", f"{__name__}:load")


@dataclass(slots=True)
class SA3Cond:
    """The prompt's T5Gemma output (kept raw so each chunk gets its own duration token) and the duration."""

    emb: Any  # [1, L, 768]
    mask: Any  # [1, L] bool
    neg: tuple[Any, Any] | None
    seconds: float


class StableAudio3Model:
    def __init__(
        self, cfg: SA3Config, dit: Any, conditioners: Any, autoencoder: Any, text: Any, info: ModelInfo
    ) -> None:
        self.cfg = cfg
        self.dit = dit
        self.conditioners = conditioners
        self.autoencoder = autoencoder
        self.text = text
        self.info = info
        self.headroom_s = DEFAULT_HEADROOM_S

    @property
    def device(self) -> torch.device:
        return self.dit.preprocess_conv.weight.device

    @property
    def latent_channels(self) -> int:
        return self.cfg.dit.io_channels

    @property
    def downsampling_ratio(self) -> int:
        return self.cfg.downsampling_ratio

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
        if settings.steps < 1:
            raise ModelError(f"steps must be at least 1 (got {settings.steps})")
        if not 0.01 <= settings.init_noise <= 1.0:
            raise ModelError(f"init noise must be between 0.01 and 1 (got {settings.init_noise})")
        if inputs.reference is not None:
            raise ModelError(f"{NOTES[1]} (model '{name}')")
        if inputs.negative_text and settings.cfg == 1.0:
            raise ModelError(
                f"a negative prompt needs CFG above 1 (model '{name}' samples without guidance at 1)"
            )

    # ------------------------------------------------------------------------------------------ conditions

    def _encode_text(self, text: str, key: str, inputs: TakeInputs) -> tuple[Any, Any]:
        pre = inputs.embeddings.get(key)
        if pre is not None:  # precomputed (Python API): (last hidden state, mask)
            emb, mask = pre
            return emb.to(self.device).float(), mask.to(self.device).bool()
        emb, mask = self.text.encode([text])
        return emb, mask

    def condition(self, inputs: TakeInputs, settings: Settings) -> SA3Cond:
        emb, mask = self._encode_text(inputs.text, "t5gemma", inputs)
        neg = None
        if inputs.negative_text and settings.cfg != 1.0:
            neg = self._encode_text(inputs.negative_text, "t5gemma_negative", inputs)
        return SA3Cond(emb, mask, neg, inputs.duration_s)

    def window(self, cond: SA3Cond, start_s: float, length_s: float) -> SA3Cond:
        del start_s  # the model knows only the chunk's duration
        return replace(cond, seconds=float(length_s))

    # ------------------------------------------------------------------------------------------ sampling

    def total_frames(self, n_frames: int) -> int:
        """Latents sampled for ``n_frames`` wanted: upstream's headroom after the duration, within the window.
        Upstream masks the padded tail out of attention; sampling only the valid latents is the same."""
        head = int(self.headroom_s * self.cfg.sample_rate / self.cfg.downsampling_ratio)
        return max(n_frames, min(n_frames + head, self.cfg.max_frames))

    def sample(
        self,
        cond: SA3Cond,
        n_frames: int,
        settings: Settings,
        generator: torch.Generator,
        *,
        inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
        init: torch.Tensor | None = None,
    ) -> Generator[SamplerStep, None, torch.Tensor]:
        import torch
        import torch.nn.functional as F

        from triergon_studio.engine.models.sa3_dit import DiTCond, build_cond
        from triergon_studio.engine.sampling.flow import build_schedule, steps_flow

        dev, c = self.device, self.latent_channels
        total = self.total_frames(n_frames)
        tail = total - n_frames
        with torch.no_grad():
            base = build_cond(self.conditioners, cond.emb, cond.mask, cond.seconds, cond.neg)
            keep = torch.zeros(1, 1, total, device=dev)
            known = torch.zeros(1, c, total, device=dev)
            if inpaint is not None:
                k, m = inpaint
                known[..., :n_frames] = k.to(dev, torch.float32)
                keep[..., :n_frames] = 1.0 - m.to(dev, torch.float32).reshape(1, -1, n_frames)[:, :1]
            local = torch.cat([keep, known * keep], dim=1)
            dcond = DiTCond(base.context, base.global_cond, local, base.negative_context)
            kv = self.dit.context_kv(dcond.context)
            local_embs = self.dit.local_embeddings(local)
            ukv = None
            if settings.cfg != 1.0:
                neg = (
                    dcond.negative_context
                    if dcond.negative_context is not None
                    else torch.zeros_like(dcond.context)
                )
                ukv = self.dit.context_kv(neg)
        apg = 1.0 if settings.guidance == "apg" else 0.0

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.dit.guided(
                x, t, dcond, settings.cfg, apg, context_kv=kv, uncond_kv=ukv, local_embs=local_embs
            ).float()

        sigma_max = settings.init_noise if init is not None else 1.0
        sigmas = build_schedule(settings.steps, sigma_max, self.cfg.sampling_shift, n_frames)
        x = torch.randn((1, c, total), generator=generator, device=dev, dtype=torch.float32)
        if init is not None:
            x = F.pad(init.to(dev, torch.float32), (0, tail)) * (1 - sigma_max) + x * sigma_max
        full_inpaint = None
        if inpaint is not None:
            full_inpaint = (known, 1.0 - keep)
        # the model sees the known region as an input; the sampler pastes it into what it shows and returns
        inner = steps_flow(
            velocity,
            x,
            sigmas,
            sampler=settings.sampler,
            generator=generator,
            inpaint=full_inpaint,
            inpaint_rule="paste",
        )
        while True:
            try:
                st = next(inner)
            except StopIteration as stop:
                return stop.value[..., :n_frames]
            # The consumer sees the wanted frames only; a replaced x is written back before the headroom.
            out = SamplerStep(st.step, st.total, st.x[..., :n_frames], st.denoised[..., :n_frames], st.sigma)
            yield out
            st.x = torch.cat([out.x.to(st.x.dtype), st.x[..., n_frames:]], dim=-1)

    # ------------------------------------------------------------------------------------------ SAME

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        import torch

        with torch.no_grad():
            return self.autoencoder.encode(audio.to(self.device, torch.float32)).float()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        import torch

        lat = latent.to(self.device, torch.float32)
        ae = self.autoencoder
        audio = ae.decode_chunked(lat) if ae.cfg.chunked else ae.decode(lat)
        return audio.float().clamp(-1, 1)

    def decode_steps(self, latent: torch.Tensor) -> Generator[float, None, torch.Tensor]:
        """``decode`` a stage (and window) at a time, yielding the fraction done (the same samples)."""
        import torch

        lat = latent.to(self.device, torch.float32)
        ae = self.autoencoder
        steps = ae.decode_chunked_steps(lat) if ae.cfg.chunked else ae.decode_steps(lat)
        audio = yield from steps
        return audio.float().clamp(-1, 1)


def model_info_json(folder: str, verify: bool = False) -> dict[str, Any]:
    """``model-info DIR [--verify]`` for a Stable Audio 3 folder."""
    info = describe(folder)
    _, cfg = read_config(Path(folder).expanduser() / "model_config.json")
    out: dict[str, Any] = {
        "name": info.name,
        "family": info.family,
        "variant": info.variant,
        "licence": info.licence,
        "total_params": info.params,
        "sample_rate": info.sample_rate,
        "latent_rate_hz": info.latent_rate_hz,
        "max_duration_s": info.capabilities.max_window_s,
        "objective": cfg.objective,
        "autoencoder": cfg.autoencoder_name,
        "default_steps": info.defaults.steps,
        "default_cfg": info.defaults.cfg,
        "default_sampler": info.defaults.sampler,
        "default_guidance": info.defaults.guidance,
        "samplers": list(info.capabilities.samplers),
        "notes": list(info.capabilities.notes),
    }
    if verify:
        from triergon_studio.engine.models.sa3_loading import verify_folder

        out["verified"] = verify_folder(Path(folder).expanduser())
    return out
