"""Bad input through every command: exit 2, one line naming the file and the problem, no traceback, and the
user's files untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli_helpers import GEN, fails_cleanly, make_video, ok, tree_digest


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "folder.wav").mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.wav").write_text("not audio\n" * 20)
    (d / "text.mp4").write_text("not video\n" * 20)
    video = make_video(d / "clip.mp4", 2.0, fps=6)
    data = video.read_bytes()
    (d / "trunc.mp4").write_bytes(data[: len(data) // 3])
    x = np.zeros((4410, 2), np.float32)
    x[10] = np.nan
    sf.write(d / "nan.wav", x, 44100, subtype="FLOAT")
    sf.write(d / "good.wav", 0.1 * np.random.default_rng(1).standard_normal((44100, 2)), 44100)
    curves = {
        "format": "triergon-curves",
        "version": 1,
        "rate_hz": 6.0,
        "duration_s": 2.0,
        "left": [-20.0] * 12,
        "right": [-20.0] * 12,
        "source": "drawn",
    }
    (d / "curves.json").write_text(json.dumps(curves))
    (d / "c_format.json").write_text(json.dumps({**curves, "format": "other"}))
    (d / "c_version.json").write_text(json.dumps({**curves, "version": 9}))
    (d / "c_lengths.json").write_text(json.dumps({**curves, "left": [-20.0] * 5}))
    (d / "c_corrupt.json").write_text('{"format": "triergon-curves", ')
    ok("new", video, "-o", d / "proj.json")
    doc = json.loads((d / "proj.json").read_text())
    (d / "p_newer.json").write_text(json.dumps({**doc, "version": 99}))
    (d / "p_corrupt.json").write_text((d / "proj.json").read_text()[:300])
    return d


@pytest.fixture()
def untouched(bad: Path):  # type: ignore[no-untyped-def]
    before = tree_digest(bad)
    yield
    after = tree_digest(bad)
    assert {k: v for k, v in after.items() if k in before} == before, "a failing command changed a user file"


AUDIO_CASES = [
    ("missing.wav", "file not found"),
    ("folder.wav", "folder"),
    ("empty.wav", "empty"),
    ("text.wav", "corrupt"),
    ("nan.wav", "NaN"),
]


@pytest.mark.parametrize(("name", "problem"), AUDIO_CASES)
def test_audio_commands(bad: Path, untouched: None, name: str, problem: str) -> None:
    for cmd in (
        ["measure", name],
        ["conform", name, "--curves", "curves.json", "-o", "o.wav"],
        ["normalize", name, "--target", "r128", "-o", "o.wav"],
        ["add-take", "proj.json", name],
    ):
        assert problem in fails_cleanly(*cmd, names=name, cwd=bad)
    assert not (bad / "o.wav").exists()


VIDEO_CASES = [
    ("missing.mp4", "not"),
    ("folder.wav", "not a file"),
    ("empty.mp4", "empty"),
    ("text.mp4", "corrupt"),
    ("trunc.mp4", "corrupt"),
    ("good.wav", "audio-only"),
]


@pytest.mark.parametrize(("name", "problem"), VIDEO_CASES)
def test_video_commands(bad: Path, untouched: None, name: str, problem: str) -> None:
    for cmd in (["probe", name], ["new", name, "-o", "new.json"]):
        assert problem in fails_cleanly(*cmd, names=name, cwd=bad)
    assert not (bad / "new.json").exists()


def test_video_into_model_commands(bad: Path, untouched: None) -> None:
    fails_cleanly(
        "predict-lufs",
        "trunc.mp4",
        "--model",
        "tiny-random",
        "-o",
        "c.json",
        names="trunc.mp4",
        cwd=bad,
        inproc=True,
    )
    fails_cleanly(*GEN, "text.mp4", "-o", "g.wav", names="text.mp4", cwd=bad)  # one real process
    for cmd in (
        ["predict-lufs", "folder.wav", "--model", "tiny-random", "-o", "c.json"],
        [*GEN, "folder.wav", "-o", "g.wav"],
    ):
        assert "is a folder" in fails_cleanly(*cmd, names="folder.wav", cwd=bad, inproc=True)
    assert not (bad / "c.json").exists() and not (bad / "g.wav").exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("c_format.json", "not a triergon-curves"),
        ("c_version.json", "newer"),
        ("c_lengths.json", "frames"),
        ("c_corrupt.json", "JSON"),
        ("missing.json", "not found"),
        ("folder.wav", "is a folder"),
    ],
)
def test_bad_curves(bad: Path, untouched: None, name: str, problem: str) -> None:
    assert problem in fails_cleanly(
        "conform", "good.wav", "--curves", name, "-o", "o.wav", names=name, cwd=bad
    )


def test_bad_curves_into_generate(bad: Path, untouched: None) -> None:
    assert "newer" in fails_cleanly(
        *GEN,
        "--duration",
        "1",
        "--curves",
        "c_version.json",
        "-o",
        "g.wav",
        names="c_version.json",
        cwd=bad,
        inproc=True,
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("p_newer.json", "newer"),
        ("p_corrupt.json", "not valid JSON"),
        ("missing.json", "does not exist"),
        ("text.wav", "JSON"),
    ],
)
def test_bad_project(bad: Path, untouched: None, name: str, problem: str) -> None:
    assert problem in fails_cleanly("add-take", name, "good.wav", names=name, cwd=bad)
    assert problem in fails_cleanly("export", name, "-o", "exp", names=name, cwd=bad)
    assert not (bad / "exp").exists()


@pytest.mark.parametrize("offset", ["nan", "inf"])
def test_add_take_non_finite_offset_keeps_project_loadable(bad: Path, untouched: None, offset: str) -> None:
    """Was: the offset went into the saved JSON as NaN and the project could never be opened again."""
    takes_before = sorted((bad / "takes").glob("*")) if (bad / "takes").exists() else []
    assert "finite" in fails_cleanly(
        "add-take", "proj.json", "good.wav", "--at", offset, names="proj.json", cwd=bad
    )
    takes_after = sorted((bad / "takes").glob("*")) if (bad / "takes").exists() else []
    assert takes_after == takes_before  # the copied take is removed again
    ok("export", "proj.json", "-o", "exp_ok", cwd=bad)  # the project still loads
    shutil.rmtree(bad / "exp_ok")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from triergon_studio.engine.weights import random_model, save_model_dir

    d = tmp_path_factory.mktemp("models")
    model = random_model("tiny")
    save_model_dir(model, model.cfg, d / "good", {})
    shutil.copytree(d / "good", d / "damaged")
    w = d / "damaged" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    shutil.copytree(d / "good", d / "wrong_sha")
    man = json.loads((d / "wrong_sha" / "manifest.json").read_text())
    man["files"]["model.safetensors"]["sha256"] = "0" * 64
    (d / "wrong_sha" / "manifest.json").write_text(json.dumps(man))
    return d


@pytest.mark.parametrize("name", ["damaged", "wrong_sha"])
def test_bad_model_folder(models: Path, bad: Path, untouched: None, name: str) -> None:
    line = fails_cleanly(
        *GEN[:1],
        "--model",
        str(models / name),
        "--duration",
        "1",
        "-o",
        "g.wav",
        names="model.safetensors",
        cwd=bad,
        inproc=True,
    )
    assert "checksum" in line


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--sampler", "bogus"], "no sampler"),
        (["--duration", "-1"], "duration must be between 0.1 and 3600 s"),
        (["--duration", "inf"], "duration must be a finite number"),
        (["--steps", "0"], "steps"),
        (["--variations", "0"], "variations"),
        (["--cfg", "nan"], "cfg"),
    ],
)
def test_bad_generation_settings(bad: Path, untouched: None, args: list[str], problem: str) -> None:
    full = [*GEN, "--duration", "1", *args, "-o", "g.wav"]
    r_line = fails_cleanly(*full, names="", cwd=bad, inproc=True)
    assert problem in r_line
    assert not (bad / "g.wav").exists()


def test_generate_refuses_to_overwrite(bad: Path, untouched: None) -> None:
    assert "--force" in fails_cleanly(
        *GEN, "--duration", "1", "-o", "good.wav", names="good.wav", cwd=bad, inproc=True
    )


def test_output_pipe_closed_early_is_no_traceback(bad: Path) -> None:
    """`probe VIDEO | head -1`: the reader leaves before the JSON is printed."""
    import os
    import subprocess
    import sys

    from tests.integration.cli_helpers import REPO_ROOT

    p = subprocess.Popen(
        [sys.executable, "-m", "triergon_studio", "probe", str(bad / "clip.mp4")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # nobody reads the output
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_export_into_a_file_is_refused(bad: Path, untouched: None) -> None:
    """Was: FileExistsError traceback from mkdir."""
    assert "not a folder" in fails_cleanly("export", "proj.json", "-o", "good.wav", names="good.wav", cwd=bad)
    assert "export folder" in fails_cleanly(
        "export", "proj.json", "-o", "good.wav/sub", names="good.wav/sub", cwd=bad
    )


def test_force_replaces_in_every_writing_command(bad: Path) -> None:
    """generate and predict-lufs take --force like conform, normalize, new and export (was: only --overwrite)."""
    out = bad / "replace_me.wav"
    ok(*GEN, "--duration", "0.5", "-o", out, inproc=True)
    ok(*GEN, "--duration", "0.5", "--seed", "2", "-o", out, "--force", inproc=True)
    ok("predict-lufs", bad / "clip.mp4", "--model", "tiny-random", "-o", bad / "pred.json", inproc=True)
    ok(
        "predict-lufs",
        bad / "clip.mp4",
        "--model",
        "tiny-random",
        "-o",
        bad / "pred.json",
        "--force",
        inproc=True,
    )
    out.unlink()
    (bad / "pred.json").unlink()


def test_conform_without_curves_fails_before_sampling(bad: Path, untouched: None) -> None:
    """Was: the whole generation ran first, then the error came (minutes with a real model)."""
    import time

    t0 = time.perf_counter()
    line = fails_cleanly(
        *GEN,
        "--duration",
        "20",
        "--conform",
        "--steps",
        "100",
        "-o",
        "g.wav",
        names="--conform",
        cwd=bad,
        inproc=True,
    )
    assert "needs curves" in line
    assert time.perf_counter() - t0 < 5.0  # 100 steps on 20 s (about 30 s of work) were not sampled
