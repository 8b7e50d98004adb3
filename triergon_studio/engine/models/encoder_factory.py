"""Build the prompt encoders a config names: the small encoders or the LanguageBind towers.

Its own module so ``encoders.py`` and ``languagebind.py`` each depend only on ``encoder_config.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from triergon_studio.engine.models.encoder_config import EncoderConfig
from triergon_studio.engine.models.encoders import SmallPromptEncoders
from triergon_studio.engine.models.languagebind import LanguageBindEncoders
from triergon_studio.errors import ModelError


def build_prompt_encoders(
    cfg: EncoderConfig | dict[str, Any] | str, cond_dim: int | None = None, num_tokens: int | None = None
) -> nn.Module:
    """Build the encoders; ``cond_dim``/``num_tokens`` (from the model config) override d and M."""
    cfg = EncoderConfig.parse(cfg)
    if cond_dim is not None:
        cfg = replace(cfg, d=int(cond_dim))
    if num_tokens is not None:
        cfg = replace(cfg, num_tokens=int(num_tokens))
    if cfg.kind == "small":
        return SmallPromptEncoders(cfg)
    if cfg.kind == "languagebind":
        return LanguageBindEncoders(cfg)
    raise ModelError(f"unknown prompt-encoder kind {cfg.kind!r} (small or languagebind)")
