"""Stable Audio 3's text encoder: T5Gemma (``google/t5gemma-b-b-ul2``) through ``transformers``, from local
files only. Upstream keeps it outside the checkpoint, so it is found in this order: a folder given with
``--text-encoder``, the folder the config names (``model_path``/``subfolder``), a ``text_encoder`` or
``t5gemma-b-b-ul2`` folder inside the model folder, then the Hugging Face cache. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from triergon_studio.engine.models.sa3_config import SA3Config
from triergon_studio.errors import ModelError

SUBFOLDERS = ("text_encoder", "t5gemma-b-b-ul2", "t5gemma")


def _is_hf_folder(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").is_file()


def candidate_folders(cfg: SA3Config, model_dir: Path | None, text_encoder: str | Path | None) -> list[Path]:
    """Where a T5Gemma folder may be, in the order tried."""
    out: list[Path] = []
    if text_encoder is not None:
        return [Path(text_encoder).expanduser()]
    base = model_dir if model_dir is not None else Path.cwd()
    if cfg.text_model_path:
        p = Path(cfg.text_model_path).expanduser()
        out.append(p if p.is_absolute() else base / p)
    if cfg.text_subfolder:
        out.append(base / cfg.text_subfolder)
    out.extend(base / name for name in SUBFOLDERS)
    return out


def _from_hf_cache(name: str) -> Path | None:
    """The newest cached snapshot of ``name`` in the Hugging Face cache, if any (no network)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss (not cached, offline errors) means "not there"
        return None


def resolve_folder(cfg: SA3Config, model_dir: Path | None, text_encoder: str | Path | None) -> Path:
    tried = candidate_folders(cfg, model_dir, text_encoder)
    for p in tried:
        if _is_hf_folder(p):
            return p
    if text_encoder is not None:
        raise ModelError(
            "not a T5Gemma folder: no config.json (the text encoder given with --text-encoder)", tried[0]
        )
    cached = _from_hf_cache(cfg.text_model_name)
    if cached is not None and _is_hf_folder(cached):
        return cached
    raise ModelError(
        f"the T5Gemma text encoder ({cfg.text_model_name}) is missing: looked in "
        f"{', '.join(str(p) for p in tried)} and the Hugging Face cache; download it there or pass --text-encoder DIR",
        model_dir,
    )


class T5GemmaText:
    """Tokenizer + encoder; ``encode(texts)`` -> (last hidden state [B, L, D], attention mask [B, L] bool)."""

    def __init__(
        self,
        folder: Path,
        max_length: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.folder = folder
        self.max_length = max_length
        try:
            from transformers import AutoConfig, AutoTokenizer, T5GemmaEncoderModel
        except ImportError as err:
            raise ModelError(f"Stable Audio 3 needs the transformers package with T5Gemma ({err})") from None
        quiet = logging.getLogger("transformers").level
        logging.getLogger("transformers").setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
                config.is_encoder_decoder = False  # as upstream: the encoder alone
                self.model: Any = T5GemmaEncoderModel.from_pretrained(
                    str(folder), config=config, local_files_only=True, dtype=dtype
                )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(
                f"cannot load the T5Gemma text encoder ({err.__class__.__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''})",
                folder,
            ) from None
        finally:
            logging.getLogger("transformers").setLevel(quiet)
        self.model = self.model.to(torch.device(device)).eval().requires_grad_(False)  # type: ignore[arg-type]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        enc = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, padding="max_length", return_tensors="pt"
        )
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device).bool()
        out = self.model(input_ids=ids, attention_mask=mask)["last_hidden_state"]
        return out.float(), mask


def load_text_encoder(
    cfg: SA3Config,
    model_dir: Path | None,
    text_encoder: str | Path | None,
    device: torch.device | str = "cpu",
) -> T5GemmaText:
    return T5GemmaText(resolve_folder(cfg, model_dir, text_encoder), cfg.text_max_length, device)
