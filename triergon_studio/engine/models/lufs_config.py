"""T_LUFS configuration and presets (plain Python, no torch).

A leaf module: ``engine/config.py`` types ``ModelConfig.lufs_predictor`` with ``LufsPredictorConfig``
without importing the predictor. In a ``config.json`` it is either ``to_dict()``'s output or
``{"preset": "S" | "L" | "small" | "tiny" | "t-lufs-s", <overrides>}`` (``frame_cnn`` may override some of
its fields only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from triergon_studio.core.constants import CURVE_RATE_HZ
from triergon_studio.engine.models.dinov2_config import DINOV2_PRESETS
from triergon_studio.errors import ModelError

LUFS_HEADS = ("level", "gated")
LUFS_GATES = ("hard", "soft")


@dataclass(frozen=True)
class FrameCNNConfig:
    """The bundled model's per-frame feature extractor."""

    channels: tuple[int, ...] = (32, 64, 128, 192)
    out_dim: int = 256
    image_size: int = 112
    use_motion: bool = True
    grid: tuple[int, int] = (2, 4)  # pooled rows x columns: keeps left/right apart for the stereo curves
    # Also the difference to the next frame. Curve frame k measures [k/6, (k+1)/6) and picture k is shown at
    # its start, so the change across frame k's own window is picture k+1 minus picture k; the difference to
    # the previous picture describes the window before (onsets were called a frame late without it).
    motion_next: bool = False
    # Pictures read per curve frame. Above 1, the frame also sees the changes between pictures taken that many
    # times across its own window [k/6, (k+1)/6): where in the window an impact falls sets how much of it the
    # 400 ms window holds, which pictures 1/6 s apart cannot show.
    sub_frames: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.sub_frames <= 10:
            raise ModelError(f"invalid T_LUFS config: frame_cnn sub_frames {self.sub_frames}; use 1 to 10")

    @property
    def in_channels(self) -> int:
        steps = self.sub_frames if self.sub_frames > 1 else 0
        return 3 * (1 + int(self.use_motion) + int(self.motion_next) + steps)


@dataclass(frozen=True)
class LufsPredictorConfig:
    name: str = "t-lufs-small"
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    window_s: float = 60.0
    overlap_s: float = 10.0
    # "frame-cnn" (bundled) or a DINOv2 preset name such as "dinov2-vitb14".
    features: str = "frame-cnn"
    frame_cnn: FrameCNNConfig = field(default_factory=FrameCNNConfig)
    dinov2_image_size: int = 224
    # DINOv2 input per frame: CLS plus the mean patch token of the left and of the right half (3 D values).
    # The CLS token alone barely encodes where a source sits; the halves give the L/R curves a handle.
    dinov2_lr_pooling: bool = True
    # "level": the paper's head, one normalised level per channel. "gated": also an audibility logit per
    # channel, and frames it calls silent sit at the floor. A level head trained with MSE on frames that may be
    # silent or loud predicts their mean, too quiet for either; the gate keeps the level to audible frames.
    head: str = "level"
    # How a gated head's output reads its gate: "hard" puts a frame whose audibility is under one half at the
    # floor; "soft" scales the normalised level by the probability, a smooth curve with no jumps to the floor.
    gate: str = "hard"
    # Read the pictures also mirrored left to right (its channels swapped back) and take the mean curve in
    # LUFS. Training flips clips with their curves, so the two readings differ only by their errors.
    flip_average: bool = False

    def __post_init__(self) -> None:
        if self.head not in LUFS_HEADS:
            raise ModelError(
                f"invalid T_LUFS config: head {self.head!r}; choose one of {', '.join(LUFS_HEADS)}"
            )
        if self.gate not in LUFS_GATES:
            raise ModelError(
                f"invalid T_LUFS config: gate {self.gate!r}; choose one of {', '.join(LUFS_GATES)}"
            )
        if not isinstance(self.flip_average, bool):
            raise ModelError(
                f"invalid T_LUFS config: flip_average must be true or false, got {self.flip_average!r}"
            )

    @property
    def out_channels(self) -> int:
        """The head's outputs per frame: L/R levels, then (gated) L/R audibility logits."""
        return 4 if self.head == "gated" else 2

    @property
    def d_in(self) -> int:
        if self.features == "frame-cnn":
            return self.frame_cnn.out_dim
        if self.features not in DINOV2_PRESETS:
            raise ModelError(f"unknown T_LUFS feature extractor {self.features!r}")
        d = DINOV2_PRESETS[self.features].embed_dim
        return 3 * d if self.dinov2_lr_pooling else d

    @property
    def picture_size(self) -> int | None:
        """The square side a frame-CNN predictor reads its pictures at; None for DINOv2, which scales each
        picture to ``dinov2_image_size`` on its short side itself."""
        return self.frame_cnn.image_size if self.features == "frame-cnn" else None

    @property
    def pictures_per_frame(self) -> int:
        """Pictures read per 1/6 s curve frame: the frame CNN's ``sub_frames``; one for DINOv2."""
        return self.frame_cnn.sub_frames if self.features == "frame-cnn" else 1

    @property
    def picture_rate_hz(self) -> int:
        """Pictures read per second."""
        return round(CURVE_RATE_HZ) * self.pictures_per_frame

    @property
    def window_frames(self) -> int:
        return round(self.window_s * CURVE_RATE_HZ)

    @property
    def overlap_frames(self) -> int:
        return round(self.overlap_s * CURVE_RATE_HZ)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LufsPredictorConfig:
        """From ``to_dict`` output, or ``{"preset": "S" | "L" | "small" | "tiny" | "t-lufs-s", ...}`` with
        optional field overrides; unknown fields are an error."""
        if not isinstance(data, dict):
            raise ModelError(f"T_LUFS config must be an object, got {type(data).__name__}")
        data = dict(data)
        base: dict[str, Any] = {}
        if "preset" in data:
            name = str(data.pop("preset"))
            key = name if name in LUFS_PRESETS else f"t-lufs-{name.lower()}"
            if key not in LUFS_PRESETS:
                raise ModelError(f"unknown T_LUFS preset {name!r}; choose one of {', '.join(LUFS_PRESETS)}")
            base = LUFS_PRESETS[key].to_dict()
        bad = sorted(set(data) - {f.name for f in fields(cls)})
        if bad:
            raise ModelError(f"invalid T_LUFS config: unknown fields {bad}")
        over = data.pop("frame_cnn", None) or {}
        if not isinstance(over, dict):
            raise ModelError(f"invalid T_LUFS config: frame_cnn must be an object, got {type(over).__name__}")
        cnn = {**base.pop("frame_cnn", {}), **over}
        bad = sorted(set(cnn) - {f.name for f in fields(FrameCNNConfig)})
        if bad:
            raise ModelError(f"invalid T_LUFS config: unknown frame_cnn fields {bad}")
        frame_cnn = FrameCNNConfig(
            **{
                **cnn,
                "channels": tuple(cnn.get("channels", FrameCNNConfig.channels)),
                "grid": tuple(cnn.get("grid", FrameCNNConfig.grid)),
            }
        )
        try:
            return cls(**{**base, **data}, frame_cnn=frame_cnn)
        except TypeError as exc:
            raise ModelError(f"invalid T_LUFS config: {exc}") from exc


LUFS_PRESETS: dict[str, LufsPredictorConfig] = {
    # The paper's sizes; the feature network is not named there beyond "DINOv2": ViT-B/14 matches dim 768.
    "t-lufs-s": LufsPredictorConfig("t-lufs-s", 768, 12, 8, features="dinov2-vitb14"),
    "t-lufs-l": LufsPredictorConfig("t-lufs-l", 768, 14, 12, features="dinov2-vitb14"),
    "t-lufs-small": LufsPredictorConfig("t-lufs-small", 256, 4, 4),
    "t-lufs-tiny": LufsPredictorConfig(
        "t-lufs-tiny", 32, 2, 2, dropout=0.0, frame_cnn=FrameCNNConfig((8, 16), 32, 32, True)
    ),
}
