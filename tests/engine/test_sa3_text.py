"""T5Gemma through transformers, from a tiny random model saved into a temporary folder (real loading code)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.engine.sa3_helpers import save_tiny_t5gemma
from triergon_studio.engine.models.sa3_config import SA3Config, SA3DiTConfig
from triergon_studio.engine.models.sa3_text import T5GemmaText, resolve_folder
from triergon_studio.errors import ModelError


def _cfg(**kw: object) -> SA3Config:
    return SA3Config(
        dit=SA3DiTConfig(),
        objective="rf_denoiser",
        text_max_length=6,
        text_model_name="nobody/not-cached-t5gemma",
        **kw,
    )  # type: ignore[arg-type]


def test_encode_pads_to_max_length_and_matches_transformers(tmp_path: Path) -> None:
    folder = save_tiny_t5gemma(tmp_path / "model" / "text_encoder")
    found = resolve_folder(_cfg(), tmp_path / "model", None)
    assert found == folder
    enc = T5GemmaText(found, max_length=6)
    emb, mask = enc.encode(["rain on metal", "door slam glass breaking wind gravel footsteps"])
    assert emb.shape == (2, 6, 32) and mask.dtype == torch.bool
    assert mask[0].tolist() == [True, True, True, False, False, False]
    assert mask[1].all()  # truncated to max_length
    # Same numbers as calling the saved model directly.
    from transformers import T5GemmaEncoderModel

    ref = T5GemmaEncoderModel.from_pretrained(str(folder), local_files_only=True).eval()
    ids = enc.tokenizer(["rain on metal"], padding="max_length", max_length=6, return_tensors="pt")
    with torch.no_grad():
        want = ref(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"].bool())[
            "last_hidden_state"
        ]
    assert torch.allclose(emb[:1], want, atol=1e-6)
    # Different prompts give different embeddings.
    assert not torch.allclose(emb[0, :3], enc.encode(["wind on glass"])[0][0, :3])


def test_explicit_folder_wins_and_config_path_is_relative_to_the_model(tmp_path: Path) -> None:
    other = save_tiny_t5gemma(tmp_path / "elsewhere")
    assert resolve_folder(_cfg(), tmp_path / "model", other) == other
    inside = save_tiny_t5gemma(tmp_path / "model" / "te")
    assert resolve_folder(_cfg(text_model_path="te"), tmp_path / "model", None) == inside


def test_missing_text_encoder_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelError) as err:
        resolve_folder(_cfg(), tmp_path / "model", None)
    msg = str(err.value)
    assert "\n" not in msg and "T5Gemma" in msg and str(tmp_path / "model" / "text_encoder") in msg
    with pytest.raises(ModelError, match="--text-encoder"):
        resolve_folder(_cfg(), tmp_path / "model", tmp_path / "nope")


def test_a_broken_text_encoder_folder_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "te"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelError) as err:
        T5GemmaText(bad, max_length=4)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
