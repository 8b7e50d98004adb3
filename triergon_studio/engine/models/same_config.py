"""Configuration of the SAME autoencoders of Stable Audio 3 (SAME-S for Small, SAME-L for Medium).

Parsed from the upstream ``model_config.json`` (Stability-AI/stable-audio-3 at
636f906fc0ee54b3f06edf974dc7d3aa99d6841b): either a full Stable Audio 3 config, whose autoencoder sits at
``model.pretransform.config``, or a standalone SAME-S / SAME-L config, whose ``model`` holds ``encoder`` /
``decoder`` / ``bottleneck`` / ``pretransform`` directly. An absent key means the upstream constructor default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triergon_studio.errors import ModelError

# Options upstream accepts that neither SAME-S nor SAME-L uses; refused rather than silently ignored.
_UNSUPPORTED_TRUE = ("conformer", "layer_scale", "cross_attn", "feat_scale", "causal")


@dataclass(frozen=True)
class SAMECoderConfig:
    """One side (encoder or decoder) of a SAME autoencoder: a stack of transformer resampling stages."""

    io_channels: int  # encoder: ``in_channels``; decoder: ``out_channels`` (the patched-audio channels)
    channels: int
    c_mults: tuple[int, ...]
    strides: tuple[int, ...]
    transformer_depths: tuple[int, ...]
    latent_dim: int
    dim_heads: int = 128
    differential: bool = True
    dyt: bool = True
    ff_mult: float = 3.0
    chunk_size: int = 128
    chunk_midpoint_shift: bool = False
    sliding_window: tuple[int, int] | None = None
    variable_stride: bool = False
    conv_mapping: bool = False
    mapping_bias: bool = True
    sinusoidal_blocks: tuple[int, ...] = ()
    mask_noise: float = 0.0

    @property
    def dims(self) -> tuple[int, ...]:
        """Channel width at each level: the patched-audio channels, then ``c * channels`` per stage."""
        return (self.io_channels, *(c * self.channels for c in self.c_mults))

    @staticmethod
    def from_upstream(d: dict[str, Any], *, kind: str) -> SAMECoderConfig:
        for name in _UNSUPPORTED_TRUE:
            if d.get(name):
                raise ModelError(f"SAME {kind} option '{name}' is not supported (not used by SAME-S/SAME-L)")
        io_key = "in_channels" if kind == "encoder" else "out_channels"
        depths = tuple(int(v) for v in d.get("transformer_depths", [3, 3, 3, 3]))
        window = d.get("sliding_window")
        sin = d.get("sinusoidal_blocks") if kind == "decoder" else None
        cfg = SAMECoderConfig(
            io_channels=int(d.get(io_key, 2)),
            channels=int(d.get("channels", 128)),
            c_mults=tuple(int(v) for v in d.get("c_mults", [1, 2, 4, 8])),
            strides=tuple(int(v) for v in d.get("strides", [2, 4, 8, 8])),
            transformer_depths=depths,
            latent_dim=int(d.get("latent_dim", 32)),
            dim_heads=int(d.get("dim_heads", 128)),
            differential=bool(d.get("differential", True)),
            dyt=bool(d.get("dyt", True)),
            ff_mult=float(d.get("ff_mult", 3)),
            chunk_size=int(d.get("chunk_size", 128)),
            chunk_midpoint_shift=bool(d.get("chunk_midpoint_shift", False)),
            sliding_window=(int(window[0]), int(window[1])) if window is not None else None,
            variable_stride=bool(d.get("variable_stride", False)),
            conv_mapping=bool(d.get("conv_mapping", False)),
            mapping_bias=bool(d.get("mapping_bias", True)),
            sinusoidal_blocks=tuple(int(v) for v in sin) if sin is not None else (0,) * len(depths),
            mask_noise=float(d.get("mask_noise", 0.0)),
        )
        cfg.validate(kind)
        return cfg

    def validate(self, kind: str) -> None:
        n = len(self.c_mults)
        if (
            not (len(self.strides) == len(self.transformer_depths) == len(self.sinusoidal_blocks) == n)
            or n == 0
        ):
            raise ModelError(f"SAME {kind}: c_mults, strides, transformer_depths differ in length")
        for dim in self.dims[1:]:
            heads_dim = min(self.dim_heads, dim)
            if dim % heads_dim or heads_dim % 4:
                raise ModelError(
                    f"SAME {kind}: width {dim} and dim_heads {heads_dim} do not split into heads"
                )
        if self.sliding_window is None:
            for s in self.strides:
                if self.chunk_size % s:
                    raise ModelError(f"SAME {kind}: stride {s} does not divide chunk_size {self.chunk_size}")


@dataclass(frozen=True)
class SAMEConfig:
    """A SAME autoencoder: patched pretransform, transformer encoder/decoder and soft-norm bottleneck."""

    encoder: SAMECoderConfig
    decoder: SAMECoderConfig
    latent_dim: int
    patch_size: int
    audio_channels: int = 2
    sample_rate: int = 44100
    soft_clip: bool = False
    noise_regularize: bool = False  # upstream bottleneck dither on decode (1e-3 of running_std at inference)
    auto_scale: bool = True
    noise_augment_dim: int = 0
    chunked: bool = False  # upstream AutoencoderPretransform: decode in 128-latent chunks with 32 overlap

    @property
    def downsampling_ratio(self) -> int:
        ratio = self.patch_size
        for s in self.encoder.strides:
            ratio *= s
        return ratio

    @staticmethod
    def from_upstream(d: dict[str, Any]) -> SAMEConfig:
        """Parse a full Stable Audio 3 ``model_config.json``, its ``model`` block, its
        ``model.pretransform`` block or a standalone SAME-S / SAME-L config."""
        if not isinstance(d, dict):
            raise ModelError("SAME config is not a JSON object")
        sample_rate = int(d.get("sample_rate", 44100))
        if "model" in d and isinstance(d["model"], dict):
            d = d["model"]
        chunked = False
        if "encoder" not in d:
            block = d.get("pretransform")
            if not isinstance(block, dict) or not isinstance(block.get("config"), dict):
                raise ModelError("config has no SAME autoencoder (model.pretransform.config)")
            if block.get("type", "autoencoder") != "autoencoder":
                raise ModelError(f"pretransform type '{block.get('type')}' is not a SAME autoencoder")
            chunked = bool(block.get("chunked", False))
            d = block["config"]
        try:
            enc, dec = d["encoder"], d["decoder"]
            patched = d["pretransform"]
            bottleneck = d.get("bottleneck", {"type": "softnorm", "config": {}})
        except KeyError as err:
            raise ModelError(f"SAME config lacks '{err.args[0]}'") from None
        for name, block in (("encoder", enc), ("decoder", dec)):
            if block.get("type", "same") != "same":
                raise ModelError(f"SAME {name} type '{block.get('type')}' is not supported")
        if patched.get("type", "patched") != "patched":
            raise ModelError(f"SAME pretransform type '{patched.get('type')}' is not supported")
        if bottleneck.get("type", "softnorm") != "softnorm":
            raise ModelError(f"SAME bottleneck type '{bottleneck.get('type')}' is not supported")
        pcfg = patched.get("config", {})
        if int(pcfg.get("oversampling", 1)) != 1 or int(pcfg.get("postfilter_channels", 0)) != 0:
            raise ModelError("SAME patched pretransform with oversampling or a postfilter is not supported")
        bcfg = bottleneck.get("config", {})
        if int(bcfg.get("noise_augment_dim", 0)) != 0:
            raise ModelError("SAME bottleneck noise_augment_dim > 0 is not supported")
        encoder = SAMECoderConfig.from_upstream(enc.get("config", {}), kind="encoder")
        decoder = SAMECoderConfig.from_upstream(dec.get("config", {}), kind="decoder")
        cfg = SAMEConfig(
            encoder=encoder,
            decoder=decoder,
            latent_dim=int(d.get("latent_dim", encoder.latent_dim)),
            patch_size=int(pcfg.get("patch_size", 256)),
            audio_channels=int(pcfg.get("channels", d.get("io_channels", 2))),
            sample_rate=sample_rate,
            soft_clip=bool(dec.get("soft_clip", False)),
            noise_regularize=bool(bcfg.get("noise_regularize", False)),
            auto_scale=bool(bcfg.get("auto_scale", False)),
            noise_augment_dim=0,
            chunked=chunked,
        )
        if encoder.io_channels != cfg.audio_channels * cfg.patch_size:
            raise ModelError("SAME encoder in_channels is not channels x patch_size")
        if decoder.io_channels != cfg.audio_channels * cfg.patch_size:
            raise ModelError("SAME decoder out_channels is not channels x patch_size")
        if encoder.latent_dim != cfg.latent_dim or decoder.latent_dim != cfg.latent_dim:
            raise ModelError("SAME encoder/decoder latent_dim differs from the autoencoder's")
        declared = d.get("downsampling_ratio")
        if declared is not None and int(declared) != cfg.downsampling_ratio:
            raise ModelError(
                f"SAME downsampling_ratio {declared} is not patch_size x strides ({cfg.downsampling_ratio})"
            )
        return cfg


def _reference_block(
    io: int, coder: dict[str, Any], enc_extra: dict[str, Any], dec_extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "autoencoder",
        "config": {
            "encoder": {"type": "same", "config": {"in_channels": io, **coder, **enc_extra}},
            "decoder": {"type": "same", "config": {"out_channels": io, **coder, **dec_extra}},
            "bottleneck": {
                "type": "softnorm",
                "config": {
                    "dim": 256,
                    "noise_augment_dim": 0,
                    "noise_regularize": True,
                    "auto_scale": True,
                    "freeze": True,
                },
            },
            "pretransform": {"type": "patched", "config": {"patch_size": 256, "channels": 2}},
            "latent_dim": 256,
            "downsampling_ratio": 4096,
            "io_channels": 2,
        },
    }


_COMMON = {
    "c_mults": [6],
    "strides": [16],
    "latent_dim": 256,
    "dim_heads": 64,
    "differential": True,
    "dyt": True,
}

# The ``model.pretransform`` blocks of the real SAME-S (Stable Audio 3 Small) and SAME-L (Medium), as
# reconstructed from upstream's constants (tools/same_reference.py); for benchmarks and meta-device builds
# where no model_config.json is at hand. A user's model folder always brings its own config.
REFERENCE_BLOCKS: dict[str, dict[str, Any]] = {
    "same_s": _reference_block(
        512,
        {
            **_COMMON,
            "channels": 128,
            "transformer_depths": [6],
            "variable_stride": True,
            "chunk_size": 32,
            "chunk_midpoint_shift": True,
        },
        {"conv_mapping": False, "mask_noise": 0.0},
        {"sinusoidal_blocks": [0], "conv_mapping": True, "mask_noise": 0.01},
    ),
    "same_l": _reference_block(
        512,
        {
            **_COMMON,
            "channels": 256,
            "transformer_depths": [12],
            "variable_stride": True,
            "sliding_window": [1, 1],
        },
        {},
        {"sinusoidal_blocks": [8]},
    ),
}
