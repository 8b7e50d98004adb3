"""The T5 text encoder of Stable Audio Open, read from local files through ``transformers``.

A Hugging Face snapshot of ``stabilityai/stable-audio-open-1.0`` (or ``-small``) carries the encoder in
``text_encoder/`` (a ``T5EncoderModel``, t5-base) and its tokenizer in ``tokenizer/``. A user may instead
point at any t5-base folder saved by ``transformers`` (``--text-encoder DIR``): either a folder holding
``text_encoder/`` + ``tokenizer/`` or one folder holding both. Nothing is downloaded (``local_files_only``).

As stable-audio-tools' ``T5Conditioner``: tokenise with padding to ``max_length`` and truncation, run the
encoder with the attention mask, zero the padded positions. stable-audio-tools runs T5 in fp16; we do on a
GPU, and in float32 on the CPU (fp16 matmuls there are slow or missing; the difference is fp16 rounding).
Embeddings are cached per prompt, so regenerating a take does not re-encode its prompt.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from triergon_studio.errors import ModelError

ENCODER_DIR, TOKENIZER_DIR = "text_encoder", "tokenizer"
_CACHE_SIZE = 64
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")


def find_text_encoder(snapshot: Path, override: str | Path | None = None) -> tuple[Path, Path]:
    """(encoder folder, tokenizer folder) from ``--text-encoder DIR`` or the snapshot's own subfolders."""
    if override is not None:
        root = Path(override).expanduser()
        if not root.is_dir():
            raise ModelError("text encoder folder not found", root)
        enc = root / ENCODER_DIR if (root / ENCODER_DIR).is_dir() else root
        tok = root / TOKENIZER_DIR if (root / TOKENIZER_DIR).is_dir() else root
        where = "--text-encoder folder"
    else:
        enc, tok, root = snapshot / ENCODER_DIR, snapshot / TOKENIZER_DIR, snapshot
        where = "snapshot"
        if not enc.is_dir() or not tok.is_dir():
            missing = ENCODER_DIR if not enc.is_dir() else TOKENIZER_DIR
            raise ModelError(
                f"no T5 text encoder: the {missing}/ folder is missing; add text_encoder/ and "
                "tokenizer/ from the Hugging Face snapshot, or pass --text-encoder DIR (a t5-base "
                "folder)",
                snapshot,
            )
    if not (enc / "config.json").is_file():
        raise ModelError(f"no T5 encoder in the {where}: config.json is missing", enc)
    if not any((tok / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelError(f"no T5 tokenizer in the {where}: need tokenizer.json or spiece.model", tok)
    return enc, tok


class T5TextEncoder:
    """``encode(texts) -> (embeddings [B, L, D] float32, mask [B, L] bool)`` with a per-prompt cache."""

    def __init__(
        self,
        encoder_dir: Path,
        tokenizer_dir: Path,
        *,
        max_length: int,
        expected_dim: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.encoder_dir, self.tokenizer_dir = Path(encoder_dir), Path(tokenizer_dir)
        self.max_length = int(max_length)
        self.device = torch.device(device)
        # fp16 as stable-audio-tools on a GPU; float32 on the CPU (see the module docstring)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self._cache: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()
        self.tokenizer = self._load_tokenizer()
        self.model = self._load_model(expected_dim)
        vocab = int(self.model.config.vocab_size)
        if len(self.tokenizer) > vocab:
            raise ModelError(
                f"the tokenizer does not match the T5 encoder: {len(self.tokenizer)} tokens, the "
                f"encoder embeds {vocab}",
                self.tokenizer_dir,
            )

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(self.tokenizer_dir), local_files_only=True)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelError(
                f"unreadable T5 tokenizer ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                self.tokenizer_dir,
            ) from exc

    def _load_model(self, expected_dim: int) -> Any:
        from transformers import T5Config, T5EncoderModel

        try:
            config = T5Config.from_pretrained(str(self.encoder_dir), local_files_only=True)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelError(
                f"unreadable T5 config ({type(exc).__name__})", self.encoder_dir / "config.json"
            ) from exc
        if getattr(config, "model_type", "") != "t5":
            raise ModelError(
                f"not a T5 encoder (model_type {config.model_type!r})", self.encoder_dir / "config.json"
            )
        if int(config.d_model) != expected_dim:
            raise ModelError(
                f"T5 width {config.d_model} does not match the model's {expected_dim} "
                "(Stable Audio Open uses t5-base)",
                self.encoder_dir / "config.json",
            )
        try:
            model = T5EncoderModel.from_pretrained(
                str(self.encoder_dir), local_files_only=True, dtype=self.dtype, use_safetensors=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(
                f"cannot load the T5 encoder weights (model.safetensors) ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]})",
                self.encoder_dir,
            ) from exc
        model.to(self.device)  # type: ignore[arg-type]  # transformers types ``to`` through a wrapper
        return model.eval().requires_grad_(False)

    @torch.inference_mode()
    def _encode_one(self, text: str) -> tuple[Tensor, Tensor]:
        enc = self.tokenizer(
            [text], truncation=True, max_length=self.max_length, padding="max_length", return_tensors="pt"
        )
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device).to(torch.bool)
        if ids.shape[1] != self.max_length:
            raise ModelError(
                f"the tokenizer padded to {ids.shape[1]} tokens, not {self.max_length}", self.tokenizer_dir
            )
        hidden = self.model(input_ids=ids, attention_mask=mask)["last_hidden_state"].float()
        hidden = hidden * mask.unsqueeze(-1).float()
        return hidden.cpu(), mask.cpu()

    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        embs, masks = [], []
        for text in texts:
            hit = self._cache.get(text)
            if hit is None:
                hit = self._encode_one(text)
                self._cache[text] = hit
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(text)
            embs.append(hit[0])
            masks.append(hit[1])
        return torch.cat(embs), torch.cat(masks)

    @property
    def cached(self) -> int:
        return len(self._cache)
