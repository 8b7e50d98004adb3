"""End to end on a tiny Stable Audio 3 folder: the ``generate`` command, ``model-info --verify`` and
regenerating a region of a take by native inpainting (only the region changes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.engine.sa3_helpers import make_tiny_sa3_folder
from triergon_studio.core.take_spec import RegionSource, TakeSpec, TimeSpan
from triergon_studio.takes import load_model, make_takes, run_to_end

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sa3_folder(tmp_path_factory.mktemp("sa3e2e") / "stable-audio-3-small-sfx", seed=2)


def test_generate_command_writes_the_exact_length(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    res = _cli(
        "generate",
        "--model",
        str(folder),
        "--text",
        "footsteps on gravel",
        "--duration",
        "2",
        "--seed",
        "5",
        "--bits",
        "32f",
        "-o",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    from triergon_studio.audio.io import read_audio

    audio, sr = read_audio(out)
    assert sr == 8000 and audio.shape == (16000, 2) and np.abs(audio).max() > 0
    side = json.loads(out.with_suffix(".take.json").read_text())
    assert side["settings"]["steps"] == 8 and side["settings"]["sampler"] == "pingpong"
    assert side["metadata"]["family"] == "stable-audio-3"


def test_missing_text_encoder_is_one_line(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from triergon_studio.cli import main

    rc = main(
        [
            "generate",
            "--model",
            str(folder),
            "--text",
            "x",
            "--duration",
            "1",
            "--text-encoder",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "b.wav"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "nope" in err and len(err.strip().splitlines()) == 1


def test_model_info_verify(folder: Path) -> None:
    from triergon_studio.cli.model_cmds import model_info

    info = json.loads(json.dumps(model_info(str(folder), verify=True)))
    assert info["family"] == "stable-audio-3" and info["variant"] == "small-sfx"
    assert info["licence"] == "Stability AI Community License" and info["default_steps"] == 8
    assert (
        info["verified"]["file"] == "model.safetensors" and info["verified"]["values"] == info["total_params"]
    )


def test_regenerate_region_changes_only_the_region(folder: Path, tmp_path: Path) -> None:
    from triergon_studio.audio.io import read_audio

    model = load_model(str(folder))
    sr = model.info.sample_rate
    (base,) = run_to_end(
        make_takes(
            TakeSpec(span=TimeSpan(0.0, 2.0), text="rain", seed=1, steps=3),
            model,
            [tmp_path / "base.wav"],
            bits="32f",
        )
    )
    spec = TakeSpec(
        span=TimeSpan(0.0, 2.0),
        text="door slam",
        seed=7,
        steps=3,
        region=RegionSource(str(base.path), 0.0, 0.75, 1.25),
    )
    (regen,) = run_to_end(make_takes(spec, model, [tmp_path / "regen.wav"], bits="32f"))
    old, _ = read_audio(base.path)
    new, _ = read_audio(regen.path)
    a, b = int(0.75 * sr), int(1.25 * sr)
    assert new.shape == old.shape
    np.testing.assert_array_equal(new[:a], old[:a])
    np.testing.assert_array_equal(new[b:], old[b:])
    assert not np.allclose(new[a + 400 : b - 400], old[a + 400 : b - 400])
