"""``eval --methods`` (issue 13): the variants, the report and the targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from triergon_studio.engine.families.base import Settings, TakeInputs
from triergon_studio.errors import StudioError
from triergon_studio.training.eval.curve_methods import (
    NoLufs,
    _follow,
    _targets,
    evaluate_methods,
    methods_markdown,
)


class _Spy:
    info = "info"

    def __init__(self) -> None:
        self.seen: Any = None

    def condition(self, inputs: TakeInputs, settings: Settings) -> str:
        self.seen = inputs.curves
        return "cond"


def test_no_lufs_drops_only_the_curves_input() -> None:
    spy = _Spy()
    inputs = TakeInputs(n_samples=10, duration_s=1.0, start_s=0.0, text="x", curves=np.zeros((2, 6)))
    wrapped = NoLufs(spy)
    assert wrapped.condition(inputs, None) == "cond" and spy.seen is None  # type: ignore[arg-type]
    assert inputs.curves is not None  # the take's curves stay for guidance, shaping and conform
    assert wrapped.info == "info"


def test_methods_map_to_follow_modes() -> None:
    assert [_follow(m) for m in ("none", "shape", "guide+conform", "shape+guide+conform")] == [
        "off",
        "shape",
        "guide",
        "shape+guide",
    ]


def test_targets_and_markdown() -> None:
    rows = {
        "none": {
            "raw_lu": 20.0,
            "conform_lu": 9.0,
            "av_align_ratio": 0.8,
            "seconds_mean": 1.0,
            "time_ratio": 1.0,
            "class_acc": 0.5,
        },
        "guide": {
            "raw_lu": 1.5,
            "conform_lu": 0.2,
            "av_align_ratio": 0.8,
            "seconds_mean": 3.0,
            "time_ratio": 3.0,
            "class_acc": 0.4,
        },
    }
    report = {"clips": 2, "av_align_gt": 0.2, "variants": {"nolufs": rows}}
    t = _targets(report)
    assert t["nolufs_guide_raw_lu"]["met"] and t["nolufs_guide_conform_lu"]["met"]
    assert not t["guide_time_ratio"]["met"] and not t["prompt_acc_drop_points"]["met"]  # 3x; 10 points
    report["targets"] = t
    md = methods_markdown(report)
    assert "| nolufs | guide | 1.50 | 0.20 |" in md and "| guide_time_ratio | <= 2.0 | 3.0 | NO |" in md


class _LoudIsFirstClass(torch.nn.Module):
    """A stand-in judge: the first class when the audio is loud, the second when it is quiet."""

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        loud = float(wave.pow(2).mean().sqrt()) > 0.03
        return torch.tensor([[5.0, 0.0] if loud else [0.0, 5.0]])


def test_conform_rows_judge_the_conformed_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    import triergon_studio.training.eval.curve_methods as cm
    from triergon_studio.training.corpus import CLASS_NAMES

    n = 2 * cm.SR
    quiet = (np.random.default_rng(0).standard_normal((n, 2)) * 1e-2).astype(np.float32)  # about -37 LUFS
    clip = SimpleNamespace(
        meta={"label": CLASS_NAMES[0]},
        gt_audio=quiet * 30,
        gt_curves=np.full((2, 12), -20.0),
        video_peaks=np.array([0.5, 1.2]),
        fps=25.0,
    )
    monkeypatch.setattr(cm, "_spec", lambda *a, **k: None)
    monkeypatch.setattr(cm, "_generate", lambda model, spec: (quiet, 1.0))
    report = evaluate_methods(
        None, [clip], ("none", "none+conform"), {"nolufs": None}, classifier=_LoudIsFirstClass()
    )
    rows = report["variants"]["nolufs"]
    assert rows["none"]["raw_lu"] > 10 and rows["none+conform"]["conform_lu"] < 0.5
    assert rows["none+conform"]["adherence_lu"] == rows["none+conform"]["conform_lu"]
    # the quiet take is judged as it was made, the conformed one as the user gets it
    assert rows["none"]["class_acc"] == 0.0 and rows["none+conform"]["class_acc"] == 1.0


def test_unknown_method_is_refused() -> None:
    with pytest.raises(StudioError, match="unknown method"):
        evaluate_methods(None, [], ("bogus",), {})


@pytest.mark.slow
def test_eval_methods_cli_on_tiny_model(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    cmd = [
        sys.executable,
        "-m",
        "triergon_studio",
        "eval",
        "tiny-random",
        "--heldout-dir",
        str(tmp_path / "h"),
        "--clips",
        "1",
        "--steps",
        "2",
        "--methods",
        "none,guide,guide+conform",
        "--variants",
        "frame,tokens,nolufs",
        "--guide",
        "guide_budget=1",
        "--out",
        str(out),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "| nolufs | guide+conform |" in p.stdout and out.exists()
    assert "tokens" in p.stdout or "tokens" in out.read_text()
    import json

    # audio generated from motion curves (and T_LUFS's, when the model has it) is scored against the picture
    ratios = json.loads(out.read_text())["motion"]["av_align_ratio"]
    assert {"frame/off/motion", "nolufs/guide/motion"} <= set(ratios)
    assert all(np.isfinite(r) and r >= 0 for r in ratios.values())
    assert "generated from motion curves" in p.stdout
