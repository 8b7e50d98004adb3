"""Training configs: one dataclass per stage, every recipe file loads, unknown or misplaced keys name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triergon_studio.errors import StudioError
from triergon_studio.training.config import (
    STAGE_CONFIGS,
    DiTStageConfig,
    EncodersStageConfig,
    LufsStageConfig,
    VAEStageConfig,
    load_stage_config,
    merge_overrides,
    stage_config_from_dict,
)

CONFIGS = Path(__file__).resolve().parents[2] / "triergon_studio" / "training" / "configs"
KINDS = {
    "vae": VAEStageConfig,
    "encoders": EncodersStageConfig,
    "dit": DiTStageConfig,
    "lufs": LufsStageConfig,
}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.json")), ids=lambda p: p.name)
def test_every_recipe_config_loads_as_its_stage_and_round_trips(path: Path) -> None:
    raw = json.loads(path.read_text())
    cfg = load_stage_config(path)
    assert type(cfg) is KINDS[raw["stage"]]
    for key, value in raw.items():
        if key != "comment":
            assert getattr(cfg, key) == value, key
    assert stage_config_from_dict(cfg.to_dict()) == cfg


def test_stage_settings_live_on_their_own_stage_only() -> None:
    vae, dit = (
        load_stage_config(CONFIGS / "compact_vae.json"),
        load_stage_config(CONFIGS / "compact_dit.json"),
    )
    assert isinstance(vae, VAEStageConfig) and vae.crop_seconds == 0.46 and not vae.sample_latents
    assert isinstance(dit, DiTStageConfig) and dit.ema_decay == 0.998
    assert not hasattr(vae, "ema_decay") and not hasattr(dit, "kl_weight")
    assert set(STAGE_CONFIGS) == set(KINDS)


def test_reproduce_reads_the_recipe_configs(tmp_path: Path) -> None:
    from triergon_studio.training.reproduce import RUN_STEPS, stage_config

    for step in RUN_STEPS:
        cfg = stage_config(step, tmp_path)
        # the shared pool or a stage's own (test_reproduce checks which), always in the work folder
        assert cfg.out_dir == str(tmp_path / step) and Path(cfg.pool_path).parent == tmp_path
        assert all(p.startswith(str(tmp_path)) for p in cfg.init)


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(data))
    return path


def test_bad_configs_are_errors_that_name_the_file(tmp_path: Path) -> None:
    base = {"stage": "vae", "out_dir": "runs/x"}
    cases = [
        ({**base, "stpes": 10}, "stpes"),  # a misspelt key
        ({**base, "ema_decay": 0.9}, "ema_decay"),  # a DiT setting in a VAE config
        ({**base, "steps": "10"}, "steps"),
        ({**base, "sample_latents": 1}, "sample_latents"),
        ({**base, "init": ["a", 3]}, "init"),
        ({**base, "corpus": {"max_second": 3.0}}, "max_second"),
        ({"stage": "gan", "out_dir": "x"}, "stage"),
        ({"stage": "lufs"}, "out_dir"),
    ]
    for data, word in cases:
        path = _write(tmp_path, data)
        with pytest.raises(StudioError, match=word) as err:
            load_stage_config(path)
        assert str(path) in str(err.value)
    with pytest.raises(StudioError, match="not found"):
        load_stage_config(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(StudioError, match="not valid JSON"):
        load_stage_config(tmp_path / "broken.json")
    with pytest.raises(StudioError, match="not 'dit'"):
        DiTStageConfig.from_dict(base)
    assert isinstance(
        load_stage_config(_write(tmp_path, {"stage": "lufs", "out_dir": "x", "lr": 1})), LufsStageConfig
    )  # an int where a float goes is fine


def test_run_from_file_refuses_a_config_of_another_stage(tmp_path: Path) -> None:
    from triergon_studio.training.runner import run_stage_from_file

    with pytest.raises(StudioError, match="not 'dit'"):
        run_stage_from_file("dit", CONFIGS / "tiny_vae.json", out_dir=str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_merge_overrides_is_nested() -> None:
    base = {"dit": {"depth": 2, "lufs_mode": "tokens+frame"}, "name": "a"}
    assert merge_overrides(base, {"dit": {"lufs_mode": "tokens"}}) == {
        "dit": {"depth": 2, "lufs_mode": "tokens"},
        "name": "a",
    }
    assert base["dit"]["lufs_mode"] == "tokens+frame"  # not changed in place
