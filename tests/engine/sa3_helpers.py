"""Tiny Stable Audio 3 parts saved by the real libraries into a temporary folder (shared by the SA3 tests)."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["footsteps", "on", "gravel", "rain", "door", "slam", "metal", "wind", "glass", "breaking"]


def save_tiny_t5gemma(folder: Path, hidden: int = 32, seed: int = 0) -> Path:
    """A random two-layer T5Gemma encoder and a word-level tokenizer, saved by transformers itself."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5GemmaConfig, T5GemmaEncoderModel
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3} | {w: i + 4 for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>", unk_token="<unk>")
    module = dict(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
                  sliding_window=8, max_position_embeddings=64)
    cfg = T5GemmaConfig(encoder=T5GemmaModuleConfig(**module), decoder=T5GemmaModuleConfig(**module),
                        vocab_size=len(vocab), is_encoder_decoder=False)
    torch.manual_seed(seed)
    model = T5GemmaEncoderModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder
