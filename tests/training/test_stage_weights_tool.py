"""``tools/stage_weights_from_bundle.py``: a stage's init cut out of a shipped model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.script_module import load_script


def _bundle(tmp: Path) -> Path:
    path = tmp / "model.safetensors"
    tensors = {
        "vae.w": torch.ones(2),
        "dit.block.w": torch.arange(3.0),
        "dit.lufs_frame_proj.weight": torch.zeros(4, 2),
        "conditioner.w": torch.full((2,), 5.0),
    }
    save_file(tensors, str(path))
    return path


def test_prefixes_and_exclusion(tmp_path: Path) -> None:
    tool = load_script("tools/stage_weights_from_bundle.py")
    src = _bundle(tmp_path)
    out = tmp_path / "stage" / "weights.safetensors"
    n = tool.write_stage_weights(src, out, ["dit.", "conditioner."], [".lufs_frame_proj."])
    got = load_file(str(out))
    assert n == 2 and sorted(got) == ["conditioner.w", "dit.block.w"]
    assert torch.equal(got["dit.block.w"], torch.arange(3.0))
    whole = tmp_path / "whole.safetensors"
    assert tool.write_stage_weights(src, whole, ["dit."]) == 2  # no exclusion: the projection stays
    assert "dit.lufs_frame_proj.weight" in load_file(str(whole))


def test_refusals(tmp_path: Path) -> None:
    tool = load_script("tools/stage_weights_from_bundle.py")
    src = _bundle(tmp_path)
    with pytest.raises(SystemExit, match="contains 'frame_proj'"):
        tool.write_stage_weights(src, tmp_path / "a.safetensors", ["vae."], ["frame_proj"])
    with pytest.raises(SystemExit, match="no key starts with 'encoders.'"):
        tool.write_stage_weights(src, tmp_path / "b.safetensors", ["encoders."])
    out = tmp_path / "c.safetensors"
    out.write_bytes(b"mine")
    with pytest.raises(SystemExit, match="already exists"):
        tool.write_stage_weights(src, out, ["vae."])
    assert out.read_bytes() == b"mine"
    assert not (tmp_path / "a.safetensors").exists()
