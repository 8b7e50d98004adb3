"""Fixtures shared by the Stable Audio Open tests: the reference's random-weight checkpoints and golden
outputs (tools/make_sao_fixtures.py), a tiny random T5 saved by transformers, and snapshot-shaped folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sao"
VARIANTS = ("1.0", "small")
SECONDS = {"1.0": {"seconds_start": 1.5, "seconds_total": 7.25}, "small": {"seconds_total": 7.25}}
WORDS = "glass shatters on tile music rain door slam wind".split()


def meta() -> dict[str, Any]:
    return json.loads((FIXTURES / "sao_fixtures.json").read_text())


def tiny_config(variant: str) -> dict[str, Any]:
    cfg: dict[str, Any] = meta()["configs"][variant]
    return cfg


def state(variant: str) -> dict[str, torch.Tensor]:
    return {
        k: v.float() if v.is_floating_point() else v
        for k, v in load_file(str(FIXTURES / f"sao_{variant}_state.safetensors")).items()
    }


def golden(variant: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / f"sao_{variant}_golden.safetensors"))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def save_tiny_t5(
    encoder_dir: Path, tokenizer_dir: Path, *, d_model: int = 768, extra_vocab: int = 0, seed: int = 0
) -> None:
    """A random one-layer T5EncoderModel and a small unigram tokenizer, saved by transformers."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab += [("\u2581" + w, -1.5) for w in WORDS]
    vocab += [(f"\u2581extra{i}", -3.0) for i in range(extra_vocab)]
    tok = T5Tokenizer(vocab=vocab, extra_ids=0)
    tok.save_pretrained(str(tokenizer_dir))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = T5Config(
            vocab_size=len(vocab) - extra_vocab,
            d_model=d_model,
            d_kv=8,
            d_ff=16,
            num_layers=1,
            num_heads=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
        T5EncoderModel(config).save_pretrained(str(encoder_dir))


def make_snapshot(
    root: Path,
    variant: str = "1.0",
    *,
    t5: bool = True,
    weights: str = "model.safetensors",
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """A folder laid out like the Hugging Face snapshot, with the fixture's tiny random weights."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_config.json").write_text(json.dumps(tiny_config(variant)))
    sd = state_dict if state_dict is not None else state(variant)
    if weights.endswith(".safetensors"):
        save_file(sd, str(root / weights))
    else:
        torch.save({"state_dict": sd}, root / weights)
    if t5:
        save_tiny_t5(root / "text_encoder", root / "tokenizer")
    return root
