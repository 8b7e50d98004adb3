"""Stable Audio 3 model configuration, read from the ``model_config.json`` a user downloads (torch-free).

The JSON is upstream's (Stability-AI/stable-audio-3, ``factory.create_diffusion_cond_from_config``): the DiT
under ``model.diffusion.config``, its wiring under ``model.diffusion``, the conditioners under
``model.conditioning`` and the SAME autoencoder under ``model.pretransform``. Only what our implementation
supports is accepted; anything else is one clear line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triergon_studio.errors import ModelError

#: upstream's default inference schedule when the config names none (LogSNRShift(rate=0, -6.2, 2.0))
DEFAULT_SHIFT: dict[str, Any] = {"type": "logsnr", "rate": 0.0, "anchor_logsnr": -6.2, "logsnr_end": 2.0}
#: extra seconds of latents upstream generates past the requested duration (``duration_padding_sec``)
DEFAULT_HEADROOM_S = 6.0


@dataclass(frozen=True, slots=True)
class SA3DiTConfig:
    """The DiffusionTransformer of Stable Audio 3 (the continuous transformer with adaLN and memory tokens)."""

    io_channels: int = 256
    embed_dim: int = 1024
    depth: int = 20
    num_heads: int = 16
    cond_token_dim: int = 768
    global_cond_dim: int = 768
    local_add_cond_dim: int = 257  # inpaint mask (1) + masked known latents (io_channels)
    num_memory_tokens: int = 64
    ff_mult: float = 4.0
    timestep_features_dim: int = 256
    differential: bool = False  # Medium: differential attention
    qk_norm: str = "rms"
    norm_eps: float = 1e-5
    qk_norm_eps: float = 1e-6
    timestep_features_logsnr: bool = False

    @property
    def dim_heads(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def rotary_dim(self) -> int:
        return max(self.dim_heads // 2, 32)

    def validate(self, where: str | None = None) -> None:
        if self.embed_dim % self.num_heads:
            raise ModelError(
                f"embed_dim {self.embed_dim} is not a multiple of num_heads {self.num_heads}", where
            )
        if self.local_add_cond_dim not in (0, self.io_channels + 1):
            raise ModelError(
                f"local_add_cond_dim {self.local_add_cond_dim} is not io_channels + 1 (the inpainting mask and "
                "latents)",
                where,
            )
        if self.qk_norm not in ("rms", "none"):
            raise ModelError(f"qk_norm {self.qk_norm!r} is not supported (rms or none)", where)


@dataclass(frozen=True, slots=True)
class SA3Config:
    """Everything about a Stable Audio 3 checkpoint except the weights."""

    dit: SA3DiTConfig
    objective: str  # "rf_denoiser" (post-trained, ping-pong) or "rectified_flow" (base)
    sample_rate: int = 44100
    sample_size: int = 5292032  # the longest window, in samples
    downsampling_ratio: int = 4096
    latent_align: int = 2  # SAME-S wants the latent length to be a multiple of chunk_size // stride
    text_max_length: int = 256
    text_model_name: str = "google/t5gemma-b-b-ul2"
    text_model_path: str | None = None
    text_subfolder: str | None = None
    text_padding_mode: str = "learned"
    seconds_min: float = 0.0
    seconds_max: float = 384.0
    sampling_shift: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SHIFT))
    pretransform: dict[str, Any] = field(default_factory=dict)  # the SAME section, for the autoencoder

    @property
    def max_window_s(self) -> float:
        return self.sample_size / self.sample_rate

    @property
    def max_frames(self) -> int:
        return self.sample_size // self.downsampling_ratio

    @property
    def latent_rate_hz(self) -> float:
        return self.sample_rate / self.downsampling_ratio

    @property
    def post_trained(self) -> bool:
        return self.objective == "rf_denoiser"

    @property
    def autoencoder_name(self) -> str:
        return "SAME-L" if self.dit.differential else "SAME-S"


def _get(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ModelError(f"model_config.json has no {key!r}", where)
    return d[key]


def dit_config_from_upstream(cfg: dict[str, Any], where: str | None = None) -> SA3DiTConfig:
    """The DiT part of ``model.diffusion.config``; refuses features our implementation does not have."""
    unsupported = {
        "transformer_type": "continuous_transformer",
        "global_cond_type": "adaLN",
        "timestep_cond_type": "global",
        "timestep_features_type": "expo",
        "patch_size": 1,
        "input_concat_dim": 0,
        "prepend_cond_dim": 0,
        "norm_type": "rms_norm",
        "project_cond_tokens": True,
        "project_global_cond": True,
        "conformer": False,
        "layer_scale": False,
        "cross_attn_rotary_pos_emb": False,
        "use_sinusoidal_emb": False,
        "use_abs_pos_emb": False,
        "causal": False,
        "rotary_pos_emb": True,
    }
    for key, want in unsupported.items():
        if key in cfg and cfg[key] != want:
            raise ModelError(
                f"model_config.json: DiT {key}={cfg[key]!r} is not supported (expected {want!r})", where
            )
    if cfg.get("sliding_window") not in (None, [-1, -1]):
        raise ModelError("model_config.json: a DiT sliding_window is not supported", where)
    attn = dict(cfg.get("attn_kwargs", {}))
    ff = dict(cfg.get("ff_kwargs", {}))
    if attn.get("feat_scale", False):
        raise ModelError("model_config.json: attention feat_scale is not supported", where)
    if ff.get("glu", True) is not True or ff.get("no_bias", False) or ff.get("use_conv", False):
        raise ModelError("model_config.json: only the SwiGLU feed-forward with biases is supported", where)
    if cfg.get("modular_local_cond_configs"):
        raise ModelError("model_config.json: modular local conditioning is not supported", where)
    out = SA3DiTConfig(
        io_channels=int(cfg.get("io_channels", 256)),
        embed_dim=int(cfg.get("embed_dim", 1024)),
        depth=int(cfg.get("depth", 20)),
        num_heads=int(cfg.get("num_heads", 16)),
        cond_token_dim=int(cfg.get("cond_token_dim", 768)),
        global_cond_dim=int(cfg.get("global_cond_dim", 768)),
        local_add_cond_dim=int(cfg.get("local_add_cond_dim") or 0),
        num_memory_tokens=int(cfg.get("num_memory_tokens", 0)),
        ff_mult=float(ff.get("mult", 4)),
        timestep_features_dim=int(cfg.get("timestep_features_dim", 256)),
        differential=bool(attn.get("differential", False)),
        qk_norm=str(attn.get("qk_norm", "none")),
        norm_eps=float(cfg.get("norm_kwargs", {}).get("eps", 1e-5)),
        qk_norm_eps=float(attn.get("qk_norm_eps", 1e-6)),
        timestep_features_logsnr=bool(cfg.get("timestep_features_logsnr", False)),
    )
    out.validate(where)
    return out


def config_from_upstream(raw: dict[str, Any], where: str | None = None) -> SA3Config:
    """An ``SA3Config`` from the parsed ``model_config.json``."""
    w = where or "model_config.json"
    if raw.get("model_type") != "diffusion_cond":
        raise ModelError(f"model_type {raw.get('model_type')!r} is not a Stable Audio 3 diffusion model", w)
    model = _get(raw, "model", w)
    diffusion = _get(model, "diffusion", w)
    objective = diffusion.get("diffusion_objective", "v")
    if objective not in ("rf_denoiser", "rectified_flow"):
        raise ModelError(
            f"diffusion_objective {objective!r} is not Stable Audio 3's (rf_denoiser or rectified_flow)", w
        )
    if list(diffusion.get("cross_attention_cond_ids", [])) != ["prompt", "seconds_total"]:
        raise ModelError("cross_attention_cond_ids is not ['prompt', 'seconds_total']", w)
    if list(diffusion.get("global_cond_ids", [])) != ["seconds_total"]:
        raise ModelError("global_cond_ids is not ['seconds_total']", w)
    local_ids = list(diffusion.get("local_add_cond_ids", []))
    if local_ids not in ([], ["inpaint_mask", "inpaint_masked_input"]):
        raise ModelError(f"local_add_cond_ids {local_ids} is not supported", w)
    for key in ("input_concat_ids", "prepend_cond_ids"):
        if diffusion.get(key):
            raise ModelError(f"{key} is not supported by Stable Audio 3", w)
    dit = dit_config_from_upstream(_get(diffusion, "config", w), w)
    conditioning = _get(model, "conditioning", w)
    by_id = {c.get("id"): c for c in conditioning.get("configs", [])}
    prompt, seconds = by_id.get("prompt"), by_id.get("seconds_total")
    if prompt is None or prompt.get("type") != "t5gemma":
        raise ModelError("the prompt conditioner is not T5Gemma", w)
    if seconds is None or seconds.get("type") != "number":
        raise ModelError("the seconds_total conditioner is missing", w)
    pcfg, scfg = dict(prompt.get("config", {})), dict(seconds.get("config", {}))
    if scfg.get("fourier_features_type", "learned") != "expo":
        raise ModelError("seconds_total must use expo Fourier features", w)
    cond_dim = int(conditioning.get("cond_dim", 768))
    if cond_dim != dit.cond_token_dim or cond_dim != dit.global_cond_dim:
        raise ModelError(f"cond_dim {cond_dim} does not match the DiT's cond_token_dim/global_cond_dim", w)
    if pcfg.get("project_out", False):
        raise ModelError("a projected T5Gemma output is not supported", w)
    pretransform = dict(model.get("pretransform", {}))
    pcfg_ae = pretransform.get("config", {})
    enc = pcfg_ae.get("encoder", {}).get("config", {})
    strides = enc.get("strides") or [16]
    latent_align = max(1, int(enc.get("chunk_size", 32)) // int(strides[0]))
    shift = diffusion.get("sampling_distribution_shift_options") or dict(DEFAULT_SHIFT)
    if shift.get("type", "full") not in ("none", "flux", "full", "logsnr"):
        raise ModelError(f"sampling distribution shift {shift.get('type')!r} is not known", w)
    return SA3Config(
        dit=dit,
        objective=objective,
        sample_rate=int(raw.get("sample_rate", 44100)),
        sample_size=int(raw.get("sample_size", 5292032)),
        downsampling_ratio=int(pcfg_ae.get("downsampling_ratio", 4096)),
        latent_align=latent_align,
        text_max_length=int(pcfg.get("max_length", 128)),
        text_model_name=str(pcfg.get("model_name", "google/t5gemma-b-b-ul2")),
        text_model_path=pcfg.get("model_path") or pcfg.get("repo_id"),
        text_subfolder=pcfg.get("subfolder"),
        text_padding_mode=str(pcfg.get("padding_mode", "zero")),
        seconds_min=float(scfg.get("min_val", 0.0)),
        seconds_max=float(scfg.get("max_val", 1.0)),
        sampling_shift=dict(shift),
        pretransform=pretransform,
    )


def read_config(path: str | Path) -> tuple[dict[str, Any], SA3Config]:
    """Parse and check ``model_config.json`` (one-line errors naming the file)."""
    p = Path(path)
    if not p.is_file():
        raise ModelError("missing: a Stable Audio 3 folder needs model_config.json", p)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"not valid JSON ({err.__class__.__name__}: {err})", p) from None
    if not isinstance(raw, dict):
        raise ModelError("not a JSON object", p)
    return raw, config_from_upstream(raw, str(p))


def looks_like_sa3(raw: dict[str, Any]) -> bool:
    """Cheap detection: a diffusion_cond config with a T5Gemma prompt conditioner."""
    try:
        configs = raw["model"]["conditioning"]["configs"]
        return raw.get("model_type") == "diffusion_cond" and any(c.get("type") == "t5gemma" for c in configs)
    except (KeyError, TypeError, AttributeError):
        return False


def dit_param_count(cfg: SA3DiTConfig) -> int:
    """Parameters of the DiT (for the model list, without building it)."""
    d, c, h = cfg.embed_dim, cfg.io_channels, cfg.dim_heads
    inner = int(d * cfg.ff_mult)
    qk = 2 * h if cfg.qk_norm == "rms" else 0
    self_attn = d * d * (5 if cfg.differential else 3) + d * d + qk
    cross_attn = d * d * (2 if cfg.differential else 1) + d * d * (3 if cfg.differential else 2) + d * d + qk
    ff = d * 2 * inner + 2 * inner + inner * d + d
    local = (cfg.local_add_cond_dim * d + d + d * d + d) if cfg.local_add_cond_dim else 0
    block = 3 * d + self_attn + cross_attn + ff + 6 * d + local
    top = (
        cfg.timestep_features_dim * d
        + d
        + d * d
        + d  # to_timestep_embed
        + cfg.cond_token_dim * d
        + d * d  # to_cond_embed
        + cfg.global_cond_dim * d
        + d * d  # to_global_embed
        + 2 * c * c  # pre/post convs
        + c * d
        + d * c  # project in/out
        + cfg.num_memory_tokens * d
        + d * d
        + d
        + d * 6 * d
        + 6 * d  # global_cond_embedder
    )
    return top + cfg.depth * block
