"""SAME-S / SAME-L autoencoders against upstream Stable Audio 3 (fixtures from tools/same_reference.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from triergon_studio.engine.models.same import (
    UPSTREAM_PREFIX,
    SAMEAutoencoder,
    SAMEConfig,
    autoencoder_state_dict,
    count_decode_flops,
)
from triergon_studio.engine.models.same_config import REFERENCE_BLOCKS
from triergon_studio.errors import ModelError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEYS = json.loads((FIXTURES / "same_keys.json").read_text())
GOLDEN = dict(np.load(FIXTURES / "same_golden.npz"))
SMALL_CONFIGS: dict[str, Any] = json.loads(GOLDEN["configs_json"].tobytes().decode())


def _rel(a: torch.Tensor, b: np.ndarray) -> float:
    ref = torch.from_numpy(b).double()
    return float((a.double() - ref).norm() / ref.norm())


def _small(name: str) -> SAMEAutoencoder:
    model = SAMEAutoencoder(SAMEConfig.from_upstream({"model": {"pretransform": SMALL_CONFIGS[name]}})).eval()
    prefix = f"{name}/w/"
    state = {
        k[len(prefix) :]: torch.from_numpy(v.astype(np.float32))
        for k, v in GOLDEN.items()
        if k.startswith(prefix)
    }
    model.load_upstream_state_dict({UPSTREAM_PREFIX + k: v for k, v in state.items()})
    return model


def test_fixture_records_upstream_commit() -> None:
    assert KEYS["commit"] == GOLDEN["commit"].tobytes().decode() == "636f906fc0ee54b3f06edf974dc7d3aa99d6841b"


@pytest.mark.parametrize("name", ["same_s", "same_l"])
def test_real_key_set_and_shapes_on_meta(name: str) -> None:
    entry = KEYS["models"][name]
    cfg = SAMEConfig.from_upstream({"sample_rate": 44100, "model": {"pretransform": entry["config"]}})
    assert cfg.downsampling_ratio == 4096 and cfg.latent_dim == 256
    with torch.device("meta"):
        model = SAMEAutoencoder(cfg)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == entry["keys"]
    assert model.downsampling_ratio == 4096 and model.latent_dim == 256


@pytest.mark.parametrize("name", ["same_s", "same_l"])
def test_packaged_reference_configs_are_the_recorded_ones(name: str) -> None:
    assert REFERENCE_BLOCKS[name] == KEYS["models"][name]["config"]


def test_same_l_matches_published_size() -> None:
    entry = KEYS["models"]["same_l"]
    assert (entry["tensors"], entry["values"]) == (472, 852_127_457)


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_encode_decode_match_upstream(name: str) -> None:
    model = _small(name)
    ratio = model.downsampling_ratio
    with torch.no_grad():
        audio = torch.from_numpy(GOLDEN[f"{name}/audio"])
        z = model.encode(audio)
        assert z.shape[-1] == -(-audio.shape[-1] // ratio)
        assert _rel(z, GOLDEN[f"{name}/encoded"][..., : z.shape[-1]]) < 1e-4
        latents = torch.from_numpy(GOLDEN[f"{name}/latents"])
        y = model.decode(latents)
        assert y.shape == (2, 2, latents.shape[-1] * ratio)
        assert _rel(y, GOLDEN[f"{name}/decoded"][..., : y.shape[-1]]) < 1e-4
        long = torch.from_numpy(GOLDEN[f"{name}/long_latents"])
        assert _rel(model.decode_chunked(long, 8, 2), GOLDEN[f"{name}/decoded_chunked_8_2"]) < 1e-4


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_noisy_decode_reproduces_upstream_draws(name: str) -> None:
    model = _small(name)
    latents = torch.from_numpy(GOLDEN[f"{name}/latents"])
    with torch.no_grad():
        noisy = model.decode(latents, generator=torch.Generator().manual_seed(77))
        clean = model.decode(latents)
    ref = GOLDEN[f"{name}/decoded_noisy_seed77"][..., : noisy.shape[-1]]
    assert _rel(noisy, ref) < 1e-4
    cfg = model.cfg
    if cfg.noise_regularize or cfg.decoder.mask_noise > 0:
        assert _rel(clean, ref) > 1e-4  # the draws matter, so the match above is not vacuous


def test_decode_flop_count_matches_torch_counter() -> None:
    for name in SMALL_CONFIGS:
        model = _small(name)
        latents = torch.from_numpy(GOLDEN[f"{name}/latents"])[:1]
        # The math backend decomposes attention into counted matmuls (the CPU flash kernel is not counted).
        with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            model.decode(latents)
        assert counter.get_total_flops() == count_decode_flops(model.cfg, latents.shape[-1]), name


def test_checkpoint_prefixes_and_strict_loading(tmp_path: Path) -> None:
    model = _small("small_s")
    bare = {k: v.clone() for k, v in model.state_dict().items()}
    full = {UPSTREAM_PREFIX + k: v for k, v in bare.items()} | {"model.x": torch.zeros(1)}
    assert autoencoder_state_dict(full).keys() == bare.keys()
    assert autoencoder_state_dict(bare).keys() == bare.keys()
    model.load_upstream_state_dict(bare)
    ckpt = tmp_path / "model.safetensors"
    with pytest.raises(ModelError, match="model.safetensors.*1 missing"):
        model.load_upstream_state_dict({k: v for k, v in bare.items() if k != "bottleneck.bias"}, str(ckpt))
    wrong = dict(bare) | {"decoder.layers.1.bias": torch.zeros(3)}
    with pytest.raises(ModelError, match=r"decoder.layers.1.bias has shape \[3\]"):
        model.load_upstream_state_dict(wrong, str(ckpt))


def test_config_parsing_forms_and_errors() -> None:
    block = KEYS["models"]["same_s"]["config"]
    full = SAMEConfig.from_upstream(
        {"sample_rate": 44100, "model": {"pretransform": block | {"chunked": True}}}
    )
    standalone = SAMEConfig.from_upstream({"sample_rate": 44100, "model": block["config"]})
    assert full.chunked and not standalone.chunked
    assert full.encoder == standalone.encoder and full.decoder.conv_mapping and not full.encoder.conv_mapping
    assert full.decoder.chunk_size == 32 and full.decoder.chunk_midpoint_shift
    with pytest.raises(ModelError, match="no SAME autoencoder"):
        SAMEConfig.from_upstream({"model": {"diffusion": {}}})
    bad = json.loads(json.dumps(block))
    bad["config"]["encoder"]["config"]["conformer"] = True
    with pytest.raises(ModelError, match="conformer"):
        SAMEConfig.from_upstream({"model": {"pretransform": bad}})
    bad = json.loads(json.dumps(block))
    bad["config"]["downsampling_ratio"] = 2048
    with pytest.raises(ModelError, match="downsampling_ratio 2048"):
        SAMEConfig.from_upstream({"model": {"pretransform": bad}})


def test_bad_shapes_are_one_line_errors() -> None:
    model = _small("small_s")
    with pytest.raises(ModelError, match="expects audio"):
        model.encode(torch.zeros(1, 1, 64))
    with pytest.raises(ModelError, match="expects latents"):
        model.decode(torch.zeros(1, 3, 4))


def test_slabbed_chunks_give_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    import triergon_studio.engine.models.same as same

    model = _small("small_s")
    latents = torch.from_numpy(GOLDEN["small_s/latents"])
    audio = torch.from_numpy(GOLDEN["small_s/audio"])
    monkeypatch.setattr(same, "SLAB_TOKENS", 20)  # two chunks of 10 tokens per slab
    with torch.no_grad():
        assert _rel(model.decode(latents), GOLDEN["small_s/decoded"][..., : latents.shape[-1] * 32]) < 1e-4
        z = model.encode(audio)
        assert _rel(z, GOLDEN["small_s/encoded"][..., : z.shape[-1]]) < 1e-4
