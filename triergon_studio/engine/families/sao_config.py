"""Stable Audio Open ``model_config.json`` -> a typed ``SAOConfig``, without torch.

Both public checkpoints use the same layout (stable-audio-tools ``diffusion_cond``): an Oobleck VAE
(``pretransform``), a ``continuous_transformer`` DiT (``model.model``), a T5 prompt conditioner and number
conditioners (``conditioner.conditioners``). They differ in what the config says:

- ``stabilityai/stable-audio-open-1.0``: v-objective, DiT 1536 x 24 (24 heads), T5 tokens 128, numbers
  ``seconds_start`` and ``seconds_total`` in [0, 512], global condition = both (1536 wide).
- ``stabilityai/stable-audio-open-small``: ``rf_denoiser`` (rectified flow, distilled for 8 ping-pong steps),
  DiT 1024 x 16 (8 heads, q/k LayerNorm, condition tokens projected to 1024), T5 tokens 64, one number
  ``seconds_total`` in [0, 256], global condition = seconds_total (768 wide).

Anything outside that family (another autoencoder, another prompt encoder, another transformer) is refused
with one line naming ``model_config.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triergon_studio.engine.config import DiTConfig, VAEConfig
from triergon_studio.errors import ModelError

CONFIG_FILE = "model_config.json"
OBJECTIVES = ("v", "rectified_flow", "rf_denoiser")
#: hidden width of the T5 encoders stable-audio-tools knows (``T5Conditioner.T5_MODEL_DIMS``)
T5_DIMS = {
    "t5-small": 512,
    "t5-base": 768,
    "t5-large": 1024,
    "t5-3b": 1024,
    "t5-11b": 1024,
    "google/flan-t5-small": 512,
    "google/flan-t5-base": 768,
    "google/flan-t5-large": 1024,
    "google/flan-t5-xl": 2048,
    "google/flan-t5-xxl": 4096,
    "google/t5-v1_1-xl": 2048,
    "google/t5-v1_1-xxl": 4096,
}


@dataclass(frozen=True, slots=True)
class NumberSpec:
    id: str
    min_val: float
    max_val: float


@dataclass(frozen=True)
class SAOConfig:
    objective: str  # "v" (1.0) or "rectified_flow" / "rf_denoiser" (Small)
    sample_rate: int
    audio_channels: int
    sample_size: int  # the training window in samples
    vae: VAEConfig
    dit: DiTConfig
    cond_dim: int
    t5_name: str
    prompt_max_length: int
    numbers: tuple[NumberSpec, ...]
    cross_ids: tuple[str, ...]  # cross-attention tokens, in this order
    global_ids: tuple[str, ...]  # global condition, concatenated in this order

    @property
    def t5_dim(self) -> int:
        return T5_DIMS[self.t5_name]

    @property
    def prompt_projected(self) -> bool:
        """stable-audio-tools adds ``prompt.proj_out`` when T5's width differs from ``cond_dim``."""
        return self.t5_dim != self.cond_dim

    @property
    def is_flow(self) -> bool:
        return self.objective != "v"

    @property
    def variant(self) -> str:
        return "small" if self.is_flow else "1.0"

    @property
    def downsampling_ratio(self) -> int:
        return self.vae.downsampling_ratio

    @property
    def latent_rate_hz(self) -> float:
        return self.sample_rate / self.downsampling_ratio

    @property
    def max_window_s(self) -> float:
        return self.sample_size / self.sample_rate

    @property
    def window_frames(self) -> int:
        return self.sample_size // self.downsampling_ratio


def _get(data: Any, path: str, source: Path) -> Any:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ModelError(f"Stable Audio config lacks '{path}'", source)
        node = node[part]
    return node


def read_json(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"missing {CONFIG_FILE} (not a Stable Audio Open folder)", folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable {CONFIG_FILE} ({type(exc).__name__})", path) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{CONFIG_FILE} must hold a JSON object", path)
    return data


def looks_like_sao(data: dict[str, Any]) -> bool:
    """Cheap test used by detection: a conditioned diffusion model over an Oobleck VAE prompted by T5."""
    try:
        model = data["model"]
        enc = model["pretransform"]["config"]["encoder"]["type"]
        prompts = [c.get("type") for c in model["conditioning"]["configs"] if c.get("id") == "prompt"]
    except (KeyError, TypeError, AttributeError):
        return False
    return data.get("model_type") == "diffusion_cond" and enc == "oobleck" and prompts == ["t5"]


def _vae(pre: dict[str, Any], source: Path) -> VAEConfig:
    if pre.get("type") != "autoencoder":
        raise ModelError(f"unsupported pretransform type {pre.get('type')!r} (need autoencoder)", source)
    pcfg = _get(pre, "config", source)
    enc, dec = _get(pcfg, "encoder", source), _get(pcfg, "decoder", source)
    if enc.get("type") != "oobleck" or dec.get("type") != "oobleck":
        raise ModelError("only the Oobleck autoencoder is supported", source)
    if _get(pcfg, "bottleneck", source).get("type") != "vae":
        raise ModelError("only the VAE bottleneck is supported", source)
    ec, dc = _get(enc, "config", source), _get(dec, "config", source)
    latent = int(pcfg.get("latent_dim", dc.get("latent_dim", 64)))
    if int(ec.get("latent_dim", 2 * latent)) != 2 * latent:
        raise ModelError(
            f"encoder latent_dim {ec.get('latent_dim')} is not 2 x {latent} (mean and scale)", source
        )
    vae = VAEConfig(
        io_channels=int(pcfg.get("io_channels", ec.get("in_channels", 2))),
        channels=int(ec.get("channels", 128)),
        c_mults=[int(c) for c in ec.get("c_mults", [1, 2, 4, 8, 16])],
        strides=[int(s) for s in ec.get("strides", [2, 4, 4, 8, 8])],
        latent_dim=latent,
        use_snake=bool(ec.get("use_snake", False)),
        final_tanh=bool(dc.get("final_tanh", True)),
    )
    same = (
        dc.get("channels", vae.channels),
        list(dc.get("c_mults", vae.c_mults)),
        list(dc.get("strides", vae.strides)),
        bool(dc.get("use_snake", False)),
    )
    if same != (vae.channels, vae.c_mults, vae.strides, vae.use_snake):
        raise ModelError(
            "encoder and decoder shapes differ; only symmetric Oobleck autoencoders are supported", source
        )
    try:
        vae.validate()
    except ModelError as exc:
        raise ModelError(str(exc), source) from exc
    return vae


def sao_config_from_dict(data: dict[str, Any], source: Path) -> SAOConfig:
    if data.get("model_type") != "diffusion_cond":
        raise ModelError(
            f"unsupported Stable Audio model_type {data.get('model_type')!r} (need diffusion_cond)", source
        )
    model = _get(data, "model", source)
    vae = _vae(_get(model, "pretransform", source), source)

    cond = _get(model, "conditioning", source)
    cond_dim = int(cond.get("cond_dim", 768))
    numbers: list[NumberSpec] = []
    t5_name, max_len = "", 0
    for c in cond.get("configs", []):
        cid, ctype, ccfg = c.get("id"), c.get("type"), c.get("config", {}) or {}
        if ctype == "number":
            numbers.append(
                NumberSpec(str(cid), float(ccfg.get("min_val", 0.0)), float(ccfg.get("max_val", 1.0)))
            )
        elif ctype == "t5" and cid == "prompt":
            t5_name, max_len = str(ccfg.get("t5_model_name", "t5-base")), int(ccfg.get("max_length", 128))
            if ccfg.get("project_out"):
                raise ModelError("T5 conditioner with project_out true is not supported", source)
        else:
            raise ModelError(
                f"conditioner '{cid}' of type {ctype!r} is not supported (t5 prompt and numbers only)", source
            )
    if not t5_name:
        raise ModelError("no T5 'prompt' conditioner in the config", source)
    if t5_name not in T5_DIMS:
        raise ModelError(f"unknown T5 model {t5_name!r}", source)
    if max_len < 1:
        raise ModelError(f"T5 max_length must be positive, got {max_len}", source)

    diff = _get(model, "diffusion", source)
    if diff.get("type") != "dit":
        raise ModelError(f"unsupported diffusion type {diff.get('type')!r} (need dit)", source)
    objective = str(diff.get("diffusion_objective", "v"))
    if objective not in OBJECTIVES:
        raise ModelError(f"unsupported diffusion objective {objective!r} ({', '.join(OBJECTIVES)})", source)
    known = {"prompt"} | {n.id for n in numbers}
    cross = tuple(str(i) for i in diff.get("cross_attention_cond_ids", []))
    glob = tuple(str(i) for i in diff.get("global_cond_ids", []))
    if "prompt" not in cross or any(i not in known for i in cross):
        raise ModelError(
            f"unsupported cross-attention ids {list(cross)} (need 'prompt' and number ids)", source
        )
    if not glob or any(i not in known or i == "prompt" for i in glob):
        raise ModelError(f"unsupported global condition ids {list(glob)} (number ids only)", source)
    for key in ("input_concat_ids", "prepend_cond_ids"):
        if diff.get(key):
            raise ModelError(f"{key} is not supported", source)

    dcfg = _get(diff, "config", source)
    if dcfg.get("transformer_type", "continuous_transformer") != "continuous_transformer":
        raise ModelError("only transformer_type continuous_transformer is supported", source)
    if int(dcfg.get("patch_size", 1)) != 1:
        raise ModelError("patch_size > 1 is not supported", source)
    if dcfg.get("global_cond_type", "prepend") != "prepend":
        raise ModelError("only global_cond_type prepend is supported", source)
    if not dcfg.get("project_global_cond", True):
        raise ModelError("project_global_cond false is not supported", source)
    attn = dict(dcfg.get("attn_kwargs") or {})
    qk_norm = str(attn.pop("qk_norm", "none"))
    if attn or qk_norm not in ("none", "ln"):
        raise ModelError(
            f"unsupported attn_kwargs {dcfg.get('attn_kwargs')} (only qk_norm none or ln)", source
        )
    embed = int(dcfg["embed_dim"]) if "embed_dim" in dcfg else 0
    if embed <= 0 or "depth" not in dcfg or "num_heads" not in dcfg:
        raise ModelError("DiT config needs embed_dim, depth and num_heads", source)
    dit = DiTConfig(
        io_channels=int(dcfg.get("io_channels", vae.latent_dim)),
        embed_dim=embed,
        depth=int(dcfg["depth"]),
        num_heads=int(dcfg["num_heads"]),
        cond_token_dim=int(dcfg.get("cond_token_dim", cond_dim)),
        global_cond_dim=int(dcfg.get("global_cond_dim", len(glob) * cond_dim)),
        # stable-audio-tools' DiT defaults project_cond_tokens to true (Small leaves it out; 1.0 sets false)
        project_cond_tokens=bool(dcfg.get("project_cond_tokens", True)),
        qk_norm="ln" if qk_norm == "ln" else "none",
    )
    if dit.io_channels != vae.latent_dim:
        raise ModelError(
            f"DiT io_channels {dit.io_channels} differ from the VAE latent_dim {vae.latent_dim}", source
        )
    if dit.cond_token_dim != cond_dim or dit.global_cond_dim != len(glob) * cond_dim:
        raise ModelError(
            f"DiT condition widths ({dit.cond_token_dim}, {dit.global_cond_dim}) do not match "
            f"cond_dim {cond_dim} x {len(glob)} global ids",
            source,
        )
    try:
        dit.validate()
    except ModelError as exc:
        raise ModelError(str(exc), source) from exc
    sr = int(data.get("sample_rate", 44100))
    size = int(data.get("sample_size", 2097152))
    if sr <= 0 or size < vae.downsampling_ratio:
        raise ModelError(f"bad sample_rate {sr} or sample_size {size}", source)
    return SAOConfig(
        objective=objective,
        sample_rate=sr,
        audio_channels=int(data.get("audio_channels", 2)),
        sample_size=size,
        vae=vae,
        dit=dit,
        cond_dim=cond_dim,
        t5_name=t5_name,
        prompt_max_length=max_len,
        numbers=tuple(numbers),
        cross_ids=cross,
        global_ids=glob,
    )


def load_sao_config(folder: str | Path) -> SAOConfig:
    folder = Path(folder)
    return sao_config_from_dict(read_json(folder), folder / CONFIG_FILE)


def safetensors_param_count(path: Path) -> int:
    """Parameters in a safetensors file, from its header alone (no torch, no tensor data read)."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if n <= 0 or n > 100_000_000:
                return 0
            header = json.loads(fh.read(n))
    except (OSError, ValueError):
        return 0
    return sum(
        math.prod(v.get("shape", []))
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict)
    )
