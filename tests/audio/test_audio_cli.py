"""The audio CLI: measure / conform / normalize, bad input exits 2 with one line, and measure stays light."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from triergon_studio.audio import loudness as ld
from triergon_studio.audio.io import BextInfo, read_audio, read_bext, write_wav
from triergon_studio.cli import main
from triergon_studio.core.curves import LoudnessCurve

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
SR = 48000


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args], capture_output=True, text=True, env=ENV, timeout=120
    )


def _program(path: Path, seconds: float = 5.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.standard_normal((n, 2)) * (0.02 + 0.15 * np.exp(-((t % 0.6) * 10)))[:, None]
    sf.write(str(path), x, SR, subtype="FLOAT")
    return x


def test_measure_json_in_a_real_process(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    t = np.arange(4 * SR) / SR
    tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    sf.write(str(wav), np.stack([tone, tone], 1), SR, subtype="PCM_24")
    out = _run("measure", str(wav), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "duration_s",
        "sample_rate",
        "channels",
    }
    assert abs(data["integrated_lufs"] - (-23.0)) <= 0.1
    assert abs(data["momentary_max_lufs"] - (-23.0)) <= 0.1
    assert data["sample_rate"] == SR and data["channels"] == 2 and data["duration_s"] == 4.0
    assert data["sample_peak_dbfs"] == pytest.approx(-23.0, abs=0.01)


def test_measure_imports_neither_torch_nor_qt(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    _program(wav, 1.0)
    code = (
        "import sys, io, contextlib\n"
        "from triergon_studio.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['measure', {str(wav)!r}, '--json'])\n"
        "bad = sorted({k.split('.')[0] for k in sys.modules} & {'torch', 'torchaudio', 'PySide6', 'pyqtgraph',"
        " 'shiboken6'})\n"
        "print(rc, bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 []"


def test_measure_text_and_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "p.wav"
    x = _program(wav)
    curves = tmp_path / "c.json"
    assert main(["measure", str(wav), "--curves", str(curves)]) == 0
    text = capsys.readouterr().out
    for label in (
        "Integrated",
        "Loudness range",
        "True peak",
        "Sample peak",
        "Momentary max",
        "Short-term max",
    ):
        assert label in text
    curve = LoudnessCurve.load(curves)
    assert curve.n_frames == 30 and curve.source.value == "measured"
    np.testing.assert_allclose(curve.left, ld.channel_curves(x, SR)[0], atol=1e-3)
    # never overwrite without --force
    assert main(["measure", str(wav), "--curves", str(curves)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["measure", str(wav), "--curves", str(curves), "--force", "--json"]) == 0


def test_measure_pyloudnorm_filter_matches_pyloudnorm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyloudnorm as pyln

    wav = tmp_path / "p.wav"
    x = _program(wav, 6.0, seed=3)
    assert main(["measure", str(wav), "--json", "--filter", "pyloudnorm"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert abs(data["integrated_lufs"] - pyln.Meter(SR).integrated_loudness(x)) <= 0.01


def test_conform_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "in.wav"
    x = _program(wav, 4.0, seed=1)
    k = np.arange(24)
    target = LoudnessCurve(-30 + 6 * np.sin(k / 3), np.full(24, -26.0), 4.0)
    target.save(tmp_path / "t.json")
    out = tmp_path / "out.wav"
    assert (
        main(["conform", str(wav), "--curves", str(tmp_path / "t.json"), "-o", str(out), "--bits", "32f"])
        == 0
    )
    assert "could not be met" in capsys.readouterr().out
    y, sr = read_audio(out)
    got = ld.channel_curves(y, sr)
    assert np.abs(got - target.as_array()).mean() <= 0.5
    assert y.shape == x.shape
    assert main(["conform", str(wav), "--curves", str(tmp_path / "t.json"), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_conform_refuses_curves_of_another_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "in.wav"
    _program(wav, 4.0, seed=3)
    short = LoudnessCurve(np.full(12, -30.0), np.full(12, -30.0), 2.0)
    short.save(tmp_path / "short.json")
    out = tmp_path / "out.wav"
    assert main(["conform", str(wav), "--curves", str(tmp_path / "short.json"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "short.json" in err and "2.00 s" in err and "4.00 s" in err and "\n" not in err
    assert not out.exists()


def test_normalize_command_keeps_bext(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.wav"
    x = np.random.default_rng(2).standard_normal((3 * SR, 2)) * 0.01
    write_wav(src, x, SR, bits="24", bext=BextInfo(description="take 1", time_reference=SR * 3600))
    out = tmp_path / "r128.wav"
    assert main(["normalize", str(src), "--target", "r128", "-o", str(out)]) == 0
    assert "no limiting needed" in capsys.readouterr().out
    y, _ = read_audio(out)
    assert abs(ld.integrated_loudness(y, SR) - (-23.0)) <= 0.1
    assert float(ld.true_peak_dbtp(y).max()) <= -1.0 + 1e-3
    bext = read_bext(out)
    assert bext is not None and bext.time_reference == SR * 3600 and bext.description == "take 1"
    assert bext.loudness_value == pytest.approx(-23.0, abs=0.01)
    custom = tmp_path / "c.wav"
    assert main(["normalize", str(src), "--target", "-10", "--true-peak", "-3", "-o", str(custom)]) == 0
    assert "limiter engaged" in capsys.readouterr().out
    y, _ = read_audio(custom)
    assert abs(ld.integrated_loudness(y, SR) - (-10.0)) <= 0.1
    assert float(ld.true_peak_dbtp(y).max()) <= -3.0 + 1e-3
    assert main(["normalize", str(src), "--target", "loud", "-o", str(tmp_path / "x.wav")]) == 2
    assert "target must be one of" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- bad input
def _wav_bytes(rate: int, payload: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 2, rate, rate * 4, 4, 16)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _make_bad(kind: str, folder: Path) -> Path:
    p = folder / f"{kind}.wav"
    if kind == "missing":
        return p
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        write_wav(p, np.random.default_rng(0).uniform(-0.5, 0.5, (SR, 2)), SR, bits="16")
        p.write_bytes(p.read_bytes()[:30000])
    elif kind == "corrupt":
        p.write_bytes(b"RIFF\x24\x00\x00\x00WAVE" + b"junk\x08\x00\x00\x00" + bytes(range(8)) * 9)
    elif kind == "not_audio":
        p = folder / "notes.txt"
        p.write_text("a shopping list, not a sound\n" * 50)
    elif kind in ("nan", "inf"):
        x = np.zeros((1000, 2), np.float32)
        x[500, 0] = np.nan if kind == "nan" else np.inf
        sf.write(str(p), x, SR, subtype="FLOAT")
    elif kind == "rate_zero":
        p.write_bytes(_wav_bytes(0, b"\0" * 4000))
    elif kind == "rate_absurd":
        p.write_bytes(_wav_bytes(10_000_000, b"\0" * 4000))
    return p


BAD = {
    "missing": "not found",
    "empty": "empty",
    "truncated": "truncated",
    "corrupt": "corrupt",
    "not_audio": "no audio stream",
    "nan": "NaN or infinite",
    "inf": "NaN or infinite",
    "rate_zero": "invalid sample rate 0",
    "rate_absurd": "invalid sample rate 10000000",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_exits_2_with_one_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _make_bad(kind, tmp_path)
    for argv in (
        ["measure", str(path)],
        ["normalize", str(path), "--target", "r128", "-o", str(tmp_path / "o.wav")],
    ):
        assert main(argv) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.count("\n") == 0 and err.startswith("error: ") and str(path) in err, err
        assert BAD[kind] in err and "Traceback" not in captured.err
    assert not (tmp_path / "o.wav").exists()


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    path = _make_bad("truncated", tmp_path)
    out = _run("measure", str(path), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().startswith(f"error: {path}: truncated") and out.stderr.count("\n") == 1
