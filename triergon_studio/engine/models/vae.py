"""Oobleck VAE (Stable Audio Open; Evans et al. 2024), the latent space under the Tri-Ergon DiT.

The module tree mirrors the key names of a Stable Audio Open checkpoint (``encoder.layers.N...``,
``decoder.layers.N...``, weight-norm pairs ``weight_g``/``weight_v``, SnakeBeta ``alpha``/``beta``), so such a
state dict loads with strict key matching after its ``pretransform.model.`` prefix is replaced by ``vae.``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.config import VAEConfig


class WNConv1d(nn.Module):
    """A weight-normed (transposed) 1-D convolution holding ``weight_g`` / ``weight_v`` like the legacy
    ``torch.nn.utils.weight_norm`` (dim 0), without its deprecated hooks."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
        transpose: bool = False,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.transpose = stride, padding, dilation, transpose
        shape = (
            (in_channels, out_channels, kernel_size)
            if transpose
            else (out_channels, in_channels, kernel_size)
        )
        v = torch.empty(shape)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(_norm_except_0(v))
        if bias:
            fan_in = (out_channels if transpose else in_channels) * kernel_size
            bound = 1.0 / math.sqrt(fan_in)
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def weight(self) -> Tensor:
        return self.weight_v * (self.weight_g / _norm_except_0(self.weight_v))

    @torch.no_grad()
    def set_weight(self, weight: Tensor) -> None:
        """Set the effective weight (g = per-output-row norm, v = the weight)."""
        self.weight_v.copy_(weight)
        self.weight_g.copy_(_norm_except_0(weight))

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight().to(x.dtype)
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if self.transpose:
            return F.conv_transpose1d(
                x, w, b, stride=self.stride, padding=self.padding, dilation=self.dilation
            )
        return F.conv1d(x, w, b, stride=self.stride, padding=self.padding, dilation=self.dilation)


def _norm_except_0(v: Tensor) -> Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.ndim - 1)))


class SnakeBeta(nn.Module):
    """``x + 1/(exp(beta)+1e-9) * sin(exp(alpha) x)^2`` with per-channel log-scale alpha and beta."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.exp().to(x.dtype)[None, :, None]
        inv_beta = (self.beta.exp() + 1e-9).reciprocal().to(x.dtype)[None, :, None]
        return x + inv_beta * torch.sin(x * alpha).pow(2)


def _act(channels: int, use_snake: bool) -> nn.Module:
    return SnakeBeta(channels) if use_snake else nn.ELU()


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, use_snake: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _act(channels, use_snake),
            WNConv1d(channels, channels, 7, dilation=dilation, padding=dilation * 3),
            _act(channels, use_snake),
            WNConv1d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(x)


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, use_snake: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            ResidualUnit(cin, 1, use_snake),
            ResidualUnit(cin, 3, use_snake),
            ResidualUnit(cin, 9, use_snake),
            _act(cin, use_snake),
            WNConv1d(cin, cout, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, use_snake: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _act(cin, use_snake),
            WNConv1d(cin, cout, 2 * stride, stride=stride, padding=math.ceil(stride / 2), transpose=True),
            ResidualUnit(cout, 1, use_snake),
            ResidualUnit(cout, 3, use_snake),
            ResidualUnit(cout, 9, use_snake),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class OobleckEncoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = [cfg.channels] + [m * cfg.channels for m in cfg.c_mults]
        layers: list[nn.Module] = [WNConv1d(cfg.io_channels, ch[0], 7, padding=3)]
        for i, stride in enumerate(cfg.strides):
            layers.append(EncoderBlock(ch[i], ch[i + 1], stride, cfg.use_snake))
        layers += [_act(ch[-1], cfg.use_snake), WNConv1d(ch[-1], 2 * cfg.latent_dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class OobleckDecoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = [cfg.channels] + [m * cfg.channels for m in cfg.c_mults]
        layers: list[nn.Module] = [WNConv1d(cfg.latent_dim, ch[-1], 7, padding=3)]
        for i in range(len(cfg.strides), 0, -1):
            layers.append(DecoderBlock(ch[i], ch[i - 1], cfg.strides[i - 1], cfg.use_snake))
        layers += [
            _act(ch[0], cfg.use_snake),
            WNConv1d(ch[0], cfg.io_channels, 7, padding=3, bias=False),
            nn.Tanh() if cfg.final_tanh else nn.Identity(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

    def steps(self) -> list[tuple[Callable[[Tensor], Tensor], float]]:
        """The forward pass as a list of (step, relative cost): each residual unit and each other layer on its
        own, in ``forward``'s order with ``forward``'s arithmetic (so stepping gives the same samples). A step's
        cost is its output values per latent frame (channels x upsampling so far) times ``_cost_per_value``."""
        out: list[tuple[Callable[[Tensor], Tensor], float]] = []
        up = 1
        for layer in self.layers:
            parts = list(layer.layers) if isinstance(layer, DecoderBlock) else [layer]
            for part in parts:
                if isinstance(part, WNConv1d) and part.transpose:
                    up *= part.stride
                out.append((part, float(up * _channels_out(part)) * _cost_per_value(part)))
        return out


def _channels_out(m: nn.Module) -> int:
    if isinstance(m, WNConv1d):
        return int(m.weight_v.shape[1] if m.transpose else m.weight_v.shape[0])
    if isinstance(m, SnakeBeta):
        return int(m.alpha.shape[0])
    if isinstance(m, ResidualUnit):
        return _channels_out(m.layers[1])
    return 1


def _cost_per_value(m: nn.Module) -> float:
    """Estimated time per output value, in ns on the 2-core CPU this was measured on (the bundled decoder on a
    60 s window, 2026-12-01): SnakeBeta about 22, a convolution about 0.6 per multiply-add plus 15 (small
    channel counts are memory-bound), a residual unit its parts plus the sum. Only the ratios matter."""
    if isinstance(m, SnakeBeta):
        return 22.0
    if isinstance(m, WNConv1d):
        w = m.weight_v
        # transposed: each output value gathers kernel / stride taps of every input channel
        macs = w.shape[0] * w.shape[2] / m.stride if m.transpose else w.shape[1] * w.shape[2]
        return 0.6 * float(macs) + 15.0
    if isinstance(m, ResidualUnit):
        return sum(_cost_per_value(c) for c in m.layers) + 3.0
    return 3.0


def vae_sample(
    mean: Tensor, scale: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Reparameterised sample and the KL term of Stable Audio's VAE bottleneck."""
    std = F.softplus(scale) + 1e-4
    var = std * std
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    kl = (mean * mean + var - var.log() - 1).sum(1).mean()
    return mean + std * noise, kl


def run_steps(steps: Generator[float, None, Tensor]) -> Tensor:
    """Run a stepwise decode (``decode_steps``) to its end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return cast(Tensor, stop.value)


class LatentAutoencoder(nn.Module):
    """What the rest of the program uses of an autoencoder: ``encoder`` returns mean and scale stacked on the
    channel axis, ``decoder`` maps latents back to audio, and the total stride fixes the latent rate."""

    encoder: nn.Module
    decoder: nn.Module

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg

    @property
    def stride(self) -> int:
        return self.cfg.downsampling_ratio

    @property
    def latent_dtype(self) -> torch.dtype:
        """The dtype latents and audio go in as: the first parameter's, or the first floating buffer's for a
        code with no parameters (the band-PCA autoencoder)."""
        for t in (*self.parameters(), *self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    def latent_frames(self, n_samples: int) -> int:
        return -(-n_samples // self.stride)

    def encode_moments(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Pad to a multiple of the total stride and return (mean, scale) of the posterior."""
        n = audio.shape[-1]
        pad = self.latent_frames(n) * self.stride - n
        if pad:
            audio = F.pad(audio, (0, pad))
        mean, scale = self.encoder(audio).chunk(2, dim=1)
        return mean, scale

    def encode(
        self, audio: Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        mean, scale = self.encode_moments(audio)
        if not sample:
            return mean
        return vae_sample(mean, scale, generator)[0]

    def encode_with_kl(
        self, audio: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        mean, scale = self.encode_moments(audio)
        return vae_sample(mean, scale, generator)

    def decode_steps(self, latents: Tensor) -> Generator[float, None, Tensor]:
        """``decode`` one decoder step at a time (each residual unit and each other layer), yielding the fraction
        of the decode done (by the steps' estimated cost) after each; returns the same samples as ``decode``.
        A decoder with its own ``forward_steps(latents)`` generator (band-PCA's Griffin-Lim) runs that; one with
        neither runs in one step."""
        own = getattr(self.decoder, "forward_steps", None)
        if own is not None:
            return (yield from own(latents))
        steps_of = getattr(self.decoder, "steps", None)
        if steps_of is None:
            audio = self.decoder(latents)
            yield 1.0
            return audio
        steps = steps_of()
        total = sum(cost for _, cost in steps) or 1.0
        done = 0.0
        x = latents
        for step, cost in steps:
            if isinstance(step, ResidualUnit):  # its four layers one by one, then the sum, as its forward
                per_value = cost / _cost_per_value(step)
                y = x
                for sub in step.layers:
                    y = sub(y)
                    done += per_value * _cost_per_value(sub)
                    yield min(1.0, done / total)
                x = x + y
                done += per_value * 3.0
            else:
                x = step(x)
                done += cost
            yield min(1.0, done / total)
        return x

    def decode(self, latents: Tensor, n_samples: int | None = None) -> Tensor:
        """Decode, then trim (or zero-pad) to ``n_samples`` when given."""
        audio = self.decoder(latents)
        if n_samples is not None:
            if audio.shape[-1] >= n_samples:
                audio = audio[..., :n_samples]
            else:
                audio = F.pad(audio, (0, n_samples - audio.shape[-1]))
        return audio

    def fold_latent_normalisation(self, mean: Tensor, std: Tensor) -> None:
        """Make the encoder return (z - mean) / std and the decoder accept it, by editing weights."""
        raise NotImplementedError


class OobleckVAE(LatentAutoencoder):
    """Stereo audio [B, 2, N] <-> latents [B, latent_dim, ceil(N / stride)]."""

    encoder: OobleckEncoder
    decoder: OobleckDecoder

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__(cfg)
        self.encoder = OobleckEncoder(cfg)
        self.decoder = OobleckDecoder(cfg)

    @torch.no_grad()
    def fold_latent_normalisation(self, mean: Tensor, std: Tensor) -> None:
        enc_out = self.encoder.layers[-1]  # the Oobleck encoder ends in a WNConv1d
        dec_in = self.decoder.layers[0]  # and its decoder starts with one
        assert isinstance(enc_out, WNConv1d) and isinstance(dec_in, WNConv1d)
        assert enc_out.bias is not None and dec_in.bias is not None  # both are built with a bias
        c = mean.numel()
        w = enc_out.weight().clone()
        w[:c] = w[:c] / std[:, None, None]
        enc_out.set_weight(w)
        enc_out.bias[:c] = (enc_out.bias[:c] - mean) / std
        w = dec_in.weight().clone()  # [out, C, k]
        dec_in.bias.add_((w * mean[None, :, None]).sum(dim=(1, 2)))
        dec_in.set_weight(w * std[None, :, None])
