"""A small net that predicts gain mode's directions, so guidance need not encode (issue 13).

Gain mode (``guidance.CurveGuide``, ``guide_gain``) moves a left and a right gain per curve frame along the
latent change that 1 dB more on that channel makes. Found through the family's encoder, those directions
cost an encode of three copies of the decoded audio per guided step (about two forward decodes); found again
at every guided step because the latent moves (directions kept from the first step lost the prompt's class on
dev clips). This net maps what guidance already has at that point, the latent and its decode, to the same
two directions: the latent, plus the decode's level in log-spaced bands per latent frame's block of audio
(the encoder's response to a gain depends on the spectrum: from the latent alone the error was larger).

It is trained per model from that model's own encoder and decoder (``training/gain_net.py``) and lives in
the model folder as ``gain_directions.safetensors``; a model without one finds its directions by encoding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from triergon_studio.engine.curve_control.net_files import load_net, net_for_model, save_net
from triergon_studio.errors import ModelError

GAIN_NET_FILE = "gain_directions.safetensors"
GAIN_NET_FORMAT = "triergon-gain-directions"
LOW_HZ = 40.0  # lowest band edge; the bins below it join the first band
POWER_FLOOR = 1e-10


@dataclass(frozen=True, slots=True)
class GainNetConfig:
    latent_channels: int
    downsampling_ratio: int
    sample_rate: int
    hidden: int = 128
    layers: int = 4  # convolutions after the input one
    kernel: int = 5
    bands: int = 16

    def check(self) -> None:
        ok = (
            self.latent_channels > 0
            and self.downsampling_ratio >= 4
            and self.sample_rate > 0
            and self.hidden > 0
            and 1 <= self.layers <= 12
            and self.kernel % 2 == 1
            and 1 <= self.bands <= 64
        )
        if not ok:
            raise ModelError(f"bad gain direction net config {asdict(self)}")

    @property
    def in_channels(self) -> int:
        return self.latent_channels + 2 * (self.bands + 1)


def band_matrix(ratio: int, sample_rate: int, bands: int) -> Tensor:
    """``[ratio // 2 + 1, bands + 1]``: averages a block's power spectrum into log-spaced bands from
    ``LOW_HZ`` to Nyquist (the bins below join the first band; a band no bin falls in stays empty) and,
    last, over all bins."""
    freqs = np.fft.rfftfreq(ratio, 1.0 / sample_rate)
    edges = np.geomspace(LOW_HZ, sample_rate / 2.0, bands + 1)
    idx = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, bands - 1)
    w = np.zeros((freqs.size, bands + 1), dtype=np.float32)
    w[np.arange(freqs.size), idx] = 1.0
    w[:, bands] = 1.0
    return torch.from_numpy(w / np.maximum(w.sum(0, keepdims=True), 1.0))


def band_levels(audio: Tensor, frames: int, ratio: int, weights: Tensor) -> Tensor:
    """``[2, N]`` audio -> ``[2 * (bands + 1), frames]``: log10 of the mean power in each band of each
    latent frame's block of samples (Hann-windowed), left channel's bands first."""
    x = audio.float()[..., : frames * ratio]
    if x.shape[-1] < frames * ratio:
        x = torch.nn.functional.pad(x, (0, frames * ratio - x.shape[-1]))
    blocks = x.reshape(x.shape[0], frames, ratio) * torch.hann_window(ratio, device=x.device)
    power = torch.fft.rfft(blocks).abs().pow(2)  # [2, T, bins]
    levels = torch.log10(power @ weights.to(power) + POWER_FLOOR)  # [2, T, bands + 1]
    return levels.permute(0, 2, 1).reshape(-1, frames)


class GainDirectionNet(nn.Module):
    """(latent ``[1, C, T]``, its decode ``[1, 2, N]``) -> directions ``[2, 1, C, T]`` (per dB, left and
    right). Inputs are standardised with statistics kept from training; the output is scaled back by the
    training directions' RMS."""

    in_mean: Tensor
    in_std: Tensor
    out_scale: Tensor
    bands_w: Tensor

    def __init__(self, cfg: GainNetConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        k, w = cfg.kernel, cfg.hidden
        layers: list[nn.Module] = [nn.Conv1d(cfg.in_channels, w, k, padding=k // 2), nn.GELU()]
        for _ in range(cfg.layers):
            layers += [nn.Conv1d(w, w, k, padding=k // 2), nn.GELU()]
        layers.append(nn.Conv1d(w, 2 * cfg.latent_channels, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("in_mean", torch.zeros(cfg.in_channels, 1))
        self.register_buffer("in_std", torch.ones(cfg.in_channels, 1))
        self.register_buffer("out_scale", torch.ones(()))
        self.register_buffer(
            "bands_w", band_matrix(cfg.downsampling_ratio, cfg.sample_rate, cfg.bands), persistent=False
        )

    def features(self, z: Tensor, audio: Tensor) -> Tensor:
        """``[C + 2 (bands + 1), T]``, unstandardised: the latent and its decode's band levels."""
        z2 = z.reshape(-1, z.shape[-1]).float()
        a = audio.reshape(-1, audio.shape[-1])
        if z2.shape[0] != self.cfg.latent_channels or a.shape[0] != 2:
            raise ModelError(
                f"gain direction net: expected one latent of {self.cfg.latent_channels} channels and stereo "
                f"audio, got {tuple(z.shape)} and {tuple(audio.shape)}"
            )
        bands = band_levels(a, z2.shape[-1], self.cfg.downsampling_ratio, self.bands_w)
        return torch.cat([z2, bands], 0)

    def forward(self, feats: Tensor) -> Tensor:
        """``[B, in_channels, T]`` unstandardised features -> ``[B, 2 C, T]`` directions."""
        return self.net((feats - self.in_mean) / self.in_std) * self.out_scale

    def directions(self, z: Tensor, audio: Tensor) -> Tensor:
        with torch.no_grad():
            out = self(self.features(z, audio)[None])[0]
        return out.reshape(2, *z.shape).to(z.dtype)

    def set_statistics(self, feats: list[Tensor], dirs: list[Tensor]) -> None:
        """Standardisation from training features ``[in, T]`` and directions ``[2 C, T]``."""
        f = torch.cat(feats, -1)
        with torch.no_grad():
            self.in_mean.copy_(f.mean(-1, keepdim=True))
            self.in_std.copy_(f.std(-1, keepdim=True).clamp_min(1e-4))
            rms = float(torch.cat(dirs, -1).pow(2).mean().sqrt())
            self.out_scale.fill_(rms if math.isfinite(rms) and rms > 0 else 1.0)


def save_gain_net(net: GainDirectionNet, path: str | Path, record: dict[str, object] | None = None) -> Path:
    """Safetensors, written atomically; refuses to replace an existing file."""
    return save_net(net, asdict(net.cfg), path, GAIN_NET_FORMAT, "gain direction net", record)


def load_gain_net(path: str | Path) -> GainDirectionNet:
    net = load_net(
        path, GAIN_NET_FORMAT, "gain direction net", lambda cfg: GainDirectionNet(GainNetConfig(**cfg))
    )
    assert isinstance(net, GainDirectionNet)
    return net


def gain_net_for_model(model: object) -> GainDirectionNet | None:
    """The gain direction net in the model's folder when it exists and matches the model's latent; None otherwise."""
    net = net_for_model(model, GAIN_NET_FILE, load_gain_net, "gain direction net")
    assert net is None or isinstance(net, GainDirectionNet)
    return net
