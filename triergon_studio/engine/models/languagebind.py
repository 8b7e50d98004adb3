"""LanguageBind prompt encoders (Zhu et al. 2023): CLIP ViT-L/14 towers whose video and audio towers were
trained to land in the text tower's 768-d space. Preprocessing follows SPEC §5 and the public
LanguageBind processors; the checkpoints use transformers' CLIP key layout (see ``clip.py``).

Conditioning tokens. LanguageBind gives one pooled, projected, L2-normalised vector per input; the DiT
wants M tokens. Token 0 is that embedding; tokens 1..M-1 are the tower's final hidden states passed
through the same final norm and projection, L2-normalised, and average-pooled in order into M-1 groups
(text: the valid tokens up to end-of-text; video: the per-frame CLS states over time; audio: the patch
grid averaged over frequency, over time). Everything stays in the shared 768-d space; ``token_adapter``
is a learned linear map only when the conditioner's width differs from the projection width.

No weights and no tokenizer vocabulary ship with the project: ``import_languagebind`` loads a user's
checkpoints, and text needs the CLIP BPE vocabulary path (``EncoderConfig.bpe_path``).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.models.clip import (
    ClipTextConfig,
    ClipTextTower,
    ClipTokenizer,
    ClipVisionConfig,
    ClipVisionTower,
)
from triergon_studio.engine.models.encoder_config import EncoderConfig
from triergon_studio.engine.models.encoders import AUDIO_RATE
from triergon_studio.errors import ModelError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VIDEO_FRAMES = 8
IMAGE_SIZE = 224
AUDIO_SR = 16000
MEL_BINS = 126
TARGET_FRAMES = 1036
AUDIO_MEAN = -4.2677393
AUDIO_STD = 4.5689974
# SPEC §5 divides by 2 * std (the AST convention); some LanguageBind releases divide by std alone.
AUDIO_STD_SCALE = 2.0
TOWERS = ("text", "video", "audio")


# -- preprocessing -------------------------------------------------------------------------------------------


def video_pixels(frames: Tensor, n_frames: int = VIDEO_FRAMES, size: int = IMAGE_SIZE) -> Tensor:
    """[B, F, 3, H, W] in [0, 1] -> [B, 8, 3, 224, 224]: frames at int(linspace(0, F-1, 8)), short side
    224 (bilinear), centre crop, CLIP mean/std. (LanguageBind's random horizontal flip is left out.)"""
    if frames.ndim != 5 or frames.shape[2] != 3:
        raise ModelError(f"video prompt must be [batch, frames, 3, H, W], got {tuple(frames.shape)}")
    idx = torch.from_numpy(np.linspace(0, frames.shape[1] - 1, n_frames).astype(np.int64))
    x = frames[:, idx].float().flatten(0, 1)
    h, w = x.shape[-2:]
    nh, nw = (size, max(size, round(w * size / h))) if h <= w else (max(size, round(h * size / w)), size)
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[..., top : top + size, left : left + size]
    x = (x - x.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)) / x.new_tensor(CLIP_STD).view(1, 3, 1, 1)
    return x.reshape(frames.shape[0], n_frames, 3, size, size)


def _fbank(wave: Tensor) -> Tensor:
    import torchaudio

    wave = wave - wave.mean()
    return torchaudio.compliance.kaldi.fbank(
        wave[None],
        htk_compat=True,
        sample_frequency=AUDIO_SR,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=MEL_BINS,
        dither=0.0,
        frame_length=25,
        frame_shift=10,
    )  # [T, 126]


def audio_fbank(wave: Tensor, std_scale: float = AUDIO_STD_SCALE) -> Tensor:
    """[B, 2, N] at 44.1 kHz -> LanguageBind's audio "image" [B, 3, 126, 1036].

    Mono mix, resampled to 16 kHz. Shorter than 1036 frames: repeated to fill, zero padded, and the same
    fbank stacked three times. Longer: three 1036-frame chunks from the front, middle and back.
    Normalised as (fbank - mean) / (std * std_scale).
    """
    import torchaudio

    if wave.ndim != 3 or wave.shape[1] != 2:
        raise ModelError(f"reference audio must be [batch, 2, samples], got {tuple(wave.shape)}")
    mono = torchaudio.functional.resample(wave.float().mean(1), AUDIO_RATE, AUDIO_SR)
    max_len = TARGET_FRAMES * AUDIO_SR // 100
    out = []
    for x in mono:
        if x.numel() == 0:
            x = x.new_zeros(max_len)
        if x.shape[-1] > max_len:
            mel = _fbank(x)
            ranges = np.array_split(np.arange(0, mel.shape[0] - TARGET_FRAMES + 1), 3)
            starts = [int(r[0]) if len(r) else 0 for r in ranges]
            stack = torch.stack([mel[s : s + TARGET_FRAMES] for s in starts])
        else:
            if x.shape[-1] < max_len:
                x = x.repeat(max(1, max_len // x.shape[-1]))
                x = F.pad(x, (0, max_len - x.shape[-1]))
            stack = _fbank(x).expand(3, -1, -1)
        pad = TARGET_FRAMES - stack.shape[1]
        stack = F.pad(stack, (0, 0, 0, pad)) if pad > 0 else stack[:, :TARGET_FRAMES]
        out.append(stack.transpose(1, 2))
    return (torch.stack(out) - AUDIO_MEAN) / (AUDIO_STD * std_scale)


# -- the encoders --------------------------------------------------------------------------------------------


def tower_configs(cfg: EncoderConfig) -> dict[str, Any]:
    vision = ClipVisionConfig(
        width=cfg.vision_width,
        layers=cfg.vision_layers,
        heads=cfg.vision_heads,
        act=cfg.hidden_act,
        proj_dim=cfg.proj_dim,
    )
    return {
        "text": ClipTextConfig(
            width=cfg.text_width,
            layers=cfg.clip_text_layers,
            heads=cfg.text_heads,
            act=cfg.hidden_act,
            proj_dim=cfg.proj_dim,
        ),
        "video": replace(vision, time_attn=True, num_frames=VIDEO_FRAMES),
        "audio": replace(vision, image_size=(MEL_BINS, TARGET_FRAMES)),
    }


def _pool_groups(x: Tensor, groups: int) -> Tensor:
    """[B, L, D] -> [B, groups, D] by in-order average pooling (L may be shorter than groups)."""
    if groups <= 0:
        return x[:, :0]
    return F.adaptive_avg_pool1d(x.transpose(1, 2), groups).transpose(1, 2)


class LanguageBindEncoders(nn.Module):
    """Text, video and audio towers with LanguageBind's preprocessing, behind the PromptEncoder interface."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d, self.num_tokens = cfg.d, cfg.num_tokens
        towers = tower_configs(cfg)
        self.text = ClipTextTower(towers["text"])
        self.video = ClipVisionTower(towers["video"])
        self.audio = ClipVisionTower(towers["audio"])
        self.token_adapter: nn.Module = (
            nn.Identity() if cfg.proj_dim == cfg.d else nn.Linear(cfg.proj_dim, cfg.d)
        )
        self.loaded: set[str] = set()  # towers that hold imported weights
        self.require_loaded = False  # set by the importer: an unloaded tower then refuses to run
        self._tokenizer: ClipTokenizer | None = None

    @property
    def device(self) -> torch.device:
        return self.text.text_projection.weight.device

    def _check(self, tower: str) -> None:
        if self.require_loaded and tower not in self.loaded:
            raise ModelError(
                f"no LanguageBind {tower} checkpoint was imported; the {tower} prompt is unavailable"
            )

    def _tokens(self, embed: Tensor, states: Tensor) -> Tensor:
        parts = [embed[:, None], F.normalize(_pool_groups(states, self.num_tokens - 1), dim=-1)]
        return self.token_adapter(torch.cat(parts, dim=1))

    # -- text
    @property
    def tokenizer(self) -> ClipTokenizer:
        if self._tokenizer is None:
            self._tokenizer = ClipTokenizer(self.cfg.bpe_path, self.text.cfg.context)
        return self._tokenizer

    def _text(self, ids: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check("text")
        hidden, pooled = self.text.text_model(
            ids.to(self.device), None if mask is None else mask.to(self.device)
        )
        embed = F.normalize(self.text.text_projection(pooled), dim=-1)
        return embed, hidden

    def encode_text_ids(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        embed, hidden = self._text(ids, attention_mask)
        states = self.text.text_projection(hidden)
        ends = self.text.text_model.eos_positions(ids.to(self.device))
        rows = [
            self._tokens(embed[i : i + 1], states[i : i + 1, : int(ends[i]) + 1]) for i in range(ids.shape[0])
        ]
        return torch.cat(rows)

    def embed_text_ids(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self._text(ids, attention_mask)[0]

    def encode_text(self, texts: list[str]) -> Tensor:
        return self.encode_text_ids(*self.tokenizer(list(texts), self.device))

    def embed_text(self, texts: list[str]) -> Tensor:
        return self.embed_text_ids(*self.tokenizer(list(texts), self.device))

    # -- video
    def _video(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        self._check("video")
        px = video_pixels(frames).to(self.device, self.video.visual_projection.weight.dtype)
        hidden, pooled = self.video.vision_model(px)
        embed = F.normalize(self.video.visual_projection(pooled), dim=-1)
        cls = self.video.vision_model.post_layernorm(hidden[:, 0]).reshape(px.shape[0], px.shape[1], -1)
        return embed, self.video.visual_projection(cls)

    def encode_video(self, frames: Tensor) -> Tensor:
        return self._tokens(*self._video(frames))

    def embed_video(self, frames: Tensor) -> Tensor:
        return self._video(frames)[0]

    # -- audio
    def _audio(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        self._check("audio")
        px = audio_fbank(wave).to(self.device, self.audio.visual_projection.weight.dtype)
        hidden, pooled = self.audio.vision_model(px)
        embed = F.normalize(self.audio.visual_projection(pooled), dim=-1)
        gh, gw = self.audio.cfg.grid
        grid = self.audio.vision_model.post_layernorm(hidden[:, 1:]).reshape(px.shape[0], gh, gw, -1)
        return embed, self.audio.visual_projection(grid.mean(1))  # over frequency -> [B, time, D]

    def encode_audio(self, wave: Tensor) -> Tensor:
        return self._tokens(*self._audio(wave))

    def embed_audio(self, wave: Tensor) -> Tensor:
        return self._audio(wave)[0]


# -- checkpoint import ---------------------------------------------------------------------------------------

_PEFT = re.compile(r"\.base_model\.model\.")


def merge_peft_lora(state_dict: dict[str, Tensor], lora_scale: float = 1.0) -> dict[str, Tensor]:
    """Undo a peft wrapper (``encoder.base_model.model.layers...``, ``.base_layer``) and fold any LoRA pair
    into its weight: W + scale * B @ A (LanguageBind's alpha/r is 16/16 = 1)."""
    out: dict[str, Tensor] = {}
    lora: dict[str, dict[str, Tensor]] = {}
    for key, val in state_dict.items():
        k = _PEFT.sub(".", key).replace(".base_layer.", ".")
        m = re.match(r"^(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$", k)
        if m:
            lora.setdefault(m.group(1), {})[m.group(2)] = val
            continue
        out[k] = val
    for prefix, pair in lora.items():
        if set(pair) != {"A", "B"} or f"{prefix}.weight" not in out:
            raise ModelError(f"incomplete LoRA weights for {prefix}")
        w = out[f"{prefix}.weight"]
        out[f"{prefix}.weight"] = (w.float() + lora_scale * pair["B"].float() @ pair["A"].float()).to(w.dtype)
    return out


def _checkpoint_file(path: Path) -> Path:
    if path.is_file():
        return path
    for name in ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt"):
        if (path / name).is_file():
            return path / name
    raise ModelError(
        "no LanguageBind checkpoint found (expected model.safetensors or pytorch_model.bin)", path
    )


def config_from_checkpoint_folder(path: Path, base: EncoderConfig) -> EncoderConfig:
    """Read tower sizes from a LanguageBind folder's config.json, if there is one."""
    cfg_file = (path if path.is_dir() else path.parent) / "config.json"
    if not cfg_file.is_file():
        return base
    try:
        data = json.loads(cfg_file.read_text(encoding="utf-8"))
        vis, txt = data.get("vision_config", {}), data.get("text_config", {})
        return replace(
            base,
            vision_width=int(vis.get("hidden_size", base.vision_width)),
            vision_layers=int(vis.get("num_hidden_layers", base.vision_layers)),
            vision_heads=int(vis.get("num_attention_heads", base.vision_heads)),
            text_width=int(txt.get("hidden_size", base.text_width)),
            clip_text_layers=int(txt.get("num_hidden_layers", base.clip_text_layers)),
            text_heads=int(txt.get("num_attention_heads", base.text_heads)),
            proj_dim=int(data.get("projection_dim", base.proj_dim)),
            hidden_act=str(vis.get("hidden_act", base.hidden_act)),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"unreadable LanguageBind config.json ({exc})", cfg_file) from exc


def _split(state_dict: dict[str, Tensor], prefix: str, proj: str) -> dict[str, Tensor]:
    sub = {k: v for k, v in state_dict.items() if k.startswith(prefix + ".") or k == proj + ".weight"}
    return {k: v for k, v in sub.items() if not k.endswith("position_ids")}


def load_tower(
    model: LanguageBindEncoders,
    tower: str,
    state_dict: dict[str, Tensor],
    source: str | Path,
    lora_scale: float = 1.0,
) -> None:
    """Load one tower ("text", "video" or "audio") from a LanguageBind state dict, strictly."""
    from triergon_studio.engine.checkpoint_io import load_state_dict_checked

    sd = merge_peft_lora(state_dict, lora_scale)
    if tower == "text":
        part = _split(sd, "text_model", "text_projection")
    else:
        part = _split(sd, "vision_model", "visual_projection")
    if not part:
        raise ModelError(f"no {tower} tower weights in the checkpoint", source)
    load_state_dict_checked(getattr(model, tower), part, source)
    model.loaded.add(tower)


def import_languagebind(
    video: str | Path | None = None,
    audio: str | Path | None = None,
    *,
    text_from: str = "video",
    bpe_path: str | Path | None = None,
    cfg: EncoderConfig | None = None,
    lora_scale: float = 1.0,
) -> LanguageBindEncoders:
    """Build LanguageBind encoders from the user's LanguageBind_Video(_FT) and/or LanguageBind_Audio(_FT)
    checkpoints (folders or files). The text tower comes from ``text_from`` ("video" or "audio")."""
    from triergon_studio.engine.checkpoint_io import read_state_dict

    paths = {k: Path(v) for k, v in (("video", video), ("audio", audio)) if v is not None}
    if not paths:
        raise ModelError("import_languagebind needs a video and/or an audio checkpoint")
    base = cfg or EncoderConfig.from_dict({"kind": "languagebind", "preset": "full"})
    base = config_from_checkpoint_folder(next(iter(paths.values())), base)
    if bpe_path is not None:
        base = replace(base, bpe_path=str(bpe_path))
    model = LanguageBindEncoders(base)
    text_source = text_from if text_from in paths else next(iter(paths))
    for tower, path in paths.items():
        file = _checkpoint_file(path)
        sd = read_state_dict(file)
        load_tower(model, tower, sd, file, lora_scale)
        if tower == text_source:
            load_tower(model, "text", sd, file, lora_scale)
    model.require_loaded = True
    return model.eval()
