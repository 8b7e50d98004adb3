"""Stable Audio Open importer on a synthetic checkpoint with the official key names, at reduced width."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from triergon_studio.engine.config import get_preset
from triergon_studio.engine.importers.sao import convert_sao_state_dict, import_stable_audio_open
from triergon_studio.engine.models.triergon import Conditions, build_model
from triergon_studio.engine.weights import load_model, load_stable_audio_open
from triergon_studio.errors import ModelError

# The real model_config.json layout (SPEC §3) at reduced width.
SAO_CONFIG: dict[str, Any] = {
    "model_type": "diffusion_cond",
    "sample_size": 65536,
    "sample_rate": 44100,
    "audio_channels": 2,
    "model": {
        "pretransform": {
            "type": "autoencoder",
            "iterate_batch": True,
            "config": {
                "encoder": {"type": "oobleck", "requires_grad": False, "config": {
                    "in_channels": 2, "channels": 4, "c_mults": [1, 2, 4, 8, 16], "strides": [2, 4, 4, 8, 8],
                    "latent_dim": 16, "use_snake": True}},
                "decoder": {"type": "oobleck", "config": {
                    "out_channels": 2, "channels": 4, "c_mults": [1, 2, 4, 8, 16], "strides": [2, 4, 4, 8, 8],
                    "latent_dim": 8, "use_snake": True, "final_tanh": False}},
                "bottleneck": {"type": "vae"},
                "latent_dim": 8,
                "downsampling_ratio": 2048,
                "io_channels": 2,
            },
        },
        "conditioning": {
            "configs": [
                {"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base", "max_length": 16}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
            ],
            "cond_dim": 32,
        },
        "diffusion": {
            "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"],
            "type": "dit",
            "config": {"io_channels": 8, "embed_dim": 64, "depth": 2, "num_heads": 2, "cond_token_dim": 32,
                       "global_cond_dim": 64, "project_cond_tokens": False,
                       "transformer_type": "continuous_transformer"},
        },
        "io_channels": 8,
    },
}


def _official_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in Stable Audio Open naming: built from our modules and renamed back to SAO prefixes."""
    from triergon_studio.engine.importers.sao import sao_config_from_dict

    cfg = sao_config_from_dict(SAO_CONFIG, Path("model_config.json"))
    torch.manual_seed(seed)
    model = build_model(cfg, "cpu")
    out = {}
    for k, v in model.state_dict().items():
        for ours, theirs in (("vae.", "pretransform.model."), ("dit.", "model.model.")):
            if k.startswith(ours):
                k = theirs + k[len(ours):]
                break
        out[k] = v.clone() + 0.01 * torch.randn_like(v) if v.is_floating_point() else v.clone()
    return out


def _write(folder: Path, sd: dict[str, torch.Tensor], name: str = "model.safetensors",
           config: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_config.json").write_text(json.dumps(config or SAO_CONFIG))
    if name.endswith(".safetensors"):
        save_file(sd, str(folder / name))
    else:
        torch.save({"state_dict": sd}, folder / name)
    return folder


def test_official_key_names_present() -> None:
    sd = _official_state_dict()
    for key in (
        "pretransform.model.encoder.layers.0.weight_g", "pretransform.model.encoder.layers.1.layers.0.layers.0.alpha",
        "pretransform.model.decoder.layers.7.weight_v", "model.model.timestep_features.weight",
        "model.model.to_timestep_embed.0.weight", "model.model.to_cond_embed.2.weight",
        "model.model.to_global_embed.0.weight", "model.model.preprocess_conv.weight",
        "model.model.transformer.project_in.weight", "model.model.transformer.layers.1.cross_attn.to_kv.weight",
        "model.model.transformer.layers.0.ff.ff.0.proj.bias", "model.model.transformer.layers.0.ff_norm.beta",
        "conditioner.conditioners.seconds_start.embedder.embedding.0.weights",
        "conditioner.conditioners.seconds_total.embedder.embedding.1.bias",
    ):
        assert key in sd, key


@pytest.mark.parametrize("fmt", ["model.safetensors", "model.ckpt"])
def test_import_and_strict_load(tmp_path: Path, fmt: str) -> None:
    sd = _official_state_dict()
    folder = _write(tmp_path / "sao", sd, fmt)
    cfg, state = import_stable_audio_open(folder)
    assert cfg.conditioning.kind == "sao" and cfg.dit.depth == 2 and cfg.vae.latent_dim == 8
    assert cfg.sample_size_frames == 32 and cfg.conditioning.prompt_max_length == 16
    model = load_stable_audio_open(folder)
    torch.testing.assert_close(model.dit.transformer.layers[1].cross_attn.to_kv.weight,
                               sd["model.model.transformer.layers.1.cross_attn.to_kv.weight"])
    torch.testing.assert_close(model.vae.decoder.layers[7].weight_v, sd["pretransform.model.decoder.layers.7.weight_v"])
    # load_model recognises the folder as Stable Audio Open
    model2 = load_model(str(folder))
    torch.testing.assert_close(model2.dit.to_cond_embed[0].weight, sd["model.model.to_cond_embed.0.weight"])
    # it runs: T5 tokens in text_emb, seconds as timing
    cond = Conditions(text_emb=torch.randn(1, 5, 32), seconds_total=torch.tensor([1.0]))
    with torch.inference_mode():
        ct = model.condition(cond)
        v = model.denoise_v(torch.randn(1, 8, 32), torch.tensor([0.5]), **model.model_kwargs(ct))
    assert ct.tokens.shape == (1, 18, 32) and v.shape == (1, 8, 32)


def test_training_checkpoint_and_new_weight_norm_names(tmp_path: Path) -> None:
    sd = _official_state_dict()
    renamed = {}
    for k, v in sd.items():
        k = k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1")
        renamed["diffusion." + k] = v
    renamed["diffusion_ema.model.model.foo"] = torch.zeros(1)
    converted = convert_sao_state_dict(renamed)
    assert "vae.encoder.layers.0.weight_g" in converted and not any(k.startswith("diffusion") for k in converted)
    load_stable_audio_open(_write(tmp_path / "ckpt", renamed, "model.ckpt"))


def test_importer_failures(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="folder not found"):
        import_stable_audio_open(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="missing model_config.json"):
        import_stable_audio_open(tmp_path / "empty")
    sd = _official_state_dict()
    folder = _write(tmp_path / "noweights", sd)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no weights found"):
        import_stable_audio_open(folder)
    bad = copy.deepcopy(SAO_CONFIG)
    bad["model"]["diffusion"]["config"]["transformer_type"] = "x-transformers"
    with pytest.raises(ModelError, match="continuous_transformer"):
        import_stable_audio_open(_write(tmp_path / "xt", sd, config=bad))
    sd2 = dict(sd)
    sd2.pop("model.model.transformer.layers.0.self_attn.to_qkv.weight")
    sd2["model.model.transformer.layers.0.self_attn.to_qkv.weight"] = torch.zeros(5, 5)
    with pytest.raises(ModelError, match="shape mismatches: dit.transformer.layers.0.self_attn.to_qkv.weight"):
        load_stable_audio_open(_write(tmp_path / "shape", sd2))
    sd3 = {k: v for k, v in sd.items() if not k.startswith("conditioner.")}
    with pytest.raises(ModelError, match="missing keys: conditioner.conditioners.seconds_start"):
        load_stable_audio_open(_write(tmp_path / "miss", sd3))


def test_full_size_sao_preset_matches_sao_config_on_meta() -> None:
    """The real-size layout the importer would produce equals the sao-1.0 preset."""
    from triergon_studio.engine.importers.sao import sao_config_from_dict

    real = copy.deepcopy(SAO_CONFIG)
    real["sample_size"] = 2097152
    pc = real["model"]["pretransform"]["config"]
    for part, lat in (("encoder", 128), ("decoder", 64)):
        pc[part]["config"].update(channels=128, latent_dim=lat)
    pc["latent_dim"] = 64
    real["model"]["conditioning"]["cond_dim"] = 768
    real["model"]["conditioning"]["configs"][0]["config"]["max_length"] = 128
    real["model"]["diffusion"]["config"].update(io_channels=64, embed_dim=1536, depth=24, num_heads=24,
                                                cond_token_dim=768, global_cond_dim=1536)
    cfg = sao_config_from_dict(real, Path("model_config.json"))
    preset = get_preset("sao-1.0")
    assert (cfg.vae, cfg.dit, cfg.conditioning, cfg.sample_size_frames) == (
        preset.vae, preset.dit, preset.conditioning, preset.sample_size_frames)


def test_generate_with_an_imported_sao_model(tmp_path: Path) -> None:
    import numpy as np

    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.takes import generate_takes, load_model, run_to_end

    model = load_model(str(_write(tmp_path / "sao", _official_state_dict())))
    assert model.info.family == "stable-audio-open"
    t5 = np.random.default_rng(0).standard_normal((7, 32)).astype(np.float32)
    spec = TakeSpec(span=TimeSpan(0, 0.9), steps=2, seed=0)
    (take,) = run_to_end(generate_takes(spec, model, embeddings={"text": t5}))
    assert take.audio.shape == (round(0.9 * 44100), 2) and take.record["metadata"]["task_id"] == 4
    with pytest.raises(ModelError, match="T5"):
        run_to_end(generate_takes(TakeSpec(span=TimeSpan(0, 0.5), text="rain on a tin roof"), model))
