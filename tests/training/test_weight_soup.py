"""``tools/weight_soup.py``: the element-wise mean of fine-tunes of one start."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.script_module import load_script


def _tool() -> ModuleType:
    return load_script("tools/weight_soup.py")


def _run(tmp: Path, name: str, w: torch.Tensor, step: int = 7) -> Path:
    folder = tmp / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"stage": "lufs", "run": name}))
    path = folder / "weights.safetensors"
    save_file({"a.weight": w, "a.steps": torch.tensor([step])}, str(path), metadata={"stage": "lufs"})
    return path


def test_the_soup_is_the_mean_and_keeps_the_first_runs_config(tmp_path: Path) -> None:
    a = _run(tmp_path, "r1", torch.tensor([[1.0, 2.0]]))
    b = _run(tmp_path, "r2", torch.tensor([[3.0, -2.0]]))
    c = _run(tmp_path, "r3", torch.tensor([[5.0, 3.0]]))
    out = tmp_path / "soup" / "weights.safetensors"
    assert _tool().main([str(a), str(b), str(c), "--out", str(out)]) == 0
    with safe_open(str(out), "pt") as f:
        torch.testing.assert_close(f.get_tensor("a.weight"), torch.tensor([[3.0, 1.0]]))
        assert torch.equal(f.get_tensor("a.steps"), torch.tensor([7]))
        meta = f.metadata()
    assert meta["stage"] == "lufs" and len(json.loads(meta["soup_of"])) == 3
    assert json.loads((out.parent / "config.json").read_text())["run"] == "r1"


def test_mismatched_runs_are_refused_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path, "r1", torch.zeros(1, 2))
    wide = _run(tmp_path, "r2", torch.zeros(1, 3))
    counter = _run(tmp_path, "r3", torch.zeros(1, 2), step=8)
    out = tmp_path / "soup.safetensors"
    tool = _tool()
    assert tool.main([str(a), str(wide), "--out", str(out)]) == 2
    assert f"{wide}: a.weight is (1, 3)" in capsys.readouterr().err
    assert tool.main([str(a), str(counter), "--out", str(out)]) == 2
    assert f"{counter}: integer tensor a.steps differs" in capsys.readouterr().err
    assert tool.main([str(a), "--out", str(out)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_output_is_never_overwritten(tmp_path: Path) -> None:
    a = _run(tmp_path, "r1", torch.zeros(1, 2))
    b = _run(tmp_path, "r2", torch.ones(1, 2))
    out = tmp_path / "kept.safetensors"
    out.write_bytes(b"user data")
    with pytest.raises(SystemExit):
        _tool().main([str(a), str(b), "--out", str(out)])
    assert out.read_bytes() == b"user data"
