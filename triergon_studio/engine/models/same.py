"""SAME autoencoders of Stable Audio 3: SAME-S (Small) and SAME-L (Medium), encoder and decoder.

Our implementation of the architecture in Stability-AI/stable-audio-3 (commit
636f906fc0ee54b3f06edf974dc7d3aa99d6841b, ``stable_audio_3/models/autoencoders.py``, ``bottleneck.py``,
``pretransforms.py``, ``transformer.py``). Audio ``[B, 2, N]`` at 44.1 kHz is cut into patches of 256
samples per channel (``[B, 512, N/256]``); one transformer resampling stage folds 16 patches into one
256-dim latent (4096x in all). Inside a stage, every group of ``stride`` input tokens gets ``stride_out``
learned "new tokens" appended (a sub-chunk of ``stride + 1``), the sequence is attended in chunks (SAME-S:
the first half of the layers on chunks of 34 tokens, the second half on chunks shifted by half a chunk, the
"midpoint shift") or with a sliding window (SAME-L: +-17 tokens), and the new tokens' outputs are kept.
Norms are DyT (``gamma * tanh(alpha x) + beta``); attention is differential with DyT q/k norms and rotary
embedding on half of each head; the decoder's output mapping is a weight-normed convolution (kernel 3 on
SAME-S, 1 on SAME-L).

Key layout (strict): the module tree mirrors upstream ``AudioAutoencoder``; a checkpoint's keys map as
    full Stable Audio 3 ``model.safetensors``: ``pretransform.model.encoder.*``   -> ``encoder.*``
                                                ``pretransform.model.decoder.*``   -> ``decoder.*``
                                                ``pretransform.model.bottleneck.*`` -> ``bottleneck.*``
    standalone SAME-S / SAME-L ``model.safetensors``: the same keys without the prefix.
See ``UPSTREAM_PREFIX`` and ``autoencoder_state_dict``. Encoder stages are ``encoder.layers.<i>`` (i < number
of stages), followed by its output Linear; the decoder starts with its input Linear at ``decoder.layers.1``
and its stages follow from ``decoder.layers.3`` (upstream's parameter-free Transpose modules keep their
indices).

Upstream's inference noise (bottleneck ``noise_regularize`` dither and the decoder's ``mask_noise`` on the
new tokens) is drawn only when a ``generator`` is passed; without one, encode/decode are deterministic.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import cast

import torch
from torch import Tensor, nn

from triergon_studio.engine.models.same_blocks import TransformerBlock
from triergon_studio.engine.models.same_config import SAMECoderConfig, SAMEConfig
from triergon_studio.engine.models.vae import WNConv1d, run_steps
from triergon_studio.errors import ModelError

__all__ = ["SAMEAutoencoder", "SAMEConfig", "SAMECoderConfig", "UPSTREAM_PREFIX", "autoencoder_state_dict"]

UPSTREAM_PREFIX = "pretransform.model."
SLAB_TOKENS = 1024  # tokens per slab in the chunked stages (ResamplingStage._chunked)


def autoencoder_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The autoencoder's tensors of a checkpoint, keyed for ``SAMEAutoencoder``: strips
    ``pretransform.model.`` from a full Stable Audio 3 checkpoint; a standalone SAME checkpoint is bare."""
    if any(k.startswith(UPSTREAM_PREFIX) for k in state):
        n = len(UPSTREAM_PREFIX)
        return {k[n:]: v for k, v in state.items() if k.startswith(UPSTREAM_PREFIX)}
    return dict(state)


def _pad_to(x: Tensor, multiple: int, dim: int) -> Tensor:
    extra = (-x.shape[dim]) % multiple
    if extra == 0:
        return x
    shape = list(x.shape)
    shape[dim] = extra
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


class ResamplingStage(nn.Module):
    """One transformer resampling stage (upstream ``TransformerResamplingBlock``).

    Encoder: ``[B, C_in, L] -> [B, C_out, L / stride]``; decoder: ``[B, C_in, T] -> [B, C_out, T * stride]``.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        depth: int,
        sinusoidal_blocks: int,
        cfg: SAMECoderConfig,
        decoder: bool,
    ) -> None:
        super().__init__()
        self.decoder, self.stride, self.depth = decoder, stride, depth
        self.chunk_size, self.shift_midpoint = cfg.chunk_size, cfg.chunk_midpoint_shift
        self.mask_noise, self.window_latents = cfg.mask_noise, cfg.sliding_window
        dim = c_in if decoder else c_out
        heads_dim = min(cfg.dim_heads, dim)
        self.seg_in, self.seg_out = (1, stride) if decoder else (stride, 1)
        if c_in != c_out:
            k = 3 if cfg.conv_mapping else 1
            self.mapping: nn.Module = WNConv1d(c_in, c_out, k, padding=k // 2, bias=cfg.mapping_bias)
        else:
            self.mapping = nn.Identity()
        n_new = 1 if cfg.variable_stride else self.seg_out
        self.new_tokens = nn.Parameter(1e-5 * torch.randn(1, n_new, dim))
        self.transformers = nn.ModuleList(
            TransformerBlock(
                dim,
                heads_dim,
                differential=cfg.differential,
                dyt=cfg.dyt,
                ff_mult=cfg.ff_mult,
                sinusoidal=(depth - i) < sinusoidal_blocks,
            )
            for i in range(depth)
        )

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        window = self.window_latents
        if not self.decoder:
            if self.depth > 0:
                x = _pad_to(x, self.chunk_size if window is None else self.seg_in, -1)
            x = self.mapping(x)
        if self.depth > 0:
            x = self._transform(x.transpose(1, 2), generator)
        if self.decoder:
            x = self.mapping(x)
        return x

    def _transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        b, _, dim = x.shape
        sub = self.stride + 1
        if self.decoder:
            x = _pad_to(x, self.chunk_size // self.stride if self.window_latents is None else self.seg_in, 1)
        groups = x.shape[1] // self.seg_in
        new = self.new_tokens.to(x.dtype).expand(b * groups, self.seg_out, dim)
        if self.mask_noise > 0 and generator is not None:
            noise = torch.randn(new.shape, generator=generator, device=x.device, dtype=x.dtype)
            new = new + noise * self.mask_noise
        x = torch.cat([x.reshape(b * groups, self.seg_in, dim), new], dim=1).reshape(b, groups * sub, dim)
        if self.window_latents is not None:
            wl, wr = self.window_latents
            band = (sub, wl, wr)
            for layer in self.transformers:
                x = layer(x, band)
        else:
            chunk = self.chunk_size + self.chunk_size // self.stride
            split = self.depth // 2 if self.shift_midpoint else self.depth
            x = self._chunked(x, self.transformers[:split], chunk)
            if split < self.depth:
                shift = chunk // 2
                x = torch.cat([x[:, :shift], x, x[:, -shift:]], dim=1)
                x = self._chunked(x, self.transformers[split:], chunk)[:, shift:-shift]
        return x.reshape(b, groups, sub, dim)[:, :, -self.seg_out :].reshape(b, -1, dim).transpose(1, 2)

    @staticmethod
    def _chunked(x: Tensor, layers: nn.ModuleList, chunk: int) -> Tensor:
        """Run ``layers`` on independent chunks of ``chunk`` tokens, a slab of chunks at a time (the same
        function): a slab's activations stay small enough for cache and for the allocator's heap, where
        whole-sequence tensors of a long decode would be fresh page-faulted mappings at every step."""
        b, n, dim = x.shape
        x = x.reshape(b * (n // chunk), chunk, dim)
        per_slab = max(1, SLAB_TOKENS // chunk)
        out = x if x.shape[0] <= per_slab else torch.empty_like(x)
        for i in range(0, x.shape[0], per_slab):
            y = x[i : i + per_slab]
            for layer in layers:
                y = layer(y, None)
            if out is x:
                return y.reshape(b, n, dim)
            out[i : i + per_slab] = y
        return out.reshape(b, n, dim)


def _stage_costs(layers: list[nn.Module]) -> list[float]:
    """Relative cost of each decoder layer per input latent: a stage's transformer layers over its tokens
    (``stride + 1`` per input token) at its width squared, plus its output mapping; the rest is cheap."""
    costs: list[float] = []
    length = 1.0
    for layer in layers:
        if isinstance(layer, ResamplingStage):
            width = float(layer.new_tokens.shape[-1])
            cost = layer.depth * length * (layer.stride + 1) * width * width
            length *= layer.stride
            cost += length * sum(float(p.numel()) for p in layer.mapping.parameters())
            costs.append(max(cost, 1.0))
        else:
            costs.append(1.0)
    return costs


class _Transpose(nn.Module):
    """Placeholder keeping upstream's layer indices (a parameter-free Transpose there)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(-1, -2)


class SAMEEncoder(nn.Module):
    """Patched audio ``[B, C*P, L]`` -> latents ``[B, latent_dim, L / prod(strides)]`` (before the bottleneck)."""

    def __init__(self, cfg: SAMECoderConfig) -> None:
        super().__init__()
        dims = cfg.dims
        stages: list[nn.Module] = [
            ResamplingStage(
                dims[i], dims[i + 1], cfg.strides[i], cfg.transformer_depths[i], 0, cfg, decoder=False
            )
            for i in range(len(cfg.c_mults))
        ]
        self.layers = nn.ModuleList(
            [*stages, _Transpose(), nn.Linear(dims[-1], cfg.latent_dim), _Transpose()]
        )

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, generator) if isinstance(layer, ResamplingStage) else layer(x)
        return x


class SAMEDecoder(nn.Module):
    """Latents ``[B, latent_dim, T]`` -> patched audio ``[B, C*P, T * prod(strides)]`` (after padding T to the
    stages' chunk multiple; the caller trims)."""

    def __init__(self, cfg: SAMECoderConfig) -> None:
        super().__init__()
        dims = cfg.dims
        layers: list[nn.Module] = [_Transpose(), nn.Linear(cfg.latent_dim, dims[-1]), _Transpose()]
        for i in range(len(cfg.c_mults), 0, -1):
            layers.append(
                ResamplingStage(
                    dims[i],
                    dims[i - 1],
                    cfg.strides[i - 1],
                    cfg.transformer_depths[i - 1],
                    cfg.sinusoidal_blocks[i - 1],
                    cfg,
                    decoder=True,
                )
            )
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, generator) if isinstance(layer, ResamplingStage) else layer(x)
        return x


class SoftNormBottleneck(nn.Module):
    """Per-channel affine then division by a frozen running std (encode); the inverse scale (decode)."""

    def __init__(self, dim: int, auto_scale: bool, noise_regularize: bool) -> None:
        super().__init__()
        self.scaling_factor = nn.Parameter(torch.ones(1, dim, 1))
        self.bias = nn.Parameter(torch.zeros(1, dim, 1))
        self.noise_scaling_factor = nn.Parameter(torch.ones(1, 0, 1))  # persisted empty upstream
        self.running_std: nn.Parameter | None = (
            nn.Parameter(torch.ones(1), requires_grad=False) if auto_scale else None
        )
        self.noise_regularize = noise_regularize

    def encode(self, x: Tensor) -> Tensor:
        x = x * self.scaling_factor.to(x.dtype) + self.bias.to(x.dtype)
        return x / self.running_std.to(x.dtype) if self.running_std is not None else x

    def decode(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.running_std is not None:
            x = x * self.running_std.to(x.dtype)
        if self.noise_regularize and generator is not None:
            scale = (
                self.running_std.to(x.dtype) if self.running_std is not None else x.std(dim=-1, keepdim=True)
            )
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + noise * scale * 1e-3
        return x


class SAMEAutoencoder(nn.Module):
    """SAME-S / SAME-L: ``encode([B, 2, N]) -> [B, 256, ceil(N / 4096)]``, ``decode([B, 256, T]) -> [B, 2, T*4096]``."""

    def __init__(self, cfg: SAMEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = SAMEEncoder(cfg.encoder)
        self.decoder = SAMEDecoder(cfg.decoder)
        self.bottleneck = SoftNormBottleneck(cfg.latent_dim, cfg.auto_scale, cfg.noise_regularize)

    @property
    def downsampling_ratio(self) -> int:
        return self.cfg.downsampling_ratio

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def audio_channels(self) -> int:
        return self.cfg.audio_channels

    def encode(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Audio ``[B, C, N]`` -> float32 latents ``[B, latent_dim, ceil(N / downsampling_ratio)]`` (zero-padded at
        the end as upstream pads; latents that encode only padding are dropped). Computes in the model's dtype."""
        if audio.ndim != 3 or audio.shape[1] != self.cfg.audio_channels:
            raise ModelError(
                f"SAME encode expects audio [B, {self.cfg.audio_channels}, N], got {list(audio.shape)}"
            )
        n_lat = -(-audio.shape[-1] // self.downsampling_ratio)
        p = self.cfg.patch_size
        x = _pad_to(audio.to(self._dtype()), p, -1)
        b, c, n = x.shape
        x = (
            x.reshape(b, c, n // p, p).permute(0, 1, 3, 2).reshape(b, c * p, n // p)
        )  # "b c (l h) -> b (c h) l"
        z = self.bottleneck.encode(self.encoder(x, generator))
        return z[..., :n_lat].float()

    def _dtype(self) -> torch.dtype:
        return cast(nn.Linear, self.decoder.layers[1]).weight.dtype  # layers[1] is the latent projection

    def decode(self, latents: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Latents ``[B, latent_dim, T]`` -> float32 audio ``[B, C, T * downsampling_ratio]``. Computes in the
        model's dtype."""
        return run_steps(self.decode_steps(latents, generator))

    def decode_steps(
        self, latents: Tensor, generator: torch.Generator | None = None
    ) -> Generator[float, None, Tensor]:
        """``decode`` one decoder layer at a time, yielding the fraction done (by each stage's estimated cost:
        layers x tokens x width^2) after each; returns what ``decode`` returns."""
        if latents.ndim != 3 or latents.shape[1] != self.cfg.latent_dim:
            raise ModelError(
                f"SAME decode expects latents [B, {self.cfg.latent_dim}, T], got {list(latents.shape)}"
            )
        t = latents.shape[-1]
        x = self.bottleneck.decode(latents.to(self._dtype()), generator)
        layers = list(self.decoder.layers)
        costs = _stage_costs(layers)
        total, done = sum(costs), 0.0
        for layer, cost in zip(layers, costs, strict=True):  # SAMEDecoder.forward, step by step
            x = layer(x, generator) if isinstance(layer, ResamplingStage) else layer(x)
            done += cost
            yield min(1.0, done / total)
        b, cp, n = x.shape
        p = self.cfg.patch_size
        audio = (
            x.view(b, cp // p, p, n).permute(0, 1, 3, 2).reshape(b, cp // p, n * p)
        )  # "b (c h) l -> b c (l h)"
        audio = audio[..., : t * self.downsampling_ratio].float()
        return torch.tanh(audio) if self.cfg.soft_clip else audio

    def decode_chunked(
        self,
        latents: Tensor,
        chunk_size: int = 128,
        overlap: int = 32,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Upstream's chunked decode (``decode_audio(chunked=True)``): windows of ``chunk_size`` latents hopping
        by ``chunk_size - overlap``, the last anchored at the end, each keeping all but half the overlap on its
        inner edges. Used when the model config sets ``pretransform.chunked``."""
        return run_steps(self.decode_chunked_steps(latents, chunk_size, overlap, generator))

    def decode_chunked_steps(
        self,
        latents: Tensor,
        chunk_size: int = 128,
        overlap: int = 32,
        generator: torch.Generator | None = None,
    ) -> Generator[float, None, Tensor]:
        """``decode_chunked``, yielding the fraction done after each layer of each window."""
        if not 0 <= overlap < chunk_size:
            raise ModelError(
                f"SAME chunked decode needs 0 <= overlap < chunk_size, got {overlap}, {chunk_size}"
            )
        total = latents.shape[-1]
        if total < chunk_size:
            return (yield from self.decode_steps(latents, generator))
        r = self.downsampling_ratio
        starts = list(range(0, total - chunk_size + 1, chunk_size - overlap))
        if starts[-1] != total - chunk_size:
            starts.append(total - chunk_size)
        out = latents.new_zeros(latents.shape[0], self.cfg.audio_channels, total * r)
        half = (overlap // 2) * r
        for i, s in enumerate(starts):
            steps = self.decode_steps(latents[..., s : s + chunk_size], generator)
            while True:
                try:
                    f = next(steps)
                except StopIteration as stop:
                    piece = stop.value
                    break
                yield (i + f) / len(starts)
            last = i == len(starts) - 1
            begin = (total - chunk_size) * r if last else s * r
            left = 0 if i == 0 else half
            right = chunk_size * r if last else chunk_size * r - half
            out[..., begin + left : begin + right] = piece[..., left:right]
        return out

    def load_upstream_state_dict(self, state: dict[str, Tensor], path: str | None = None) -> None:
        """Strictly load an upstream checkpoint's autoencoder tensors (full SA3 or standalone SAME)."""
        own = autoencoder_state_dict(state)
        expected = self.state_dict()
        missing = sorted(set(expected) - set(own))
        unexpected = sorted(set(own) - set(expected))
        if missing or unexpected:
            what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
            raise ModelError(
                f"SAME autoencoder keys do not match ({len(missing)} missing, "
                f"{len(unexpected)} unexpected): {what}",
                path,
            )
        for k, v in expected.items():
            if tuple(own[k].shape) != tuple(v.shape):
                raise ModelError(
                    f"SAME tensor {k} has shape {list(own[k].shape)}, expected {list(v.shape)}", path
                )
        on_meta = any(t.is_meta for t in expected.values())
        self.load_state_dict(own, strict=True, assign=on_meta)


def count_decode_flops(cfg: SAMEConfig, n_latents: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of the matrix products of one decode of ``n_latents`` latents."""
    dec = cfg.decoder
    dims = dec.dims
    flops = 2 * n_latents * cfg.latent_dim * dims[-1]
    t = n_latents
    for i in range(len(dec.c_mults), 0, -1):
        dim, stride, depth = dims[i], dec.strides[i - 1], dec.transformer_depths[i - 1]
        heads_dim = min(dec.dim_heads, dim)
        if dec.sliding_window is None:
            t = -(-t // (dec.chunk_size // stride)) * (dec.chunk_size // stride)
            chunk = dec.chunk_size + dec.chunk_size // stride
            keys = chunk
            shifted = depth - depth // 2 if dec.chunk_midpoint_shift else 0
        else:
            keys = (dec.sliding_window[0] + 1 + dec.sliding_window[1]) * (stride + 1)
            chunk, shifted = 0, 0
        tokens = t * (stride + 1)
        pairs = 2 if dec.differential else 1
        inner = int(dim * dec.ff_mult)
        per_token = 2 * dim * dim * (5 if dec.differential else 3) + 2 * dim * dim + 2 * dim * inner * 3
        per_token += 2 * 2 * keys * heads_dim * (dim // heads_dim) * pairs  # QK^T and AV
        flops += (
            depth * tokens * per_token + shifted * chunk * per_token
        )  # the shifted pass has one chunk more
        k = 3 if dec.conv_mapping else 1
        t *= stride
        if dim != dims[i - 1]:  # equal widths map through an identity
            flops += 2 * t * dim * dims[i - 1] * k
    return flops
