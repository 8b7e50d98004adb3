"""The app and the CLI run the same use case: the same prompts (text, reference audio with in/out points),
curves, picture span, seed and model give the same take, sample for sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from triergon_studio.core.curves import CurveSource, LoudnessCurve
from triergon_studio.core.model import ReferenceClip


def test_same_spec_through_the_app_job_and_the_generate_command(window, qtbot, tmp_path: Path) -> None:
    from triergon_studio.audio.io import read_audio

    win = window
    project = win.project
    rng = np.random.default_rng(5)
    ref = tmp_path / "ref.wav"
    sf.write(ref, (0.2 * rng.standard_normal((int(0.8 * 22050), 2))).astype(np.float32), 22050)
    values = np.full(int(np.ceil(project.duration_s * 6)), -40.0)
    values[9:15] = -12.0
    curves = LoudnessCurve(values, values[::-1].copy(), project.duration_s, source=CurveSource.DRAWN)
    project.set_curves(curves)
    project.set_prompt_text("a heavy door slams")
    project.add_reference(ReferenceClip(str(ref), 0.1, 0.5))
    p = win.prompt_panel
    p.model.setCurrentText("tiny-random")
    p.steps.setValue(3)
    p.seed.setValue(1234)
    p.seed_locked.setChecked(True)
    win.curve_editor.set_region(1.0, 3.0)
    p.span.setCurrentIndex(1)
    win.generation.generate()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=120000)
    assert len(project.takes) == 1, win.last_error
    take = project.takes[0]
    app_audio, sr = read_audio(project.take_path(take))

    curves_file = tmp_path / "curves.json"
    curves_file.write_text(json.dumps(curves.to_json()))
    out = tmp_path / "cli.wav"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "triergon_studio",
        "generate",
        str(project.video_abspath()),
        "--start",
        "1",
        "--end",
        "3",
        "--text",
        "a heavy door slams",
        "--ref-audio",
        str(ref),
        "--ref-in",
        "0.1",
        "--ref-out",
        "0.5",
        "--curves",
        str(curves_file),
        "--seed",
        "1234",
        "--steps",
        "3",
        "--model",
        "tiny-random",
        "--bits",
        "32f",
        "-o",
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    cli_audio, cli_sr = read_audio(out)
    assert sr == cli_sr and app_audio.shape == cli_audio.shape == (2 * 44100, 2)
    np.testing.assert_array_equal(app_audio, cli_audio)
    # both recorded the same resolved settings (the model's defaults where the user chose none)
    cli_settings = json.loads(out.with_name("cli.take.json").read_text())["settings"]
    assert take.settings is not None and take.settings.to_json()["cfg"] == cli_settings["cfg"]
    assert take.settings.sampler == cli_settings["sampler"] and take.settings.span == (1.0, 3.0)
