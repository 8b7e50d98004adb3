"""A spectral autoencoder for the compact preset: STFT features in, an inverse-STFT head out (the Vocos
design, Siuzdenko et al. 2023), at the same latent rate and width as the compact Oobleck VAE.

Why: the compact Oobleck VAE (8 base channels, a chain of transposed convolutions at 44.1 kHz) learns timbre
too slowly on a 2-core CPU (33 % of its reconstructions recognisable after 2,600 steps). Here every layer runs
at the STFT frame rate (hop 256: 172 frames/s) or the latent rate (21.5 frames/s), and the waveform comes from
one inverse STFT, so a training step costs a fraction of the Oobleck one and the loss sees the spectrum
directly.

Stereo is coded as mid/side: a centred source (S = 0) decodes to identical, phase-coherent channels. A panned
source has a side spectrum in phase with its mid (S = g M, g = (a - b) / (a + b) for L = a s, R = b s). With
``side="free"`` the head predicts the side's phase on its own; bundle v2.1 learnt one uncorrelated with the
mid (corr(M, S) about 0 against 0.4-0.8 in its input), so both channels came out equally loud. With
``side="coherent"`` the side is ``tanh(pan) * M`` plus that free part, so a pan is one number per bin, and the
encoder also sees each bin's balance (which channel is louder: the magnitudes of mid and side cannot tell).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.config import VAEConfig
from triergon_studio.engine.models.vae import LatentAutoencoder

LOG_FLOOR = 1e-5
PAN_IN_INIT_SCALE = 0.1  # the encoder's balance input starts at a tenth of PyTorch's default conv init
MAX_LOG_MAG = 6.0  # exp(6) ~ 400: far above any in-range spectrum bin, keeps early training finite
MAX_LOG_GAIN = 2.0 * 1.1512925  # the gain head's bound, +-20 dB (ln 10 / 2 per 10 dB)
GAIN_HIDDEN, GAIN_KERNEL = 64, 9  # 9 latent frames a layer: each gain sees about 0.8 s of features


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k 7) -> LayerNorm -> pointwise MLP (x3) -> layer scale, residual."""

    def __init__(self, dim: int, layer_scale: float = 0.1) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 3 * dim)
        self.pw2 = nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ChannelNorm(nn.Module):
    """LayerNorm over channels of a [B, C, T] tensor."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def _mid_side(audio: Tensor) -> Tensor:
    left, right = audio[:, 0], audio[:, 1]
    return torch.stack([(left + right) * 0.5, (left - right) * 0.5], dim=1)


class SpectralEncoder(nn.Module):
    window: Tensor

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        bins = cfg.n_fft // 2 + 1
        width, stride = cfg.channels, cfg.strides[0]
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.inp = nn.Conv1d(cfg.io_channels * bins, width, 3, padding=1)
        self.inp_norm = ChannelNorm(width)
        self.frame_blocks = nn.Sequential(*[ConvNeXtBlock(width) for _ in range(cfg.enc_blocks)])
        self.down = nn.Conv1d(width, width, 2 * stride, stride=stride, padding=stride // 2)
        self.latent_blocks = nn.Sequential(ConvNeXtBlock(width), ChannelNorm(width))
        self.out = nn.Conv1d(width, 2 * cfg.latent_dim, 3, padding=1)
        # log magnitudes of mid and side cannot say which channel is louder (|S| is the same either way);
        # the per-bin balance (|L|^2 - |R|^2) / (|L|^2 + |R|^2) can. Small at the start: with this and the
        # decoder's pan both at zero, each one's gradient is proportional to the other's weights (a saddle; a
        # run from v2.1 had learnt almost nothing after 250 steps)
        self.pan_in: nn.Conv1d | None = None
        if cfg.side == "coherent":
            conv = nn.Conv1d(bins, width, 3, padding=1)
            with torch.no_grad():
                conv.weight.mul_(PAN_IN_INIT_SCALE)
                if conv.bias is not None:
                    conv.bias.zero_()
            self.pan_in = conv

    def forward(self, audio: Tensor) -> Tensor:
        """[B, 2, N] (N a multiple of hop * stride) -> [B, 2 * latent_dim, N / (hop * stride)]."""
        b, c, n = audio.shape
        ms = _mid_side(audio).reshape(b * c, n)
        spec = torch.stft(
            ms.float(), self.n_fft, self.hop, window=self.window, center=True, return_complex=True
        )
        spec = spec[..., : n // self.hop]  # drop the centred extra frame
        feats = torch.log(spec.abs() + LOG_FLOOR)
        x = self.inp(feats.reshape(b, c * feats.shape[1], -1).to(audio.dtype))
        if self.pan_in is not None:
            mid, side = spec.reshape(b, c, *spec.shape[1:]).unbind(1)
            # L = M + S, R = M - S: |L|^2 - |R|^2 = 4 Re(M S*), |L|^2 + |R|^2 = 2 (|M|^2 + |S|^2)
            power = mid.abs().square() + side.abs().square()
            balance = 2 * (mid * side.conj()).real / (power + LOG_FLOOR**2)
            x = x + self.pan_in(balance.to(audio.dtype))
        x = self.frame_blocks(self.inp_norm(x))
        return self.out(self.latent_blocks(self.down(x)))


class GainHead(nn.Module):
    """Frame features [B, F, W] -> one log gain per channel and latent frame, bounded to +-20 dB and
    interpolated to the F + 1 synthesis frames. Zero at the start: a decoder given a head decodes as before."""

    def __init__(self, width: int, stride: int, channels: int) -> None:
        super().__init__()
        self.stride, self.width = stride, width
        pad = GAIN_KERNEL // 2
        self.net = nn.Sequential(
            nn.Conv1d(width, GAIN_HIDDEN, GAIN_KERNEL, padding=pad),
            nn.GELU(),
            nn.Conv1d(GAIN_HIDDEN, GAIN_HIDDEN, GAIN_KERNEL, padding=pad),
            nn.GELU(),
            nn.Conv1d(GAIN_HIDDEN, channels, 1),
        )
        last = self.net[-1]
        assert isinstance(last, nn.Conv1d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, h: Tensor) -> Tensor:
        b, f1, w = h.shape
        t = (f1 - 1) // self.stride
        pooled = h[:, : t * self.stride].reshape(b, t, self.stride, w).mean(2).transpose(1, 2)
        g = self.net(pooled).float()
        g = MAX_LOG_GAIN * torch.tanh(g / MAX_LOG_GAIN)
        return F.interpolate(g, size=f1, mode="linear", align_corners=False)  # [B, C, F + 1]

    def cost_per_latent_frame(self) -> float:
        return float(GAIN_KERNEL * GAIN_HIDDEN * (self.width + GAIN_HIDDEN))


def apply_channel_gains(spec: Tensor, log_gain: Tensor) -> Tensor:
    """Scale left and right by their own gains on mid/side spectra [B, 2, bins, F]: with L = M + S and
    R = M - S, M' = a M + d S and S' = d M + a S for a = (gL + gR) / 2, d = (gL - gR) / 2."""
    g = torch.exp(log_gain)  # [B, 2, F]
    a = ((g[:, 0] + g[:, 1]) / 2)[:, None]
    d = ((g[:, 0] - g[:, 1]) / 2)[:, None]
    mid, side = spec[:, 0], spec[:, 1]
    return torch.stack([a * mid + d * side, d * mid + a * side], dim=1)


class SpectralDecoder(nn.Module):
    window: Tensor

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        width, stride = cfg.channels, cfg.strides[0]
        self.bins, self.channels = cfg.n_fft // 2 + 1, cfg.io_channels
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.inp = nn.Conv1d(cfg.latent_dim, width, 1)  # pointwise: the latent normalisation folds exactly
        self.latent_blocks = nn.Sequential(ChannelNorm(width), ConvNeXtBlock(width))
        self.up = nn.ConvTranspose1d(width, width, 2 * stride, stride=stride, padding=stride // 2)
        self.frame_blocks = nn.Sequential(*[ConvNeXtBlock(width) for _ in range(cfg.dec_blocks)])
        self.out_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, cfg.io_channels * 2 * self.bins)
        # zero at the start: a coherent decoder made from a free one decodes exactly as it did
        self.pan: nn.Linear | None = None
        if cfg.side == "coherent":
            self.pan = nn.Linear(width, self.bins)
            nn.init.zeros_(self.pan.weight)
            nn.init.zeros_(self.pan.bias)
        self.gain = GainHead(width, stride, cfg.io_channels) if cfg.gain_head else None

    def forward(self, z: Tensor) -> Tensor:
        """[B, latent_dim, T] -> [B, 2, T * hop * stride]."""
        x = z
        for step, _ in self.steps():
            x = step(x)
        return x

    def steps(self) -> list[tuple[Callable[[Tensor], Tensor], float]]:
        """The forward pass as (step, relative cost) pairs, for decode progress; cost ~ multiply-adds per latent
        frame."""
        w, s = self.up.in_channels, self.up.stride[0]
        block = 6.0 * w * w
        gain = self.gain.cost_per_latent_frame() if self.gain is not None else 0.0
        return [
            (self.inp, float(w * self.inp.in_channels)),
            (self.latent_blocks, block),
            (self.up, 2.0 * s * w * w),
            *[(b, s * block) for b in self.frame_blocks],
            (
                self._synthesise,
                float(s * w * (self.head.out_features + (self.bins if self.pan is not None else 0))) + gain,
            ),
        ]

    def _synthesise(self, x: Tensor) -> Tensor:
        """Frame features -> the head's mid/side spectra -> inverse STFT -> left/right."""
        out_dtype = x.dtype
        x = F.pad(x, (0, 1), mode="replicate")  # centred iSTFT of F frames gives (F - 1) * hop samples
        h = self.out_norm(x.transpose(1, 2))
        y = self.head(h)  # [B, F, C * 2 * bins]
        b, frames = y.shape[0], y.shape[1]
        y = y.view(b, frames, self.channels, 2, self.bins).permute(0, 2, 3, 4, 1).float()
        mag = torch.exp(y[:, :, 0].clamp(max=MAX_LOG_MAG))
        phase = y[:, :, 1]
        spec = torch.polar(mag, phase)  # [B, 2 (mid, side), bins, F]
        if self.pan is not None:
            pan = torch.tanh(self.pan(h).float()).transpose(1, 2)  # [B, bins, F]
            spec = torch.stack([spec[:, 0], spec[:, 1] + pan * spec[:, 0]], dim=1)
        if self.gain is not None:
            spec = apply_channel_gains(spec, self.gain(h))
        spec = spec.reshape(b * self.channels, self.bins, frames)
        n = (frames - 1) * self.hop
        wave = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, length=n)
        mid, side = wave.view(b, self.channels, n).unbind(1)
        return torch.stack([mid + side, mid - side], dim=1).to(out_dtype)


class SpectralAE(LatentAutoencoder):
    """Stereo audio [B, 2, N] <-> latents [B, latent_dim, ceil(N / (hop * stride))]."""

    encoder: SpectralEncoder
    decoder: SpectralDecoder

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__(cfg)
        self.encoder = SpectralEncoder(cfg)
        self.decoder = SpectralDecoder(cfg)

    @torch.no_grad()
    def fold_latent_normalisation(self, mean: Tensor, std: Tensor) -> None:
        """z' = (z - mean) / std, exactly, by editing the encoder's last and the decoder's first conv."""
        enc, dec = self.encoder.out, self.decoder.inp
        assert enc.bias is not None and dec.bias is not None
        c = mean.numel()
        enc.weight[:c] /= std[:, None, None]
        enc.bias[:c] = (enc.bias[:c] - mean) / std
        dec.bias.add_((dec.weight * mean[None, :, None]).sum(dim=(1, 2)))
        dec.weight.mul_(std[None, :, None])
