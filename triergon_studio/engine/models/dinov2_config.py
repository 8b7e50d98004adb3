"""DINOv2 sizes (plain Python, no torch): read by the T_LUFS config for its feature width."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DinoV2Config:
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    num_registers: int = 0
    patch_size: int = 14
    img_size: int = 518
    mlp_ratio: float = 4.0
    ln_eps: float = 1e-6
    name: str = "dinov2-vits14"

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size


DINOV2_PRESETS: dict[str, DinoV2Config] = {
    "dinov2-vits14": DinoV2Config(384, 12, 6, 0, name="dinov2-vits14"),
    "dinov2-vits14-reg": DinoV2Config(384, 12, 6, 4, name="dinov2-vits14-reg"),
    "dinov2-vitb14": DinoV2Config(768, 12, 12, 0, name="dinov2-vitb14"),
    "dinov2-vitb14-reg": DinoV2Config(768, 12, 12, 4, name="dinov2-vitb14-reg"),
}
