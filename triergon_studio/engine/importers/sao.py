"""Stable Audio Open importer: ``model_config.json`` + ``model.safetensors`` (or a training ``.ckpt``) ->
our ``ModelConfig`` (conditioning kind ``sao``) and a state dict for ``TriErgon``.

Only prefixes change: ``pretransform.model.`` -> ``vae.``, ``model.model.`` -> ``dit.``; the number
conditioners keep their names. The T5 text encoder is not part of the checkpoint (Stable Audio keeps it out
of the state dict) and is not bundled: prompts must come as precomputed T5-base embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from triergon_studio.engine.config import (
    SAMPLE_RATE,
    ConditioningConfig,
    DiTConfig,
    ModelConfig,
    SamplingDefaults,
    VAEConfig,
)
from triergon_studio.errors import ModelError

PREFIX_MAP = (("pretransform.model.", "vae."), ("model.model.", "dit."), ("conditioner.", "conditioner."))
# Training checkpoints (stable-audio-tools' lightning wrapper) nest the model under "diffusion." and carry
# extra copies we do not use.
_TRAINING_PREFIX = "diffusion."
_IGNORED_PREFIXES = ("diffusion_ema.", "losses.", "discriminator.", "diffusion.model_ema.")
WEIGHT_FILES = ("model.safetensors", "model.ckpt", "model.pth", "model.pt")


def _get(data: dict[str, Any], path: str, source: Path) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ModelError(f"Stable Audio config lacks '{path}'", source)
        node = node[part]
    return node


def sao_config_from_dict(data: dict[str, Any], source: Path, name: str = "sao-1.0") -> ModelConfig:
    if data.get("model_type") != "diffusion_cond":
        raise ModelError(
            f"unsupported Stable Audio model_type {data.get('model_type')!r} (need diffusion_cond)", source
        )
    model = _get(data, "model", source)
    pre = _get(model, "pretransform", source)
    if pre.get("type") != "autoencoder":
        raise ModelError(f"unsupported pretransform type {pre.get('type')!r}", source)
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
    if (
        dc.get("channels", vae.channels),
        list(dc.get("c_mults", vae.c_mults)),
        list(dc.get("strides", vae.strides)),
    ) != (vae.channels, vae.c_mults, vae.strides):
        raise ModelError(
            "encoder and decoder shapes differ; only symmetric Oobleck autoencoders are supported", source
        )

    cond = _get(model, "conditioning", source)
    cond_dim = int(cond.get("cond_dim", 768))
    by_id = {c.get("id"): c for c in cond.get("configs", [])}
    for key in ("seconds_start", "seconds_total"):
        if by_id.get(key, {}).get("type") != "number":
            raise ModelError(f"conditioner '{key}' must be a number conditioner", source)
    num = by_id["seconds_total"].get("config", {})
    prompt = by_id.get("prompt", {})
    if prompt and prompt.get("type") != "t5":
        raise ModelError(f"prompt conditioner type {prompt.get('type')!r} is not supported (only t5)", source)
    diff = _get(model, "diffusion", source)
    if list(diff.get("cross_attention_cond_ids", [])) != ["prompt", "seconds_start", "seconds_total"] or list(
        diff.get("global_cond_ids", [])
    ) != ["seconds_start", "seconds_total"]:
        raise ModelError(
            "unsupported condition layout (need cross [prompt, seconds_start, seconds_total], "
            "global [seconds_start, seconds_total])",
            source,
        )
    if diff.get("type") != "dit":
        raise ModelError(f"unsupported diffusion type {diff.get('type')!r}", source)
    dcfg = _get(diff, "config", source)
    if dcfg.get("transformer_type", "x-transformers") != "continuous_transformer":
        raise ModelError("only transformer_type continuous_transformer is supported", source)
    if dcfg.get("project_cond_tokens", True):
        raise ModelError("project_cond_tokens true is not supported", source)
    if int(dcfg.get("patch_size", 1)) != 1:
        raise ModelError("patch_size > 1 is not supported", source)
    dit = DiTConfig(
        io_channels=int(dcfg.get("io_channels", latent)),
        embed_dim=int(dcfg["embed_dim"]),
        depth=int(dcfg["depth"]),
        num_heads=int(dcfg["num_heads"]),
        cond_token_dim=int(dcfg.get("cond_token_dim", cond_dim)),
        global_cond_dim=int(dcfg.get("global_cond_dim", 2 * cond_dim)),
    )
    conditioning = ConditioningConfig(
        kind="sao",
        cond_dim=cond_dim,
        number_min=float(num.get("min_val", 0.0)),
        number_max=float(num.get("max_val", 512.0)),
        prompt_max_length=int(prompt.get("config", {}).get("max_length", 128)),
    )
    sr = int(data.get("sample_rate", SAMPLE_RATE))
    sample_size = int(data.get("sample_size", 2097152))
    cfg = ModelConfig(
        name=name,
        preset="sao-1.0",
        sample_rate=sr,
        audio_channels=int(data.get("audio_channels", 2)),
        vae=vae,
        dit=dit,
        conditioning=conditioning,
        sampling=SamplingDefaults(steps=100, cfg_scale=7.0, sampler="dpmpp-3m-sde"),
        sample_size_frames=sample_size // vae.downsampling_ratio,
        max_duration_s=sample_size / sr,
    )
    try:
        cfg.validate()
    except ModelError as exc:
        raise ModelError(str(exc), source) from exc
    return cfg


def convert_sao_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a Stable Audio Open state dict to ``TriErgon`` keys (unknown keys pass through unchanged so
    the strict loader reports them)."""
    if any(k.startswith(_TRAINING_PREFIX) for k in sd):
        sd = {k[len(_TRAINING_PREFIX) :]: v for k, v in sd.items() if k.startswith(_TRAINING_PREFIX)}
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        # torch's newer weight_norm parametrisation stores the same pair under other names
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        for old, new in PREFIX_MAP:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).exists():
            return folder / name
    found = sorted(p.name for p in folder.glob("*.safetensors")) + sorted(
        p.name for p in folder.glob("*.ckpt")
    )
    if len(found) == 1:
        return folder / found[0]
    raise ModelError(
        "no weights found: expected model.safetensors or model.ckpt beside model_config.json"
        + (f" (found {', '.join(found)})" if found else ""),
        folder,
    )


def import_stable_audio_open(folder: str | Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    from triergon_studio.engine.checkpoint_io import read_state_dict

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError("Stable Audio Open folder not found", folder)
    cfg_path = folder / "model_config.json"
    if not cfg_path.exists():
        raise ModelError("missing model_config.json (not a Stable Audio Open folder)", folder)
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable model_config.json ({type(exc).__name__})", cfg_path) from exc
    if not isinstance(data, dict):
        raise ModelError("model_config.json must hold a JSON object", cfg_path)
    cfg = sao_config_from_dict(data, cfg_path, name=folder.name or "sao-1.0")
    weights = find_weights(folder)
    return cfg, convert_sao_state_dict(read_state_dict(weights))
