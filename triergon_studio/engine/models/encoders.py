"""Prompt encoders: text, reference audio or video in, M tokens of d out (the paper's e_L, e_A, e_V).

One interface (``PromptEncoder``) with two implementations:

- ``SmallPromptEncoders`` (this file): the bundled model's encoders, trained in the project and aligned to
  one language-centred space (the training code pulls audio and video embeddings towards the text
  embedding of the same clip, as LanguageBind does). Text uses a deterministic byte tokenizer with hashed
  word ids (no downloaded vocabulary), audio uses log-mel features, video uses sampled frames.
- ``LanguageBindEncoders`` (``languagebind.py``): CLIP ViT-L/14-shaped towers that load LanguageBind
  checkpoints.

``EncoderConfig`` lives in ``encoder_config.py`` and ``build_prompt_encoders`` in ``encoder_factory.py`` (so
this file and ``languagebind.py`` do not import each other).

``encode_*`` return the conditioning tokens [B, M, d]; ``embed_*`` return the pooled, L2-normalised
embedding [B, d] used for contrastive alignment.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.models.encoder_config import EncoderConfig
from triergon_studio.errors import ModelError

AUDIO_RATE = 44100
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@runtime_checkable
class PromptEncoder(Protocol):
    d: int
    num_tokens: int

    def encode_text(self, texts: list[str]) -> Tensor: ...
    def encode_audio(self, wave: Tensor) -> Tensor: ...
    def encode_video(self, frames: Tensor) -> Tensor: ...
    def embed_text(self, texts: list[str]) -> Tensor: ...
    def embed_audio(self, wave: Tensor) -> Tensor: ...
    def embed_video(self, frames: Tensor) -> Tensor: ...


# -- text tokenizer ------------------------------------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2
_BYTE_OFFSET = 3


def _fnv1a(word: bytes) -> int:
    """32-bit FNV-1a: a fixed hash (Python's ``hash`` is salted per process)."""
    h = 0x811C9DC5
    for b in word:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


class ByteTokenizer:
    """Deterministic tokenizer: NFKC-normalised, case-folded UTF-8 bytes plus a hashed id of the word each
    byte belongs to (so a small model sees words without a learned vocabulary)."""

    vocab_size = 256 + _BYTE_OFFSET

    def __init__(self, max_len: int = 128, word_buckets: int = 4096) -> None:
        self.max_len, self.word_buckets = max_len, word_buckets

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        clean = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
        data = clean.encode("utf-8")[: self.max_len - 2]
        ids = [BOS] + [b + _BYTE_OFFSET for b in data] + [EOS]
        words: list[int] = [0]
        for word in data.split(b" ") if data else []:
            wid = 1 + _fnv1a(word) % (self.word_buckets - 1)
            words += [wid] * len(word) + [0]  # the space (or end) after each word gets bucket 0
        words = words[: len(ids) - 1] + [0]
        return ids, words

    def __call__(self, texts: list[str], device: Any = "cpu") -> tuple[Tensor, Tensor, Tensor]:
        """-> (byte ids [B, L], word ids [B, L], padding mask [B, L] True at padding)."""
        enc = [self.encode(t) for t in texts]
        n = max((len(i) for i, _ in enc), default=2)
        ids = torch.full((len(texts), n), PAD, dtype=torch.long)
        words = torch.zeros((len(texts), n), dtype=torch.long)
        for row, (i, w) in enumerate(enc):
            ids[row, : len(i)] = torch.tensor(i)
            words[row, : len(w)] = torch.tensor(w)
        return ids.to(device), words.to(device), (ids == PAD).to(device)


# -- building blocks -----------------------------------------------------------------------------------------


def _encoder_stack(width: int, heads: int, layers: int) -> nn.ModuleList:
    return nn.ModuleList(
        nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        for _ in range(layers)
    )


def sinusoidal(n: int, dim: int, device: Any = None) -> Tensor:
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class TokenHead(nn.Module):
    """M learned queries attend over a sequence -> [B, M, d] tokens; their mean, normalised, is the
    contrastive embedding, so aligning embeddings also aligns the tokens the DiT sees."""

    def __init__(self, width: int, heads: int, num_tokens: int, d: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_tokens, width) * width**-0.5)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, d)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        q = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        out, _ = self.attn(q, x, x, key_padding_mask=padding_mask, need_weights=False)
        return self.proj(self.norm(out + q))


def _conv_stack(c_in: int, channels: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
        c_in = c
    return nn.Sequential(*layers)


class LogMel(nn.Module):
    """Stereo log-mel features [B, 2, n_mels, T] at 10 ms hops; the filters are not saved in checkpoints."""

    window: Tensor  # registered buffers
    fb: Tensor

    def __init__(self, sample_rate: int, n_mels: int) -> None:
        super().__init__()
        import torchaudio

        self.sample_rate, self.n_fft, self.hop = sample_rate, 512, sample_rate // 100
        win = round(0.025 * sample_rate)
        target = torch.empty(0).device  # the ambient device: "meta" when a large model is only counted
        with torch.device("cpu"):  # the filter design needs real tensors
            fb = torchaudio.functional.melscale_fbanks(
                self.n_fft // 2 + 1,
                20.0,
                sample_rate / 2,
                n_mels,
                sample_rate,
                norm="slaney",
                mel_scale="slaney",
            )
            window = torch.hann_window(win)
        self.register_buffer("window", window.to(target), persistent=False)
        self.register_buffer("fb", fb.to(target), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        b, c, n = wave.shape
        win = self.window.shape[0]
        spec = (
            torch.stft(
                wave.reshape(b * c, n).float(),
                self.n_fft,
                self.hop,
                win,
                self.window.float(),
                center=True,
                return_complex=True,
            ).abs()
            ** 2
        )
        mel = torch.einsum("bft,fm->bmt", spec, self.fb.float())
        # log compresses the range; the fixed offset/scale put typical program material near [-1, 1]
        return ((torch.log(mel + 1e-6) + 7.0) / 5.0).reshape(b, c, -1, mel.shape[-1])


class SmallPromptEncoders(nn.Module):
    """The bundled model's text, audio and video encoders."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d, self.num_tokens = cfg.d, cfg.num_tokens
        w, h = cfg.width, cfg.heads
        self.tokenizer = ByteTokenizer(cfg.text_max_len, cfg.word_buckets)
        # text
        self.byte_embed = nn.Embedding(ByteTokenizer.vocab_size, w)
        self.word_embed = nn.Embedding(cfg.word_buckets, w)
        self.text_pos = nn.Parameter(torch.randn(cfg.text_max_len, w) * 0.02)
        self.text_layers = _encoder_stack(w, h, cfg.text_layers)
        self.text_head = TokenHead(w, h, cfg.num_tokens, cfg.d)
        # audio
        self.mel = LogMel(cfg.audio_sample_rate, cfg.n_mels)
        self.audio_conv = _conv_stack(2, cfg.audio_channels)
        freq = cfg.n_mels
        for _ in cfg.audio_channels:
            freq = (freq + 1) // 2
        self.audio_in = nn.Linear(cfg.audio_channels[-1] * freq, w)
        self.audio_layers = _encoder_stack(w, h, cfg.audio_layers)
        self.audio_head = TokenHead(w, h, cfg.num_tokens, cfg.d)
        # video
        self.frame_conv = _conv_stack(3, cfg.frame_channels)
        self.frame_in = nn.Linear(cfg.frame_channels[-1], w)
        self.video_pos = nn.Parameter(torch.randn(cfg.video_frames, w) * 0.02)
        self.video_layers = _encoder_stack(w, h, cfg.video_layers)
        self.video_head = TokenHead(w, h, cfg.num_tokens, cfg.d)

    @property
    def device(self) -> torch.device:
        return self.byte_embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.byte_embed.weight.dtype

    # -- text
    def encode_text(self, texts: list[str]) -> Tensor:
        ids, words, pad = self.tokenizer(list(texts), self.device)
        x = self.byte_embed(ids) + self.word_embed(words) + self.text_pos[: ids.shape[1]]
        for layer in self.text_layers:
            x = layer(x, src_key_padding_mask=pad)
        return self.text_head(x, pad)

    # -- audio
    def audio_features(self, wave: Tensor) -> Tensor:
        """[B, 2, N] at 44.1 kHz -> stereo log-mel [B, 2, n_mels, T] (the first ``max_audio_s`` seconds)."""
        import torchaudio

        if wave.ndim != 3 or wave.shape[1] != 2:
            raise ModelError(f"reference audio must be [batch, 2, samples], got {tuple(wave.shape)}")
        wave = wave[..., : round(self.cfg.max_audio_s * AUDIO_RATE)].to(self.device, torch.float32)
        x = torchaudio.functional.resample(wave, AUDIO_RATE, self.cfg.audio_sample_rate)
        min_len = self.cfg.audio_sample_rate // 10  # 100 ms: enough frames for the strided convs
        if x.shape[-1] < min_len:
            x = F.pad(x, (0, min_len - x.shape[-1]))
        return self.mel(x)

    def encode_audio(self, wave: Tensor) -> Tensor:
        feats = self.audio_conv(self.audio_features(wave).to(self.dtype))  # [B, C, F', T']
        x = self.audio_in(feats.permute(0, 3, 1, 2).flatten(2))
        x = x + sinusoidal(x.shape[1], x.shape[2], x.device).to(x.dtype)
        for layer in self.audio_layers:
            x = layer(x)
        return self.audio_head(x)

    # -- video
    def sample_video_frames(self, frames: Tensor) -> Tensor:
        """[B, F, 3, H, W] in [0, 1] -> ``video_frames`` frames at linspace(0, F-1), resized and normalised."""
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ModelError(f"video prompt must be [batch, frames, 3, H, W], got {tuple(frames.shape)}")
        b, n = frames.shape[:2]
        idx = torch.linspace(0, n - 1, self.cfg.video_frames).round().long()
        x = frames[:, idx].to(self.device, torch.float32).flatten(0, 1)
        s = self.cfg.frame_size
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return ((x - mean) / std).reshape(b, self.cfg.video_frames, 3, s, s)

    def encode_video(self, frames: Tensor) -> Tensor:
        x = self.sample_video_frames(frames).to(self.dtype)
        b, t = x.shape[:2]
        feats = self.frame_in(self.frame_conv(x.flatten(0, 1)).mean(dim=(2, 3))).reshape(b, t, -1)
        feats = feats + self.video_pos[:t]
        for layer in self.video_layers:
            feats = layer(feats)
        return self.video_head(feats)

    # -- pooled, normalised embeddings for contrastive alignment
    def embed_text(self, texts: list[str]) -> Tensor:
        return F.normalize(self.encode_text(texts).mean(1), dim=-1)

    def embed_audio(self, wave: Tensor) -> Tensor:
        return F.normalize(self.encode_audio(wave).mean(1), dim=-1)

    def embed_video(self, frames: Tensor) -> Tensor:
        return F.normalize(self.encode_video(frames).mean(1), dim=-1)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
