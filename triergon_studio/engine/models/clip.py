"""CLIP towers in the key layout of transformers' ``CLIPModel`` (as LanguageBind checkpoints use it), and
the CLIP byte-pair tokenizer, which needs a user-supplied vocabulary.

Vision: ``vision_model.{embeddings.{class_embedding, patch_embedding, position_embedding}, pre_layrnorm,
encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.{fc1,fc2}, layer_norm2}, post_layernorm}``
and ``visual_projection``. LanguageBind's video tower adds per-layer temporal attention
(``temporal_embedding``, ``temporal_attn``, ``temporal_layer_norm1``). Text: ``text_model.{embeddings.
{token_embedding, position_embedding}, encoder.layers..., final_layer_norm}`` and ``text_projection``.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.errors import ModelError


@dataclass(frozen=True)
class ClipVisionConfig:
    width: int = 1024
    layers: int = 24
    heads: int = 16
    patch: int = 14
    image_size: tuple[int, int] = (224, 224)  # (height, width); LanguageBind audio uses (126, 1036)
    mlp_ratio: float = 4.0
    act: str = "gelu"
    eps: float = 1e-5
    proj_dim: int = 768
    time_attn: bool = False  # LanguageBind video: temporal attention in every layer
    time_mlp: bool = False
    num_frames: int = 8

    @property
    def grid(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch, self.image_size[1] // self.patch


@dataclass(frozen=True)
class ClipTextConfig:
    vocab_size: int = 49408
    context: int = 77
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    act: str = "gelu"
    eps: float = 1e-5
    proj_dim: int = 768
    eos_token_id: int = 49407


def _activation(name: str) -> nn.Module:
    if name == "gelu":
        return nn.GELU()
    if name == "quick_gelu":
        return QuickGELU()
    raise ModelError(f"unsupported CLIP activation {name!r} (gelu or quick_gelu)")


class QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ClipAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.v_proj, self.out_proj = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, d = x.shape

        def split(t: Tensor) -> Tensor:
            return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)), attn_mask=mask
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class ClipMLP(nn.Module):
    def __init__(self, width: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.act = _activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ClipLayer(nn.Module):
    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float,
        act: str,
        eps: float,
        time_attn: bool = False,
        time_mlp: bool = False,
        num_frames: int = 8,
    ) -> None:
        super().__init__()
        self.self_attn = ClipAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.mlp = ClipMLP(width, int(width * mlp_ratio), act)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.time_attn, self.time_mlp = time_attn, time_attn and time_mlp
        if time_attn:
            self.temporal_embedding = nn.Parameter(torch.randn(1, num_frames, width) * width**-0.5)
            self.temporal_attn = ClipAttention(width, heads)
            self.temporal_layer_norm1 = nn.LayerNorm(width, eps=eps)
            if time_mlp:
                self.temporal_mlp = ClipMLP(width, int(width * mlp_ratio), act)
                self.temporal_layer_norm2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x: Tensor, mask: Tensor | None = None, frames: int = 1) -> Tensor:
        if self.time_attn:
            bt, n, d = x.shape
            b = bt // frames

            def to_time(t: Tensor) -> Tensor:  # [(b t), n, d] -> [(b n), t, d]
                return t.reshape(b, frames, n, d).transpose(1, 2).reshape(b * n, frames, d)

            def from_time(t: Tensor) -> Tensor:
                return t.reshape(b, n, frames, d).transpose(1, 2).reshape(bt, n, d)

            xt = to_time(x)
            if frames != 1:
                xt = xt + self.temporal_embedding[:, :frames]
            xt = xt + self.temporal_attn(self.temporal_layer_norm1(xt))
            if self.time_mlp:
                xt = xt + self.temporal_mlp(self.temporal_layer_norm2(xt))
            x = from_time(xt)
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEncoder(nn.Module):
    def __init__(self, layers: list[ClipLayer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, mask: Tensor | None = None, frames: int = 1) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask, frames)
        return x


class VisionEmbeddings(nn.Module):
    def __init__(self, cfg: ClipVisionConfig) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.patch_embedding = nn.Conv2d(3, cfg.width, cfg.patch, stride=cfg.patch, bias=False)
        gh, gw = cfg.grid
        self.position_embedding = nn.Embedding(gh * gw + 1, cfg.width)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        if x.shape[1] + 1 != self.position_embedding.num_embeddings:
            raise ModelError(
                f"CLIP vision input {tuple(pixels.shape[-2:])} gives {x.shape[1]} patches, the "
                f"tower expects {self.position_embedding.num_embeddings - 1}"
            )
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], dim=1) + self.position_embedding.weight


class ClipVisionTransformer(nn.Module):
    def __init__(self, cfg: ClipVisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = VisionEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg.width, eps=cfg.eps)  # sic: the transformers key name
        self.encoder = ClipEncoder(
            [
                ClipLayer(
                    cfg.width,
                    cfg.heads,
                    cfg.mlp_ratio,
                    cfg.act,
                    cfg.eps,
                    cfg.time_attn,
                    cfg.time_mlp,
                    cfg.num_frames,
                )
                for _ in range(cfg.layers)
            ]
        )
        self.post_layernorm = nn.LayerNorm(cfg.width, eps=cfg.eps)

    def forward(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """[B, 3, H, W] or video [B, T, 3, H, W] -> (last hidden [B*T, N, D], pooled [B, D]).

        The pooled output is the post-normed CLS token, averaged over the T frames (LanguageBind)."""
        frames = 1
        if pixels.ndim == 5:
            frames = pixels.shape[1]
            pixels = pixels.flatten(0, 1)
        x = self.pre_layrnorm(self.embeddings(pixels))
        x = self.encoder(x, None, frames)
        pooled = self.post_layernorm(x[:, 0]).reshape(-1, frames, x.shape[-1]).mean(1)
        return x, pooled


class ClipVisionTower(nn.Module):
    def __init__(self, cfg: ClipVisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision_model = ClipVisionTransformer(cfg)
        self.visual_projection = nn.Linear(cfg.width, cfg.proj_dim, bias=False)


class TextEmbeddings(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.position_embedding = nn.Embedding(cfg.context, cfg.width)

    def forward(self, ids: Tensor) -> Tensor:
        return self.token_embedding(ids) + self.position_embedding.weight[: ids.shape[1]]


class ClipTextTransformer(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = TextEmbeddings(cfg)
        self.encoder = ClipEncoder(
            [ClipLayer(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.act, cfg.eps) for _ in range(cfg.layers)]
        )
        self.final_layer_norm = nn.LayerNorm(cfg.width, eps=cfg.eps)

    def eos_positions(self, ids: Tensor) -> Tensor:
        """Index of the first end-of-text token (CLIP pools there); argmax of the ids if there is none."""
        is_eos = ids == self.cfg.eos_token_id
        return torch.where(is_eos.any(1), is_eos.int().argmax(1), ids.argmax(1))

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Token ids [B, L] -> (final-normed hidden states [B, L, D], pooled EOS state [B, D])."""
        if ids.shape[1] > self.cfg.context:
            raise ModelError(f"CLIP text input has {ids.shape[1]} tokens, the context is {self.cfg.context}")
        n = ids.shape[1]
        mask = torch.full((n, n), float("-inf"), device=ids.device).triu(1)[None, None]  # causal
        if attention_mask is not None:
            mask = (
                mask
                + torch.zeros_like(attention_mask, dtype=mask.dtype).masked_fill(
                    attention_mask == 0, float("-inf")
                )[:, None, None, :]
            )
        x = self.final_layer_norm(
            self.encoder(self.embeddings(ids), mask.to(self.embeddings.token_embedding.weight.dtype))
        )
        return x, x[torch.arange(ids.shape[0], device=ids.device), self.eos_positions(ids)]


class ClipTextTower(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_model = ClipTextTransformer(cfg)
        self.text_projection = nn.Linear(cfg.width, cfg.proj_dim, bias=False)


# -- CLIP byte-pair tokenizer ----------------------------------------------------------------------------------

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
# CLIP's pre-tokenizer with stdlib ``re``: letters [^\W\d_], digits one at a time, other symbols in runs.
_PAT = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE
)


@functools.lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character map of GPT-2/CLIP BPE."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ClipTokenizer:
    """CLIP BPE. ``path`` is OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` (merges), or a folder with the
    transformers files ``vocab.json`` and ``merges.txt``. No vocabulary ships with Tri-Ergon Studio."""

    def __init__(self, path: str | Path | None, context: int = 77) -> None:
        if path is None:
            raise ModelError(
                "the LanguageBind text tower needs the CLIP BPE vocabulary: pass the path to "
                "bpe_simple_vocab_16e6.txt.gz or to a folder with vocab.json and merges.txt"
            )
        p = Path(path)
        self.context = context
        if p.is_dir():
            vocab_file, merges_file = p / "vocab.json", p / "merges.txt"
            if not vocab_file.exists() or not merges_file.exists():
                raise ModelError("CLIP tokenizer folder needs vocab.json and merges.txt", p)
            self.encoder: dict[str, int] = json.loads(vocab_file.read_text(encoding="utf-8"))
            lines = merges_file.read_text(encoding="utf-8").splitlines()
            merges = [tuple(m.split()) for m in lines if m and not m.startswith("#version")]
        elif p.is_file():
            opener = gzip.open if p.suffix == ".gz" else open
            try:
                with opener(p, "rt", encoding="utf-8") as fh:
                    lines = fh.read().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ModelError(f"unreadable CLIP BPE vocabulary ({type(exc).__name__})", p) from exc
            merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1] if m.strip()]
            units = list(byte_to_unicode().values())
            vocab = units + [u + "</w>" for u in units] + ["".join(m) for m in merges] + [SOT, EOT]
            self.encoder = {tok: i for i, tok in enumerate(vocab)}
        else:
            raise ModelError("CLIP BPE vocabulary not found", p)
        if any(len(m) != 2 for m in merges) or SOT not in self.encoder or EOT not in self.encoder:
            raise ModelError("not a CLIP BPE vocabulary (bad merges or missing special tokens)", p)
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self._cache: dict[str, list[str]] = {}

    def bpe(self, token: str) -> list[str]:
        if token in self._cache:
            return self._cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda pr: self.ranks.get(pr, 1 << 30))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        text = " ".join(html.unescape(html.unescape(text)).split()).lower()
        table = byte_to_unicode()
        ids: list[int] = []
        for piece in _PAT.findall(text):
            units = "".join(table[b] for b in piece.encode("utf-8"))
            ids += [self.encoder[t] for t in self.bpe(units) if t in self.encoder]
        return ids

    def __call__(self, texts: list[str], device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
        """-> (ids [B, context] padded with end-of-text, attention mask [B, context])."""
        ids = torch.full((len(texts), self.context), self.eot, dtype=torch.long)
        mask = torch.zeros((len(texts), self.context), dtype=torch.long)
        for row, text in enumerate(texts):
            toks = [self.sot] + self.encode(text)[: self.context - 2] + [self.eot]
            ids[row, : len(toks)] = torch.tensor(toks)
            mask[row, : len(toks)] = 1
        return ids.to(device), mask.to(device)
