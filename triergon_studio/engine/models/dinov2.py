"""DINOv2 vision transformers (Oquab et al. 2023; Darcet et al. 2024 for registers), for T_LUFS features.

The module tree follows the hub checkpoints (``dinov2_vits14_pretrain.pth``) key for key, so those load
strictly; the transformers ``Dinov2Model`` layout is converted on import (SPEC §4). Input images are
ImageNet-normalised ([B, 3, H, W], H and W multiples of 14); the output is the final-normed CLS token.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.engine.models.dinov2_config import DINOV2_PRESETS, DinoV2Config
from triergon_studio.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERP_OFFSET = 0.1  # the hub's historical offset in the position-embedding scale factor


class PatchEmbed(nn.Module):
    def __init__(self, cfg: DinoV2Config) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: DinoV2Config) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.attn = Attention(d, cfg.num_heads)
        self.ls1 = LayerScale(d)
        self.norm2 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))
        self.ls2 = LayerScale(d)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2(nn.Module):
    """A DINOv2 ViT. ``forward`` returns the normed CLS token [B, D]."""

    def __init__(self, cfg: DinoV2Config) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))  # used by iBOT training only; kept for loading
        if cfg.num_registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_registers, d))
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=cfg.ln_eps)
        if self.cls_token.device.type != "meta":
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.normal_(self.cls_token, std=1e-6)
            if cfg.num_registers:
                nn.init.normal_(self.register_tokens, std=1e-6)

    def interpolate_pos_encoding(self, h: int, w: int) -> Tensor:
        """Position embedding for an h x w pixel input: bicubic over the 37x37 grid, hub-compatible."""
        n = self.pos_embed.shape[1] - 1
        h0, w0 = h // self.cfg.patch_size, w // self.cfg.patch_size
        if h0 * w0 == n and h0 == w0:
            return self.pos_embed
        m = int(math.isqrt(n))
        pos = self.pos_embed.float()
        patch = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        scale = ((h0 + _INTERP_OFFSET) / m, (w0 + _INTERP_OFFSET) / m)
        patch = F.interpolate(patch, scale_factor=scale, mode="bicubic", antialias=False)
        if patch.shape[-2:] != (h0, w0):
            raise ModelError(
                f"position embedding interpolation gave {tuple(patch.shape[-2:])}, want {(h0, w0)}"
            )
        patch = patch.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)
        return torch.cat([pos[:, :1], patch], dim=1).to(self.pos_embed.dtype)

    def tokens(self, images: Tensor) -> Tensor:
        """All final-normed tokens [B, 1 + registers + patches, D]."""
        b, _, h, w = images.shape
        p = self.cfg.patch_size
        if h % p or w % p:
            raise ModelError(f"DINOv2 input {h}x{w} is not a multiple of the {p}-pixel patch")
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        x = x + self.interpolate_pos_encoding(h, w)
        if self.cfg.num_registers:
            x = torch.cat([x[:, :1], self.register_tokens.expand(b, -1, -1), x[:, 1:]], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_features(self, images: Tensor) -> dict[str, Tensor]:
        x = self.tokens(images)
        r = self.cfg.num_registers
        return {"cls": x[:, 0], "registers": x[:, 1 : 1 + r], "patch_tokens": x[:, 1 + r :]}

    def forward(self, images: Tensor, return_patch_tokens: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        feats = self.forward_features(images)
        return (feats["cls"], feats["patch_tokens"]) if return_patch_tokens else feats["cls"]


def imagenet_normalize(images: Tensor) -> Tensor:
    """[B, 3, H, W] in [0, 1] -> ImageNet-normalised."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def to_float_frames(frames: Tensor) -> Tensor:
    """uint8 [F, H, W, 3] -> float [F, 3, H, W] in [0, 1]; float [F, 3, H, W] passes through."""
    if frames.dtype == torch.uint8:
        return frames.permute(0, 3, 1, 2).float() / 255.0
    return frames.float()


def preprocess_frames(frames: Tensor, size: int = 224, crop: bool = True, multiple: int = 14) -> Tensor:
    """Frames (uint8 [F, H, W, 3] or [F, 3, H, W] in [0, 1]) -> ImageNet-normalised model input.

    ``crop=True``: short side ``size`` then a centre ``size`` x ``size`` crop. ``crop=False`` keeps the
    whole picture (left/right edges matter for stereo): short side ``size``, the long side rounded to a
    multiple of ``multiple``.
    """
    frames = to_float_frames(frames)
    h, w = frames.shape[-2:]
    scale = size / min(h, w)
    if crop:
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    else:
        nh = max(multiple, round(h * scale / multiple) * multiple)
        nw = max(multiple, round(w * scale / multiple) * multiple)
    x = frames
    if (nh, nw) != (h, w):
        x = F.interpolate(frames, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(
            0, 1
        )
    if crop:
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[:, :, top : top + size, left : left + size]
    return imagenet_normalize(x)


@torch.no_grad()
def frame_features(model: DinoV2, frames: Tensor, batch_size: int = 16, size: int = 224) -> Tensor:
    """Per-frame CLS features [F, D] for frames [F, 3, H, W] in [0, 1] or uint8 [F, H, W, 3]."""
    dev = next(model.parameters()).device
    out = [
        model(preprocess_frames(frames[i : i + batch_size], size).to(dev))
        for i in range(0, frames.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0, model.cfg.embed_dim)


# -- checkpoint layouts ------------------------------------------------------------------------------------

_HF_RENAMES = (
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.mask_token$", "mask_token"),
    (r"^embeddings\.register_tokens$", "register_tokens"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.norm([12])\.", r"blocks.\1.norm\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.o_proj\.", r"blocks.\1.attn.proj."),  # newer transformers
    (r"^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$", r"blocks.\1.ls\2.gamma"),
    (r"^encoder\.layer\.(\d+)\.mlp\.fc([12])\.", r"blocks.\1.mlp.fc\2."),
    (r"^layernorm\.", "norm."),
)
_HF_QKV = re.compile(
    r"^encoder\.layer\.(\d+)\.attention\.(?:attention\.)?(query|key|value|q_proj|k_proj|v_proj)"
    r"\.(weight|bias)$"
)
_QKV_NAME = {"q_proj": "query", "k_proj": "key", "v_proj": "value"}


def is_hf_layout(state_dict: dict[str, Tensor]) -> bool:
    return any(k.startswith(("embeddings.", "dinov2.embeddings.")) for k in state_dict)


def hf_to_hub_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers ``Dinov2Model`` keys -> hub keys; query/key/value rows are stacked into qkv."""
    sd = {k.removeprefix("dinov2."): v for k, v in state_dict.items() if not k.startswith("classifier.")}
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, val in sd.items():
        m = _HF_QKV.match(key)
        if m:
            part = _QKV_NAME.get(m.group(2), m.group(2))
            qkv.setdefault((m.group(1), m.group(3)), {})[part] = val
            continue
        new = key
        for pat, rep in _HF_RENAMES:
            new, n = re.subn(pat, rep, new)
            if n:
                break
        out[new] = val
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise ModelError(f"layer {layer} has only {sorted(parts)} of query/key/value {kind}")
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


def hub_to_hf_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Hub keys -> transformers ``Dinov2Model`` keys (qkv split by rows); the inverse of the above."""
    out: dict[str, Tensor] = {}
    fixed = {
        "cls_token": "embeddings.cls_token",
        "mask_token": "embeddings.mask_token",
        "register_tokens": "embeddings.register_tokens",
        "pos_embed": "embeddings.position_embeddings",
    }
    for key, val in state_dict.items():
        if key in fixed:
            out[fixed[key]] = val
            continue
        m = re.match(r"^blocks\.(\d+)\.(.+)$", key)
        if m is None:
            new = key.replace("patch_embed.proj.", "embeddings.patch_embeddings.projection.")
            out[re.sub(r"^norm\.", "layernorm.", new)] = val
            continue
        i, rest = m.groups()
        pre = f"encoder.layer.{i}."
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for name, part in zip(("query", "key", "value"), val.chunk(3, dim=0), strict=True):
                out[f"{pre}attention.attention.{name}.{kind}"] = part.clone()
            continue
        rest = re.sub(r"^attn\.proj\.", "attention.output.dense.", rest)
        rest = re.sub(r"^ls([12])\.gamma$", r"layer_scale\1.lambda1", rest)
        out[pre + rest] = val
    return out


def infer_dinov2_config(state_dict: dict[str, Tensor], source: str | Path = "checkpoint") -> DinoV2Config:
    """Read width, depth, registers and image size from a hub-layout state dict's shapes."""
    if "cls_token" not in state_dict or "pos_embed" not in state_dict:
        raise ModelError("not a DINOv2 checkpoint (no cls_token/pos_embed)", source)
    d = int(state_dict["cls_token"].shape[-1])
    depth = 1 + max(
        (int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1
    )
    if depth == 0:
        raise ModelError("DINOv2 checkpoint has no transformer blocks", source)
    patch = (
        int(state_dict["patch_embed.proj.weight"].shape[-1])
        if "patch_embed.proj.weight" in state_dict
        else 14
    )
    grid = math.isqrt(int(state_dict["pos_embed"].shape[1]) - 1)
    regs = int(state_dict["register_tokens"].shape[1]) if "register_tokens" in state_dict else 0
    hidden = (
        int(state_dict["blocks.0.mlp.fc1.weight"].shape[0])
        if "blocks.0.mlp.fc1.weight" in state_dict
        else 4 * d
    )
    # Every released DINOv2 uses 64-dim heads.
    return DinoV2Config(
        d,
        depth,
        max(1, d // 64),
        regs,
        patch,
        grid * patch,
        hidden / d,
        name=f"dinov2-d{d}x{depth}" + ("-reg" if regs else ""),
    )


def load_dinov2_state_dict(
    state_dict: dict[str, Tensor], source: str | Path = "checkpoint", cfg: DinoV2Config | None = None
) -> DinoV2:
    """Build a DinoV2 from a hub- or transformers-layout state dict (layout detected from the keys)."""
    from triergon_studio.engine.checkpoint_io import load_state_dict_checked

    sd = hf_to_hub_state_dict(state_dict) if is_hf_layout(state_dict) else dict(state_dict)
    cfg = cfg or infer_dinov2_config(sd, source)
    model = DinoV2(cfg)
    load_state_dict_checked(model, sd, source)
    return model.eval()


def load_dinov2(path: str | Path, cfg: DinoV2Config | None = None) -> DinoV2:
    """Load ``dinov2_vit*14*_pretrain.pth`` or a transformers ``Dinov2Model`` ``.safetensors``/``.bin``."""
    from triergon_studio.engine.checkpoint_io import read_state_dict

    return load_dinov2_state_dict(read_state_dict(path), path, cfg)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_dinov2(name_or_cfg: str | DinoV2Config, device: Any = "cpu") -> DinoV2:
    cfg = DINOV2_PRESETS[name_or_cfg] if isinstance(name_or_cfg, str) else name_or_cfg
    with torch.device(device):
        return DinoV2(cfg)
