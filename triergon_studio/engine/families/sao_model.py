"""Stable Audio Open as one ``nn.Module`` whose state-dict keys are the checkpoint's own.

``pretransform.model.*`` is the Oobleck VAE, ``model.model.*`` the DiT and ``conditioner.conditioners.*`` the
number conditioners (and ``prompt.proj_out`` when T5's width differs from ``cond_dim``), so a
``model.safetensors`` from a Hugging Face snapshot loads strictly with no renaming. Training checkpoints
(``model.ckpt`` from stable-audio-tools' Lightning wrapper) nest the same keys under ``diffusion.``; torch's
newer weight-norm parametrisation names are mapped back to ``weight_g``/``weight_v``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from triergon_studio.core.progress import ProgressFn
from triergon_studio.engine.config import ConditioningConfig
from triergon_studio.engine.families.sao_config import SAOConfig
from triergon_studio.engine.models.conditioning import NumberConditioner
from triergon_studio.engine.models.dit import DiffusionTransformer
from triergon_studio.engine.models.vae import OobleckVAE
from triergon_studio.errors import ModelError

WEIGHT_FILES = ("model.safetensors", "model.ckpt")
_TRAINING_PREFIX = "diffusion."
_IGNORED = ("diffusion_ema.", "losses.", "discriminator.", "diffusion.model_ema.")


class _Holder(nn.Module):
    """One level of key nesting (``pretransform.model``, ``model.model``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model


class _Prompt(nn.Module):
    def __init__(self, t5_dim: int, cond_dim: int) -> None:
        super().__init__()
        self.proj_out = nn.Linear(t5_dim, cond_dim)


class _Conditioners(nn.Module):
    def __init__(self, cfg: SAOConfig) -> None:
        super().__init__()
        mods: dict[str, nn.Module] = {}
        for n in cfg.numbers:
            mods[n.id] = NumberConditioner(
                ConditioningConfig(cond_dim=cfg.cond_dim, number_min=n.min_val, number_max=n.max_val)
            )
        if cfg.prompt_projected:
            mods["prompt"] = _Prompt(cfg.t5_dim, cfg.cond_dim)
        self.conditioners = nn.ModuleDict(mods)


@dataclass
class SAOCondition:
    """Conditioning of one take: cross-attention tokens, the global condition and (with a negative prompt)
    the tokens of the unconditional half. ``seconds`` maps each number id to its value (for ``window``)."""

    tokens: Tensor  # [1, N, cond_dim]
    global_cond: Tensor  # [1, G]
    negative_tokens: Tensor | None
    prompt: Tensor  # [1, L, cond_dim], projected and masked
    negative_prompt: Tensor | None
    seconds: dict[str, float]
    take_s: float = 0.0  # the whole take's length (chunks of a long take keep it)


class SAOModel(nn.Module):
    def __init__(self, cfg: SAOConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pretransform = _Holder(OobleckVAE(cfg.vae))
        self.model = _Holder(DiffusionTransformer(cfg.dit))
        self.conditioner = _Conditioners(cfg)

    @property
    def vae(self) -> OobleckVAE:
        return self.pretransform.model  # type: ignore[return-value]

    @property
    def dit(self) -> DiffusionTransformer:
        return self.model.model  # type: ignore[return-value]

    def _ref(self) -> Tensor:
        """A DiT weight: the device and dtype the conditioning is built in."""
        return self.dit.transformer.project_in.weight

    def project_prompt(self, t5: Tensor, mask: Tensor) -> Tensor:
        """T5 hidden states [B, L, t5_dim] -> prompt tokens [B, L, cond_dim], zero where ``mask`` is false."""
        ref = self._ref()
        x = t5.to(ref.device, ref.dtype)
        if self.cfg.prompt_projected:
            x = self.conditioner.conditioners["prompt"].proj_out(x)  # type: ignore[operator]
        return x * mask.to(ref.device).unsqueeze(-1).to(x.dtype)

    def numbers(self, seconds: dict[str, float]) -> dict[str, Tensor]:
        out = {}
        dev = self._ref().device
        for n in self.cfg.numbers:
            if n.id not in seconds:
                raise ModelError(f"Stable Audio condition '{n.id}' has no value")
            out[n.id] = self.conditioner.conditioners[n.id](torch.tensor([float(seconds[n.id])], device=dev))
        return out

    def build(self, prompt: Tensor, seconds: dict[str, float]) -> tuple[Tensor, Tensor]:
        """(cross-attention tokens [B, N, d], global condition [B, G]) in the config's id order."""
        nums = self.numbers(seconds)
        b = prompt.shape[0]
        cross = [
            prompt if i == "prompt" else nums[i][:, None, :].expand(b, 1, -1) for i in self.cfg.cross_ids
        ]
        glob = [nums[i].expand(b, -1) for i in self.cfg.global_ids]
        return torch.cat(cross, dim=1), torch.cat(glob, dim=-1)

    def condition(self, prompt: Tensor, negative: Tensor | None, seconds: dict[str, float]) -> SAOCondition:
        tokens, glob = self.build(prompt, seconds)
        neg_tokens = self.build(negative, seconds)[0] if negative is not None else None
        return SAOCondition(tokens, glob, neg_tokens, prompt, negative, dict(seconds))

    def with_seconds(self, cond: SAOCondition, seconds: dict[str, float]) -> SAOCondition:
        return self.condition(cond.prompt, cond.negative_prompt, seconds)

    def forward_dit(self, x: Tensor, t: Tensor, tokens: Tensor, global_cond: Tensor) -> Tensor:
        return self.dit(x, t, tokens, global_cond).to(x.dtype)


def normalise_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """A training checkpoint's or a newer torch's names -> the names of ``SAOModel``."""
    if any(k.startswith(_TRAINING_PREFIX) for k in sd):
        sd = {k[len(_TRAINING_PREFIX) :]: v for k, v in sd.items() if k.startswith(_TRAINING_PREFIX)}
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key.startswith(_IGNORED):
            continue
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        out[key] = value
    return out


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
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


def load_sao_model(
    cfg: SAOConfig, weights: Path, *, read: ProgressFn | None = None, load: ProgressFn | None = None
) -> SAOModel:
    """Build on the CPU in float32 and load the checkpoint strictly (``.ckpt`` through weights_only);
    ``read`` and ``load`` follow reading the file and loading the state dict."""
    from triergon_studio.engine.checkpoint_io import load_state_dict_checked, read_state_dict

    state = normalise_keys(read_state_dict(weights, read))
    model = SAOModel(cfg)
    load_state_dict_checked(model, state, weights, progress=load)
    return model.eval().requires_grad_(False)
