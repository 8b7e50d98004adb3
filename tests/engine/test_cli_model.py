"""``model-info`` and ``generate`` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def test_model_info_large_preset_on_meta() -> None:
    out = _cli("model-info", "tri-ergon-s")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert {"name", "preset", "dit_params", "vae_params", "encoder_params", "latent_rate_hz"} <= set(info)
    assert info["preset"] == "tri-ergon-s"
    assert abs(info["dit_params"] - 881e6) / 881e6 < 0.01
    assert 155e6 < info["vae_params"] < 158e6
    assert info["latent_rate_hz"] == pytest.approx(44100 / 2048)


def test_model_info_errors() -> None:
    out = _cli("model-info", "no-such-model")
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr and "not found" in out.stderr


def test_model_info_of_a_saved_dir(tmp_path: Path) -> None:
    from triergon_studio.engine.weights import random_model, save_model_dir

    path = save_model_dir(random_model("tiny"), None, tmp_path / "m", {"eval": {"x": 1}})
    out = _cli("model-info", str(path))
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["name"] == "tiny-random" and info["eval"] == {"x": 1}


def test_model_info_verify_checksums(tmp_path: Path) -> None:
    from triergon_studio.engine.weights import random_model, save_model_dir

    path = save_model_dir(random_model("tiny"), None, tmp_path / "m", {})
    ok = _cli("model-info", str(path), "--verify")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] == ["config.json", "model.safetensors"]
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor
    weights.write_bytes(bytes(data))
    bad = _cli("model-info", str(path), "--verify")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "model.safetensors" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    plain = _cli("model-info", str(path))  # without --verify the layout is still shown
    assert plain.returncode == 0
    preset = _cli("model-info", "tiny", "--verify")
    assert preset.returncode == 2 and "nothing to verify" in preset.stderr


def test_generate_duration_exact_length(tmp_path: Path) -> None:
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("triergon_studio.audio.io")
    out_wav = tmp_path / "out.wav"
    out = _cli(
        "generate",
        "--duration",
        "1.2345",
        "--no-video",
        "--model",
        "tiny-random",
        "--steps",
        "2",
        "--seed",
        "5",
        "--variations",
        "2",
        "-o",
        str(out_wav),
    )
    assert out.returncode == 0, out.stderr
    for p in (out_wav, tmp_path / "out-2.wav"):
        data, sr = sf.read(p)
        assert sr == 44100 and data.shape == (round(1.2345 * 44100), 2)
    again = _cli("generate", "--duration", "1", "--model", "tiny-random", "-o", str(out_wav))
    assert again.returncode == 2 and "exists" in again.stderr


def test_generate_video_length_to_the_sample(tmp_path: Path, shared_media: Path) -> None:
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("triergon_studio.audio.io")
    probe = pytest.importorskip("triergon_studio.video.probe")
    video = shared_media / "bottle-detection.mp4"
    info = probe.probe(video)
    out_wav = tmp_path / "v.wav"
    out = _cli(
        "generate",
        str(video),
        "--text",
        "plastic bottle crushed",
        "--predict-curves",
        "--model",
        "tiny-random",
        "--steps",
        "2",
        "--seed",
        "1",
        "-o",
        str(out_wav),
    )
    assert out.returncode == 0, out.stderr
    assert "task id 5" in out.stdout  # text + video
    data, sr = sf.read(out_wav)
    from triergon_studio.core.timecode import picture_samples

    assert len(data) == picture_samples(info.frame_count, info.fps, 44100)
    assert len(data) == round(info.frame_count * 44100 / float(info.fps))


def test_generate_needs_duration_or_video(tmp_path: Path) -> None:
    out = _cli("generate", "--model", "tiny-random", "-o", str(tmp_path / "x.wav"))
    assert out.returncode == 2 and "--duration" in out.stderr


def test_generate_with_curves_conform_and_curves_from(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    from triergon_studio.core.curves import LoudnessCurve

    curves = tmp_path / "c.json"
    LoudnessCurve.constant(-30.0, 2.0).save(curves)
    out_wav = tmp_path / "conformed.wav"
    out = _cli(
        "generate",
        "--duration",
        "2",
        "--curves",
        str(curves),
        "--conform",
        "--model",
        "tiny-random",
        "--steps",
        "2",
        "--seed",
        "3",
        "--bits",
        "32f",
        "-o",
        str(out_wav),
    )
    assert out.returncode == 0, out.stderr
    data, sr = sf.read(out_wav, dtype="float32")
    assert data.shape == (2 * 44100, 2)
    from triergon_studio.audio.loudness import measure_curves

    measured = measure_curves(data, sr)
    assert (
        abs(float(np.mean(measured.left)) + 30.0) < 1.0 and abs(float(np.mean(measured.right)) + 30.0) < 1.0
    )
    ref = tmp_path / "ref.wav"
    sf.write(ref, (0.1 * np.sin(np.linspace(0, 900, 44100 * 2)))[:, None].repeat(2, 1), 44100)
    out2 = _cli(
        "generate",
        "--duration",
        "2",
        "--curves-from",
        str(ref),
        "--model",
        "tiny-random",
        "--steps",
        "2",
        "-o",
        str(tmp_path / "from.wav"),
    )
    assert out2.returncode == 0, out2.stderr
    bad = _cli(
        "generate",
        "--duration",
        "2",
        "--curves",
        str(tmp_path / "missing.json"),
        "--model",
        "tiny-random",
        "-o",
        str(tmp_path / "bad.wav"),
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
