"""The stage each config builds: the runner's one entry into the stages (which never import the runner)."""

from __future__ import annotations

from triergon_studio.training.config import (
    Dist,
    DiTStageConfig,
    EncodersStageConfig,
    LufsStageConfig,
    StageConfig,
    VAEStageConfig,
)
from triergon_studio.training.stage_dit import DiTStage
from triergon_studio.training.stages import EncodersStage, LufsStage, Stage, VAEStage


def build_stage(cfg: StageConfig, dist: Dist) -> Stage:
    if isinstance(cfg, VAEStageConfig):
        return VAEStage(cfg, dist)
    if isinstance(cfg, EncodersStageConfig):
        return EncodersStage(cfg, dist)
    if isinstance(cfg, DiTStageConfig):
        return DiTStage(cfg, dist)
    if isinstance(cfg, LufsStageConfig):
        return LufsStage(cfg, dist)
    raise TypeError(f"not a stage config: {type(cfg).__name__}")
