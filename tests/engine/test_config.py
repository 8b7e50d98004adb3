"""Model config dataclasses, presets and JSON round trips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset
from triergon_studio.errors import ModelError
from triergon_studio.training.reproduce import MEL_CFG, MID_CURVE_CFG, PAN_GUIDE


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


BUNDLED = Path(__file__).resolve().parents[2] / "model_weights" / "compact" / "config.json"


def test_typed_encoder_and_lufs_configs_load_the_bundled_file_unchanged() -> None:
    from triergon_studio.engine.models.encoder_config import EncoderConfig
    from triergon_studio.engine.models.lufs_config import LufsPredictorConfig

    cfg = ModelConfig.from_json(BUNDLED)
    assert isinstance(cfg.encoders, EncoderConfig) and isinstance(cfg.lufs_predictor, LufsPredictorConfig)
    # the file stores a preset plus overrides; the typed config holds every value
    assert cfg.encoders.width == 128 and cfg.encoders.audio_channels == (16, 32, 64)
    assert cfg.lufs_predictor.d_model == 128 and cfg.lufs_predictor.frame_cnn.channels == (16, 32, 64, 96)
    assert cfg.lufs_predictor.frame_cnn.grid == (2, 4)  # from the preset, not in the file
    # version 3: the compact preset with the band-PCA autoencoder (compact_dit_mel.json's override), the
    # guidance default version 2.2 chose and the CFG scale chosen for it, as ``reproduce`` assembles it;
    # version 3.2: T_LUFS reads four pictures per curve frame (compact_lufs_sub.json's override); version 3.3:
    # the curve at every DiT block (compact_dit_blk.json's override) and the curve's own CFG weight
    compact = get_preset("compact")
    lp = compact.lufs_predictor
    assert lp is not None
    assert cfg.vae.kind == "bandpca" and cfg == dataclasses.replace(
        compact,
        vae=dataclasses.replace(compact.vae, kind="bandpca", n_bands=64, gl_iters=16),
        dit=dataclasses.replace(compact.dit, lufs_frame_blocks=True),
        sampling=dataclasses.replace(
            compact.sampling, guide=PAN_GUIDE, cfg_scale=MEL_CFG, curve_cfg=MID_CURVE_CFG
        ),
        lufs_predictor=dataclasses.replace(lp, frame_cnn=dataclasses.replace(lp.frame_cnn, sub_frames=4)),
    )
    assert cfg.lufs_predictor.picture_rate_hz == 24
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.to_dict() == cfg.to_dict()


def test_model_without_encoders_round_trips_none() -> None:
    cfg = get_preset("sao-1.0")
    assert cfg.encoders is None and cfg.lufs_predictor is None
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_unknown_encoder_or_lufs_field_names_the_file(tmp_path: Path) -> None:
    data = json.loads(BUNDLED.read_text())
    data["encoders"]["colour"] = "red"
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"config\.json.*colour"):
        ModelConfig.from_json(bad)
    data = json.loads(BUNDLED.read_text())
    data["lufs_predictor"]["frame_cnn"]["depth"] = 3
    bad.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"config\.json.*depth"):
        ModelConfig.from_json(bad)
    data = json.loads(BUNDLED.read_text())
    data["lufs_predictor"]["layers"] = 3
    with pytest.raises(ModelError, match="layers"):
        ModelConfig.from_dict(data)
    data = json.loads(BUNDLED.read_text())
    data["encoders"] = "small"
    with pytest.raises(ModelError, match="must be an object"):
        ModelConfig.from_dict(data)


def test_config_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, triergon_studio.engine.config as c; c.get_preset('compact').to_json(); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:] or "engine.config imported torch"


def test_a_models_own_guidance_knobs_round_trip_and_a_bad_one_names_the_file(tmp_path: Path) -> None:
    cfg = get_preset("tiny")
    cfg.sampling.guide = {"guide_gain": 0, "guide_budget": 8}
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert ModelConfig.from_json(path).sampling.guide == {"guide_gain": 0, "guide_budget": 8}
    assert get_preset("tiny").sampling.guide == {}  # presets carry none; a folder's config may
    for knobs, why in (
        ({"guide_gian": 0}, "unknown guidance knob 'guide_gian'"),
        ({"gain": 0}, "'gain' is not a guidance knob"),
        ({"guide_gain": "off"}, "guide_gain must be a finite number"),
        ({"guide_head": True}, "guide_head must be a finite number"),
        ([["guide_gain", 0]], "must be an object"),
    ):
        data = cfg.to_dict()
        data["sampling"]["guide"] = knobs
        path.write_text(json.dumps(data))
        with pytest.raises(ModelError, match=why) as err:
            ModelConfig.from_json(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
