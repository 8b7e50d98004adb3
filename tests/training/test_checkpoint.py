"""Training checkpoints as safetensors + JSON: an exact round trip of every kind of state, resume equal to an
uninterrupted run (from the new format and from a legacy ``checkpoint.pt``), a commit that survives a kill, and
a tampered tensors file refused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from triergon_studio.errors import StudioError
from triergon_studio.training import checkpoint as ck
from triergon_studio.training.config import StageConfig, load_stage_config
from triergon_studio.training.runner import run_stage

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "triergon_studio" / "training" / "configs"


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_is_exact_for_every_kind_of_state(tmp_path: Path) -> None:
    w = torch.randn(3, 4)
    rng = np.random.default_rng([7, 0])
    rng.random(5)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    state = {
        "step": 12,
        "module": {"w": w, "tied": w, "half": torch.randn(5).to(torch.bfloat16), "scalar": torch.tensor(3.5)},
        "optim": opt.state_dict(),  # int keys, tuples (betas), tensor steps, None values
        "ema": None,
        "rng": [rng.bit_generator.state],  # 128-bit integers
        "torch_rng": torch.get_rng_state(),
        "extra": {"generator": torch.Generator().manual_seed(3).get_state(), "$odd": 1, "nan": math.nan},
        "config": {"lr": 1e-3, "inf": -math.inf, "name": "x"},
    }
    ck.save_checkpoint(tmp_path, state)
    doc = json.loads((tmp_path / "checkpoint.json").read_text())
    assert doc["format"] == "triergon-training-checkpoint" and doc["step"] == 12
    assert len(list(tmp_path.glob("checkpoint-*.safetensors"))) == 1
    back = ck.load_checkpoint(tmp_path, "cpu")
    assert back is not None
    _same(state, back)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = back["rng"][0]
    assert rng2.random() == rng.random()
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optim"])
    _same(opt.state_dict(), opt2.state_dict())


def test_a_kill_before_the_json_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"module": {"w": torch.ones(2)}, "optim": {}, "torch_rng": torch.get_rng_state()}
    ck.save_checkpoint(tmp_path, {**base, "step": 4})

    def killed(path: object, text: str) -> None:
        raise KeyboardInterrupt  # the process dies between the tensors file and the commit

    monkeypatch.setattr(ck, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(tmp_path, {**base, "step": 8, "module": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    back = ck.load_checkpoint(tmp_path, "cpu")
    assert back is not None and back["step"] == 4 and torch.equal(back["module"]["w"], torch.ones(2))
    assert len(list(tmp_path.glob("checkpoint-*.safetensors"))) == 1
    assert not list(tmp_path.glob(".*.part"))


def test_a_tampered_tensors_file_is_refused_in_one_line(tmp_path: Path) -> None:
    ck.save_checkpoint(tmp_path, {"step": 1, "module": {"w": torch.ones(4)}, "optim": {}})
    tensors = next(tmp_path.glob("checkpoint-*.safetensors"))
    raw = bytearray(tensors.read_bytes())
    raw[-1] ^= 0xFF
    tensors.write_bytes(bytes(raw))
    with pytest.raises(StudioError, match="does not match its sha256") as err:
        ck.load_checkpoint(tmp_path, "cpu")
    assert "\n" not in str(err.value)
    tensors.unlink()
    with pytest.raises(StudioError, match="is missing"):
        ck.load_checkpoint(tmp_path, "cpu")


def _cfg(tmp: Path, **over: object) -> StageConfig:
    cfg = load_stage_config(CONFIGS / "tiny_dit.json")
    cfg.out_dir = str(tmp)
    cfg.pool_size, cfg.batch_size = 4, 2  # small: the test is about the state, not the learning
    for k, v in over.items():
        assert hasattr(cfg, k), k
        setattr(cfg, k, v)
    return cfg


def _weights(cfg: StageConfig) -> dict[str, torch.Tensor]:
    return load_file(str(Path(cfg.out_dir) / "weights.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    cfg = _cfg(tmp_path_factory.mktemp("full") / "dit", steps=8, ckpt_every=4)
    run_stage(cfg)
    return _weights(cfg)


def _half_run(tmp: Path) -> StageConfig:
    part = _cfg(tmp / "dit", steps=8, ckpt_every=4, stop_at=4)
    assert not run_stage(part)["finished"]
    out = Path(part.out_dir)
    assert (out / "checkpoint.json").exists() and not (out / "checkpoint.pt").exists()
    part.stop_at = 0
    return part


def test_resume_from_the_new_format_equals_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    part = _half_run(tmp_path)
    summary = run_stage(part, resume=True)
    assert summary["resumed_from"] == 4 and summary["finished"]
    got = _weights(part)
    assert set(got) == set(uninterrupted)
    for k, v in uninterrupted.items():
        assert torch.equal(got[k], v), k  # bit for bit on the CPU


def test_resume_from_a_legacy_checkpoint_pt_then_writes_the_new_format(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    part = _half_run(tmp_path)
    out = Path(part.out_dir)
    state = ck.load_checkpoint(out, "cpu")
    torch.save(state, out / "checkpoint.pt")  # what earlier versions wrote: one weights-only pickle
    (out / "checkpoint.json").unlink()
    for f in out.glob("checkpoint-*.safetensors"):
        f.unlink()
    with pytest.raises(StudioError, match="already exists"):
        run_stage(part)  # a legacy checkpoint still marks a run
    summary = run_stage(part, resume=True)
    assert summary["resumed_from"] == 4
    for k, v in uninterrupted.items():
        assert torch.equal(_weights(part)[k], v), k
    new = ck.load_checkpoint(out, "cpu")
    assert new is not None and new["step"] == 8 and (out / "checkpoint.json").exists()
