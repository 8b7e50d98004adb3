"""Prompt-encoder configuration and presets (plain Python, no torch).

A leaf module: ``engine/config.py`` types ``ModelConfig.encoders`` with ``EncoderConfig`` without importing
the encoders themselves. In a ``config.json`` it is ``{"kind": ..., "preset": ..., <overrides>}``: the
preset's values, then the fields given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from triergon_studio.errors import ModelError


@dataclass(frozen=True)
class EncoderConfig:
    kind: str = "small"  # "small" | "languagebind"
    preset: str = "compact"
    d: int = 768  # token width = the conditioner's cond_dim
    num_tokens: int = 4  # M
    # -- small encoders
    width: int = 256
    heads: int = 4
    text_layers: int = 4
    audio_layers: int = 4
    video_layers: int = 2
    text_max_len: int = 128
    word_buckets: int = 4096
    audio_sample_rate: int = 16000
    n_mels: int = 64
    max_audio_s: float = 30.0
    audio_channels: tuple[int, ...] = (32, 64, 128)
    frame_size: int = 96
    video_frames: int = 8
    frame_channels: tuple[int, ...] = (32, 64, 128, 192)
    # -- LanguageBind (CLIP ViT-L/14 towers); see languagebind.py
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    text_width: int = 768
    text_heads: int = 12
    clip_text_layers: int = 12
    proj_dim: int = 768
    hidden_act: str = "gelu"
    bpe_path: str | None = None  # CLIP BPE vocabulary, supplied by the user

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        """``{"kind": ..., "preset": ..., <overrides>}``; unknown fields are an error."""
        if not isinstance(data, dict):
            raise ModelError(f"prompt-encoder config must be an object, got {type(data).__name__}")
        data = dict(data)
        kind = str(data.get("kind", "small"))
        preset = str(data.get("preset", "compact" if kind == "small" else "full"))
        key = f"{kind}/{preset}"
        if key not in ENCODER_PRESETS:
            raise ModelError(
                f"unknown prompt-encoder preset {key!r}; choose one of {', '.join(ENCODER_PRESETS)}"
            )
        names = {f.name for f in fields(cls)}
        bad = sorted(set(data) - names)
        if bad:
            raise ModelError(f"invalid prompt-encoder config: unknown fields {bad}")
        for tup in ("audio_channels", "frame_channels"):
            if tup in data:
                data[tup] = tuple(data[tup])
        return replace(ENCODER_PRESETS[key], **data)

    @classmethod
    def parse(cls, spec: EncoderConfig | dict[str, Any] | str) -> EncoderConfig:
        """An ``EncoderConfig``, its dict form, or ``"kind/preset"`` (``"small/tiny"``, ``"languagebind"``)."""
        if isinstance(spec, EncoderConfig):
            return spec
        if isinstance(spec, str):
            kind, _, preset = spec.partition("/")
            return cls.from_dict({"kind": kind, "preset": preset} if preset else {"kind": kind})
        return cls.from_dict(spec)


ENCODER_PRESETS: dict[str, EncoderConfig] = {
    "small/tiny": EncoderConfig(
        "small",
        "tiny",
        d=64,
        width=32,
        heads=2,
        text_layers=1,
        audio_layers=1,
        video_layers=1,
        text_max_len=64,
        word_buckets=256,
        n_mels=32,
        audio_channels=(8, 16, 16),
        frame_size=32,
        video_frames=4,
        frame_channels=(8, 16),
    ),
    "small/compact": EncoderConfig("small", "compact", d=384),
    "languagebind/full": EncoderConfig("languagebind", "full", d=768),
    # Reduced widths for tests; the key layout is the real one.
    "languagebind/test": EncoderConfig(
        "languagebind",
        "test",
        d=32,
        vision_width=64,
        vision_layers=2,
        vision_heads=2,
        text_width=48,
        text_heads=2,
        clip_text_layers=2,
        proj_dim=32,
    ),
}
