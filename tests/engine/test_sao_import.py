"""Reading a Stable Audio Open folder: detection, the config parser's refusals and the weight files.

The checkpoints are the reference's own (random weights written by stable-audio-tools 0.0.19 through
tools/make_sao_fixtures.py); parity of what they compute is in test_sao_parity.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.sao_helpers import meta, tiny_config
from triergon_studio.engine.families import registry
from triergon_studio.engine.families.sao_config import load_sao_config, sao_config_from_dict
from triergon_studio.engine.families.sao_model import find_weights
from triergon_studio.engine.families.stable_audio_open import _is_sao
from triergon_studio.errors import ModelError

SRC = Path("model_config.json")


def test_real_configs_parse_to_the_published_shapes() -> None:
    one = sao_config_from_dict(meta()["real_configs"]["1.0"], SRC)
    small = sao_config_from_dict(meta()["real_configs"]["small"], SRC)
    assert (one.variant, one.dit.embed_dim, one.dit.depth, one.dit.num_heads, one.prompt_max_length) == (
        "1.0",
        1536,
        24,
        24,
        128,
    )
    assert (
        not one.dit.project_cond_tokens
        and one.dit.qk_norm == "none"
        and one.global_ids == ("seconds_start", "seconds_total")
    )
    assert round(one.max_window_s, 2) == 47.55 and one.window_frames == 1024
    assert (small.variant, small.objective, small.dit.embed_dim, small.dit.depth, small.dit.num_heads) == (
        "small",
        "rf_denoiser",
        1024,
        16,
        8,
    )
    assert (
        small.dit.project_cond_tokens and small.dit.qk_norm == "ln" and small.global_ids == ("seconds_total",)
    )
    assert round(small.max_window_s, 2) == 11.89 and small.numbers[0].max_val == 256


def _bad(mutate: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(tiny_config("1.0"))
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["model"]["diffusion"]["config"].update(transformer_type="x-transformers"),
            "continuous_transformer",
        ),
        (lambda c: c["model"]["diffusion"].update(diffusion_objective="eps"), "objective 'eps'"),
        (lambda c: c["model"]["conditioning"]["configs"][0].update(type="clap_text"), "not supported"),
        (lambda c: c["model"]["pretransform"]["config"]["encoder"].update(type="dac"), "Oobleck"),
        (
            lambda c: c["model"]["diffusion"]["config"].update(attn_kwargs={"differential": True}),
            "attn_kwargs",
        ),
        (lambda c: c["model"]["diffusion"]["config"].update(global_cond_dim=7), "condition widths"),
        (lambda c: c.update(model_type="diffusion_uncond"), "model_type"),
    ],
)
def test_config_refusals_name_the_file(mutate: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message) as err:
        sao_config_from_dict(_bad(mutate), Path("/x/model_config.json"))
    assert "/x/model_config.json" in str(err.value)


def test_detection_and_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json or model_config.json"):
        registry.find_family(str(tmp_path / "empty"))
    sao = tmp_path / "sao"
    sao.mkdir()
    (sao / "model_config.json").write_text(json.dumps(tiny_config("small")))
    assert registry.find_family(str(sao)).family == "stable-audio-open"
    with pytest.raises(ModelError, match="no weights found"):
        find_weights(sao)
    # a diffusion_cond config over another autoencoder (e.g. Stable Audio 3's) is not taken for SAO
    other = copy.deepcopy(tiny_config("small"))
    other["model"]["pretransform"]["config"]["encoder"]["type"] = "same"
    (tmp_path / "sa3").mkdir()
    (tmp_path / "sa3" / "model_config.json").write_text(json.dumps(other))
    assert not _is_sao(tmp_path / "sa3")
    (sao / "model_config.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable model_config.json"):
        load_sao_config(sao)
