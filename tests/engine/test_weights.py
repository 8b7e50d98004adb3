"""Model directories: save/load round trips and every failure a user can hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from triergon_studio.engine.config import get_preset
from triergon_studio.engine.models.triergon import TriErgon, build_model
from triergon_studio.engine.weights import (
    add_file_to_model_dir,
    load_model,
    load_model_dir,
    random_model,
    read_manifest,
    save_model_dir,
    verify_model_dir,
)
from triergon_studio.errors import ModelError


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[TriErgon, Path]:
    model = random_model("tiny", seed=3)
    path = save_model_dir(
        model,
        None,
        tmp_path / "tiny-model",
        {"training": {"steps": 10}, "eval": {"lufs_mae": 1.5}, "version": "0.3"},
    )
    return model, path


def _same(a: TriErgon, b: TriErgon) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


def test_round_trip(saved: tuple[TriErgon, Path]) -> None:
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "manifest.json", "model.safetensors"]
    loaded = load_model_dir(path)
    _same(model, loaded)
    assert loaded.cfg == model.cfg
    man = read_manifest(path)
    assert man["name"] == "tiny-random" and man["version"] == "0.3"
    assert man["training"] == {"steps": 10} and man["eval"] == {"lufs_mae": 1.5}
    assert man["parameters"]["dit_params"] == sum(p.numel() for p in model.dit.parameters())
    assert len(man["files"]["model.safetensors"]["sha256"]) == 64
    _same(model, load_model(str(path)))


def test_refuses_to_overwrite(saved: tuple[TriErgon, Path]) -> None:
    model, path = saved
    with pytest.raises(ModelError, match="refusing to overwrite"):
        save_model_dir(model, None, path)
    save_model_dir(model, None, path, overwrite=True)
    load_model_dir(path)
    assert not any(p.name.startswith(".") for p in path.parent.iterdir())


def test_missing_files(saved: tuple[TriErgon, Path], tmp_path: Path) -> None:
    _, path = saved
    with pytest.raises(ModelError, match="not found"):
        load_model_dir(tmp_path / "nowhere")
    (path / "model.safetensors").rename(tmp_path / "w.safetensors")
    with pytest.raises(ModelError, match="missing model.safetensors"):
        load_model_dir(path)
    (tmp_path / "w.safetensors").rename(path / "model.safetensors")
    (path / "manifest.json").unlink()
    with pytest.raises(ModelError, match="missing manifest.json"):
        load_model_dir(path)


def test_wrong_checksum(saved: tuple[TriErgon, Path]) -> None:
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["name"] = "edited"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_model_dir(path)


def _rewrite_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Replace the weights and fix the manifest checksum, so the loader's own checks are what fails."""
    from triergon_studio.engine.checkpoint_io import sha256_file

    save_file(state, str(path / "model.safetensors"))
    man = json.loads((path / "manifest.json").read_text())
    man["files"]["model.safetensors"]["sha256"] = sha256_file(path / "model.safetensors")
    (path / "manifest.json").write_text(json.dumps(man))


def test_key_mismatch_lists_keys(saved: tuple[TriErgon, Path]) -> None:
    _, path = saved
    state = load_file(str(path / "model.safetensors"))
    state.pop("dit.transformer.layers.0.self_attn.to_qkv.weight")
    state["dit.extra.weight"] = torch.zeros(3)
    _rewrite_weights(path, state)
    with pytest.raises(ModelError) as err:
        load_model_dir(path)
    msg = str(err.value)
    assert "missing keys: dit.transformer.layers.0.self_attn.to_qkv.weight" in msg
    assert "unexpected keys: dit.extra.weight" in msg and "\n" not in msg


def test_shape_and_dtype_mismatch(saved: tuple[TriErgon, Path]) -> None:
    _, path = saved
    state = load_file(str(path / "model.safetensors"))
    state["dit.transformer.project_in.weight"] = torch.zeros(3, 3)
    state["vae.encoder.layers.0.bias"] = torch.zeros_like(
        state["vae.encoder.layers.0.bias"], dtype=torch.int32
    )
    _rewrite_weights(path, state)
    with pytest.raises(ModelError) as err:
        load_model_dir(path)
    assert "shape mismatches: dit.transformer.project_in.weight (3, 3)" in str(err.value)
    assert "wrong dtypes: vae.encoder.layers.0.bias" in str(err.value)


def test_truncated_weights(saved: tuple[TriErgon, Path]) -> None:
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    man = json.loads((path / "manifest.json").read_text())
    from triergon_studio.engine.checkpoint_io import sha256_file

    man["files"]["model.safetensors"]["sha256"] = sha256_file(path / "model.safetensors")
    (path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="truncated"):
        load_model_dir(path)


def test_model_names() -> None:
    a, b = load_model("tiny-random"), load_model("tiny-random")
    _same(a, b)
    assert a.cfg.name == "tiny-random"
    # every parameter is random (zero-initialised output layers included) so conditions reach the output
    assert torch.count_nonzero(a.dit.transformer.layers[0].self_attn.to_out.weight) > 0
    with pytest.raises(ModelError, match="no weights for preset 'tri-ergon-s'"):
        load_model("tri-ergon-s")
    with pytest.raises(ModelError, match="not found"):
        load_model("no-such-model")


def test_tiny_under_two_million_params_in_all() -> None:
    model = build_model(get_preset("tiny"), "meta")
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_contract_importers_for_dinov2(tmp_path: Path) -> None:
    from triergon_studio.engine.models.dinov2 import DinoV2
    from triergon_studio.engine.models.dinov2_config import DinoV2Config
    from triergon_studio.engine.weights import import_dinov2

    torch.manual_seed(0)
    src = DinoV2(DinoV2Config(64, 2, 1, 4, 14, 70, name="t"))  # reduced width, hub key layout, registers
    torch.save(src.state_dict(), tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    model = import_dinov2(tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    _sd_equal(src.state_dict(), model.state_dict())
    with pytest.raises(ModelError, match="not found"):
        import_dinov2(tmp_path / "missing.pth")


def _sd_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_a_file_added_to_the_model_folder_is_verified_with_it(
    saved: tuple[TriErgon, Path], tmp_path: Path
) -> None:
    _, folder = saved
    extra = tmp_path / "clf.safetensors"
    save_file({"w": torch.ones(3)}, str(extra))
    add_file_to_model_dir(folder, extra, "eval_classifier.safetensors")
    add_file_to_model_dir(folder, extra, "eval_classifier.safetensors")  # the same file again: a no-op
    entry = read_manifest(folder)["files"]["eval_classifier.safetensors"]
    assert entry["bytes"] == extra.stat().st_size
    verify_model_dir(folder)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other))
    with pytest.raises(ModelError, match="different file"):
        add_file_to_model_dir(folder, other, "eval_classifier.safetensors")
    for bad in ("../x", "model.safetensors", "manifest.json"):
        with pytest.raises(ModelError, match="cannot add"):
            add_file_to_model_dir(folder, other, bad)
    (folder / "eval_classifier.safetensors").write_bytes(other.read_bytes())  # tampered after the fact
    with pytest.raises(ModelError):
        verify_model_dir(folder)
    assert not list(folder.glob(".*.tmp"))
