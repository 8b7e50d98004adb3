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
    assert "own" not in md.splitlines()[0]
    report["model_guide"] = {"nolufs": {"guide_gain": 0}, "tokens": {}}
    assert methods_markdown(report).splitlines()[0].endswith("defaults; nolufs's own {'guide_gain': 0}")


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


def test_mono_floor_is_half_the_balance_where_both_channels_are_audible() -> None:
    from triergon_studio.training.eval.report import curve_mae, mono_floor

    t = np.array([[-20.0, -30.0, -70.0, -70.0], [-26.0, -30.0, -40.0, -70.0]])
    # frame 0: 3 LU each side; frame 1: 0; frame 2: only R audible, matched; frame 3: silent, not counted
    assert mono_floor(t) == pytest.approx(np.mean([(3 + 0) / 2, (3 + 0 + 0) / 3]))
    # no take with equal L and R does better (a brute-force search over levels per frame)
    rng = np.random.default_rng(0)
    for _ in range(200):
        level = rng.uniform(-80, -10, 4)
        e = curve_mae(t, np.stack([level, level]))
        assert e is not None and float(np.nanmean(e)) >= mono_floor(t) - 1e-9
    assert mono_floor(np.full((2, 3), -70.0)) is None


class _IdentityCodec:
    """An encoder and decoder that give the audio back (as [B, 2, N])."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


def test_adherence_floors_measure_the_set_and_the_autoencoder() -> None:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.curve_methods import adherence_floors

    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((3 * 44100, 2)) * np.array([0.1, 0.02])).astype(np.float32)  # L 14 dB up
    curves = np.asarray(channel_curves(audio, 44100))
    clip = SimpleNamespace(gt_audio=audio, gt_curves=curves, video_peaks=np.array([1.0]), fps=6.0)
    out = adherence_floors(_IdentityCodec(), [clip])
    assert out["autoencoder_lu"] == pytest.approx(0.0, abs=0.01)  # a perfect codec
    assert out["mono_lu"] == pytest.approx(np.mean(np.abs(curves[0] - curves[1])) / 2, abs=0.05)
    assert out["mono_lu"] > 6
    no_codec = adherence_floors(object(), [clip])
    assert no_codec["autoencoder_lu"] is None and no_codec["autoencoder_av_align_ratio"] is None


class _SmearingCodec(_IdentityCodec):
    """Gives back steady noise at the input's mean power: the level survives, the onsets do not."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return torch.randn(z.shape, generator=g) * z.pow(2).mean().sqrt()


def test_the_autoencoder_av_align_ratio_is_what_the_round_trip_keeps_of_the_onsets() -> None:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.av_align import audio_peaks
    from triergon_studio.training.eval.curve_methods import adherence_floors

    rng = np.random.default_rng(2)
    t = np.arange(4 * 44100) / 44100
    bursts = ((t % 1.0) > 0.5) & ((t % 1.0) < 0.6)  # a hit every second, as the picture shows
    audio = (rng.standard_normal((t.size, 2)) * np.where(bursts, 0.3, 0.001)[:, None]).astype(np.float32)
    peaks = audio_peaks(audio, 44100)  # the picture's peaks where the audio's onsets are: AV-Align 1
    assert len(peaks) >= 3
    clip = SimpleNamespace(
        gt_audio=audio, gt_curves=np.asarray(channel_curves(audio, 44100)), video_peaks=peaks, fps=6.0
    )
    assert adherence_floors(_IdentityCodec(), [clip])["autoencoder_av_align_ratio"] == pytest.approx(1.0)
    assert adherence_floors(_SmearingCodec(), [clip])["autoencoder_av_align_ratio"] < 0.5


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
    assert json.loads(out.read_text())["model_guide"] == {"frame": {}, "nolufs": {}}  # tiny sets none
    floors = json.loads(out.read_text())["floors"]
    assert floors["mono_lu"] >= 0 and np.isfinite(floors["autoencoder_lu"])
    assert "Floors of raw adherence" in p.stdout
