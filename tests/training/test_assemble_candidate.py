"""``tools/assemble_candidate.py --dit-set``: a candidate whose DiT has parts the source bundle lacks."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.script_module import load_script
from triergon_studio.engine.config import get_preset
from triergon_studio.engine.models.triergon import build_model
from triergon_studio.engine.weights import load_model_dir, randomize_, save_model_dir


def _source(tmp: Path) -> Path:
    cfg = get_preset("tiny")
    cfg.dit.lufs_mode = "tokens+frame"
    torch.manual_seed(0)
    model = build_model(cfg, "cpu")
    randomize_(model, 1)
    return save_model_dir(model, cfg, tmp / "source")


def _run(tool: object, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["assemble_candidate.py", *argv])
    tool.main()  # type: ignore[attr-defined]


def test_dit_set_builds_the_new_parts_from_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = load_script("tools/assemble_candidate.py")
    src = _source(tmp_path)
    base = load_model_dir(src)
    cfg = dataclasses.replace(base.cfg, dit=dataclasses.replace(base.cfg.dit, lufs_frame_blocks=True))
    run = build_model(cfg, "cpu")
    randomize_(run, 7)
    keep = ("dit.", "conditioner.")
    run_sd = {k: v.contiguous() for k, v in run.state_dict().items() if k.startswith(keep)}
    full = tmp_path / "run.safetensors"
    save_file(run_sd, str(full))

    _run(
        tool,
        [
            str(src),
            str(tmp_path / "cand"),
            "--dit",
            str(full),
            "--dit-set",
            "lufs_frame_blocks=true",
            "--sampling-set",
            "curve_cfg=-0.5",
        ],
        monkeypatch,
    )
    cand = load_model_dir(tmp_path / "cand")
    assert cand.cfg.dit.lufs_frame_blocks and cand.cfg.sampling.curve_cfg == -0.5
    sd = cand.state_dict()
    for k, v in run_sd.items():  # the run's DiT, new parts included
        assert torch.equal(sd[k], v), k
    assert torch.equal(
        sd["vae." + next(iter(base.vae.state_dict()))], next(iter(base.vae.state_dict().values()))
    )

    # a run without the new parts cannot fill them
    old = {k: v for k, v in run_sd.items() if "lufs_frame_block" not in k and "lufs_frame_embed" not in k}
    part = tmp_path / "old.safetensors"
    save_file(old, str(part))
    with pytest.raises(SystemExit, match="does not have the new DiT's"):
        _run(
            tool,
            [str(src), str(tmp_path / "c2"), "--dit", str(part), "--dit-set", "lufs_frame_blocks=true"],
            monkeypatch,
        )
    with pytest.raises(SystemExit, match="a field of DiTConfig"):
        _run(
            tool, [str(src), str(tmp_path / "c3"), "--dit", str(full), "--dit-set", "no_such=1"], monkeypatch
        )
    with pytest.raises(SystemExit, match="not JSON"):
        _run(
            tool,
            [str(src), str(tmp_path / "c4"), "--dit", str(full), "--sampling-set", "curve_cfg=minus"],
            monkeypatch,
        )
    assert not any((tmp_path / c).exists() for c in ("c2", "c3", "c4"))
