"""Model config dataclasses, presets and JSON round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset
from triergon_studio.errors import ModelError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_json_round_trip(name: str, tmp_path: Path) -> None:
    cfg = get_preset(name)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert ModelConfig.from_json(path) == cfg


def test_latent_rate_and_stride() -> None:
    cfg = get_preset("tri-ergon-s")
    assert cfg.vae.downsampling_ratio == 2048
    assert cfg.latent_rate_hz == pytest.approx(44100 / 2048)
    assert get_preset("tiny").vae.downsampling_ratio == 2048


def test_unknown_preset_and_bad_configs(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model preset"):
        get_preset("nope")
    with pytest.raises(ModelError, match="not found"):
        ModelConfig.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelConfig.from_json(bad)
    data = get_preset("tiny").to_dict()
    data["dit"]["bogus"] = 1
    with pytest.raises(ModelError, match="bogus"):
        ModelConfig.from_dict(data)
    data = get_preset("tiny").to_dict()
    data["vae"]["strides"] = [3, 8, 8, 8]
    with pytest.raises(ModelError, match="even"):
        ModelConfig.from_dict(data)
    data = get_preset("tiny").to_dict()
    data["version"] = 99
    with pytest.raises(ModelError, match="newer"):
        ModelConfig.from_dict(json.loads(json.dumps(data)))
    data = get_preset("tiny").to_dict()
    data["dit"]["io_channels"] = 5
    with pytest.raises(ModelError, match="latent_dim"):
        ModelConfig.from_dict(data)
