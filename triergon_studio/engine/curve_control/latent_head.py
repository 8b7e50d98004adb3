"""A small latent loudness head: the cheap stand-in for the decoder inside curve guidance (issue 13).

The head maps a model's latent ``[B, C, T]`` to the K-weighted level of each latent frame's block of audio,
``[B, 2, T]`` in dB (10 log10 of the mean square). Curve frames (1/6 s) do not line up with latent frames
(2048 samples for the compact model), so ``curve_from_blocks`` spreads each block's energy over the curve
frames it overlaps, by samples: exact where a block's energy is even over its samples; where a block
straddles a level step, the quiet side gets a share of the loud side's energy (many LU off next to a
silence). Guidance does not depend on those absolute values (next paragraph).

Guidance uses it as a *corrected* surrogate: a decoder forward pass (no gradient) measures the true curve,
the difference to the head's curve is held as a per-frame offset, and many cheap gradient steps go through
the head alone. The head's own bias cancels; only its sensitivity to the latent matters. It is trained per
model family from that model's own latents and decoder (``training/loudness_head.py``) and lives in the model
folder as ``loudness_head.safetensors``; a model without one is guided through its decoder.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from triergon_studio.audio.loudness import _frame_bounds
from triergon_studio.core.constants import CURVE_RATE_HZ
from triergon_studio.engine.curve_control.loudness_torch import k_weight, power_to_lufs
from triergon_studio.engine.curve_control.net_files import load_net, net_for_model, save_net
from triergon_studio.errors import ModelError

HEAD_FILE = "loudness_head.safetensors"
HEAD_FORMAT = "triergon-loudness-head"
BLOCK_DB_FLOOR = -120.0  # a digitally silent block


@dataclass(frozen=True, slots=True)
class HeadConfig:
    latent_channels: int
    downsampling_ratio: int
    sample_rate: int
    hidden: int = 96
    layers: int = 4  # dilated convolutions, dilation 1, 2, 4, ...
    kernel: int = 5

    def check(self) -> None:
        ok = (
            self.latent_channels > 0
            and self.downsampling_ratio > 0
            and self.sample_rate > 0
            and self.hidden > 0
            and 1 <= self.layers <= 12
            and self.kernel % 2 == 1
        )
        if not ok:
            raise ModelError(f"bad loudness head config {asdict(self)}")


class LatentLoudnessHead(nn.Module):
    """Dilated 1-D convolutions over latent frames; output: per-channel block level in dB."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        layers: list[nn.Module] = [nn.Conv1d(cfg.latent_channels, cfg.hidden, 1)]
        for i in range(cfg.layers):
            d = 2**i
            layers += [
                nn.GELU(),
                nn.Conv1d(cfg.hidden, cfg.hidden, cfg.kernel, padding=d * (cfg.kernel // 2), dilation=d),
            ]
        layers += [nn.GELU(), nn.Conv1d(cfg.hidden, 2, 1)]
        self.net = nn.Sequential(*layers)
        # block levels sit around -40 dB; starting there saves the first steps of training
        out = self.net[-1]
        assert isinstance(out, nn.Conv1d) and out.bias is not None
        nn.init.constant_(out.bias, -40.0)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def block_levels_db(audio: Tensor, sample_rate: int, ratio: int) -> Tensor:
    """The labels: K-weighted mean square of each ``ratio``-sample block, ``[..., 2, T]`` dB (audio
    ``[..., 2, T * ratio]``; a shorter tail block is averaged over what it has)."""
    y = k_weight(audio, sample_rate).to(torch.float64)
    n = y.shape[-1]
    t = int(math.ceil(n / ratio))
    pad = t * ratio - n
    sq = torch.nn.functional.pad(y * y, (0, pad)).reshape(*y.shape[:-1], t, ratio).sum(-1)
    counts = torch.full((t,), float(ratio), dtype=torch.float64)
    counts[-1] = ratio - pad
    return (10.0 * torch.log10(sq / counts + 1e-12)).clamp_min(BLOCK_DB_FLOOR).float()


def overlap_matrix(n_blocks: int, ratio: int, sample_rate: int, n_frames: int) -> Tensor:
    """``[T, F]``: the share of curve frame f's samples that latent block j supplies (columns sum to 1 where
    the frame lies inside the blocks)."""
    n = n_blocks * ratio
    starts, ends = _frame_bounds(n, sample_rate, 1.0 / CURVE_RATE_HZ, 1.0 / CURVE_RATE_HZ)
    starts, ends = starts[:n_frames], ends[:n_frames]
    b0 = np.arange(n_blocks)[:, None] * ratio
    ov = np.clip(np.minimum(b0 + ratio, ends[None, :]) - np.maximum(b0, starts[None, :]), 0, None)
    w = ov / np.maximum(ends - starts, 1)[None, :]
    out = np.zeros((n_blocks, n_frames))
    out[:, : w.shape[1]] = w
    return torch.from_numpy(out)


def curve_from_blocks(levels_db: Tensor, weights: Tensor) -> Tensor:
    """Per-channel curve in LUFS ``[..., 2, F]`` from block levels ``[..., 2, T]`` and ``overlap_matrix``."""
    p = torch.pow(10.0, levels_db.to(torch.float64) / 10.0) @ weights.to(torch.float64)
    return power_to_lufs(p).float()


# ------------------------------------------------------------------------------------------------ files
def save_head(head: LatentLoudnessHead, path: str | Path, record: dict[str, object] | None = None) -> Path:
    """Write the head as safetensors (config and training record in the metadata), atomically; refuses to
    replace an existing file."""
    return save_net(head, asdict(head.cfg), path, HEAD_FORMAT, "loudness head", record)


def load_head(path: str | Path) -> LatentLoudnessHead:
    """Read a head written by ``save_head`` (safetensors only: nothing is unpickled)."""
    head = load_net(path, HEAD_FORMAT, "loudness head", lambda cfg: LatentLoudnessHead(HeadConfig(**cfg)))
    assert isinstance(head, LatentLoudnessHead)
    return head


def head_for_model(model: object) -> LatentLoudnessHead | None:
    """The loudness head in the model's folder when it exists and matches the model's latent; None otherwise."""
    net = net_for_model(model, HEAD_FILE, load_head, "loudness head")
    assert net is None or isinstance(net, LatentLoudnessHead)
    return net
