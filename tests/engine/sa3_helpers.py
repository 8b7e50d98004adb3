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
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    module = dict(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=8,
        max_position_embeddings=64,
    )
    cfg = T5GemmaConfig(
        encoder=T5GemmaModuleConfig(**module),
        decoder=T5GemmaModuleConfig(**module),
        vocab_size=len(vocab),
        is_encoder_decoder=False,
    )
    torch.manual_seed(seed)
    model = T5GemmaEncoderModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


def tiny_sa3_config(objective: str = "rf_denoiser", sample_rate: int = 8000, window_s: float = 3.0) -> dict:
    """A Stable Audio 3 model_config.json of the real structure at toy size (SAME-S layout, 32x)."""
    import json

    import numpy as np

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    same = json.loads(np.load(fixtures / "same_golden.npz")["configs_json"].tobytes().decode())["small_s"]
    io = same["config"]["latent_dim"]
    ratio = same["config"]["downsampling_ratio"]
    dit = {
        "io_channels": io,
        "embed_dim": 64,
        "depth": 2,
        "num_heads": 1,
        "cond_token_dim": 32,
        "global_cond_dim": 32,
        "project_cond_tokens": True,
        "transformer_type": "continuous_transformer",
        "global_cond_type": "adaLN",
        "timestep_features_type": "expo",
        "timestep_features_dim": 256,
        "num_memory_tokens": 4,
        "local_add_cond_dim": io + 1,
        "norm_type": "rms_norm",
        "attn_kwargs": {"qk_norm": "rms", "differential": False},
        "ff_kwargs": {"mult": 2},
    }
    return {
        "model_type": "diffusion_cond",
        "sample_size": int(window_s * sample_rate) // ratio * ratio,
        "sample_rate": sample_rate,
        "audio_channels": 2,
        "model": {
            "io_channels": io,
            "pretransform": same,
            "conditioning": {
                "cond_dim": 32,
                "configs": [
                    {
                        "id": "prompt",
                        "type": "t5gemma",
                        "config": {
                            "model_name": "google/t5gemma-b-b-ul2",
                            "max_length": 8,
                            "padding_mode": "learned",
                        },
                    },
                    {
                        "id": "seconds_total",
                        "type": "number",
                        "config": {"min_val": 0, "max_val": 384, "fourier_features_type": "expo"},
                    },
                ],
            },
            "diffusion": {
                "type": "dit",
                "diffusion_objective": objective,
                "cross_attention_cond_ids": ["prompt", "seconds_total"],
                "global_cond_ids": ["seconds_total"],
                "local_add_cond_ids": ["inpaint_mask", "inpaint_masked_input"],
                "config": dit,
            },
        },
    }


def make_tiny_sa3_folder(
    folder: Path, objective: str = "rf_denoiser", seed: int = 0, text_encoder: bool = True
) -> Path:
    """model_config.json + model.safetensors (random weights, upstream key layout) + text_encoder/."""
    import json

    from triergon_studio.engine.models.sa3_config import config_from_upstream
    from triergon_studio.engine.models.sa3_dit import SA3Conditioners, SA3DiT
    from triergon_studio.engine.models.sa3_loading import save_checkpoint
    from triergon_studio.engine.models.same import SAMEAutoencoder, SAMEConfig

    raw = tiny_sa3_config(objective)
    cfg = config_from_upstream(raw)
    torch.manual_seed(seed)
    dit, cond, ae = SA3DiT(cfg.dit), SA3Conditioners(cfg), SAMEAutoencoder(SAMEConfig.from_upstream(raw))
    with torch.no_grad():  # upstream zero-inits output layers; random ones make the test outputs informative
        for p in dit.parameters():
            if p.ndim >= 2 and float(p.abs().max()) == 0.0:
                p.normal_(0, 0.02)
        dit.preprocess_conv.weight.normal_(0, 0.02)
        dit.postprocess_conv.weight.normal_(0, 0.02)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_config.json").write_text(json.dumps(raw))
    save_checkpoint(folder / "model.safetensors", dit, cond, ae)
    if text_encoder:
        save_tiny_t5gemma(folder / "text_encoder", hidden=32, seed=seed)
    return folder
