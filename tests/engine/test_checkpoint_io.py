"""Checkpoint reading and checked loading: every failure is one clear ModelError."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from triergon_studio.engine.checkpoint_io import (
    load_state_dict_checked,
    read_state_dict,
    sha256_file,
    strip_prefix,
    verify_sha256,
)
from triergon_studio.errors import ModelError


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.register_buffer("count", torch.zeros(2, dtype=torch.long))


def _sd() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in Tiny().state_dict().items()}


def test_round_trip_safetensors_and_pth(tmp_path: Path) -> None:
    sd = _sd()
    save_file(sd, tmp_path / "m.safetensors")
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "m.ckpt")
    for name in ("m.safetensors", "m.ckpt"):
        got = read_state_dict(tmp_path / name)
        assert set(got) == set(sd)
        m = Tiny()
        load_state_dict_checked(m, got, name)
        assert torch.equal(m.a.weight, sd["a.weight"])


def test_bf16_checkpoint_is_cast(tmp_path: Path) -> None:
    sd = _sd()
    sd["a.weight"] = sd["a.weight"].to(torch.bfloat16)
    m = Tiny()
    load_state_dict_checked(m, sd, "x")
    assert m.a.weight.dtype == torch.float32


@pytest.mark.parametrize("kind", ["missing", "empty", "dir", "suffix", "trunc_st", "trunc_pt", "garbage_pt"])
def test_bad_files(tmp_path: Path, kind: str) -> None:
    sd = _sd()
    p = tmp_path / "m.safetensors"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "dir":
        p = tmp_path
    elif kind == "suffix":
        p = tmp_path / "m.npz"
        p.write_bytes(b"xx")
    elif kind == "trunc_st":
        save_file(sd, p)
        p.write_bytes(p.read_bytes()[:-10])
    elif kind == "trunc_pt":
        p = tmp_path / "m.pth"
        torch.save(sd, p)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif kind == "garbage_pt":
        p = tmp_path / "m.pth"
        p.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(ModelError) as err:
        read_state_dict(p)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg


def test_mismatch_messages_list_keys_shapes_dtypes() -> None:
    sd = _sd()
    sd.pop("a.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["a.weight"] = torch.zeros(5, 4)
    sd["count"] = torch.zeros(2, dtype=torch.float32)
    with pytest.raises(ModelError) as err:
        load_state_dict_checked(Tiny(), sd, "ckpt.safetensors")
    msg = str(err.value)
    assert "1 missing keys: a.bias" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert "a.weight (5, 4) vs model (3, 4)" in msg
    assert "count torch.float32 vs model torch.int64" in msg
    assert "\n" not in msg


def test_sha256_and_strip(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    digest = sha256_file(p)
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    verify_sha256(p, digest)
    with pytest.raises(ModelError, match="checksum mismatch"):
        verify_sha256(p, "0" * 64)
    assert strip_prefix({"m.x": torch.ones(1), "n.y": torch.ones(1)}, "m.") == {"x": torch.ones(1)}
