"""Issue 15: the bad and odd inputs that used to end in a traceback, a hang, a wrong result with exit 0, a
warning-only acceptance or a wrong refusal. Each case now exits 2 with one line (or succeeds correctly)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli_helpers import cli, cli_inproc, fails_cleanly, make_video, ok
from tests.reliability.conftest import project_doc, write_project

GEN = ["generate", "--model", "tiny-random", "--steps", "1", "--device", "cpu"]


class Killed(BaseException):
    """Stands for kill -9 at a chosen moment: nothing catches it, so no cleanup of ours runs after it."""


# ---- case 1: measure holds memory flat in the length -------------------------------------------------------
def test_case01_measure_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    """4 min of 8 kHz stereo (small to write, long in blocks): the whole-array path held about 75 MB of
    arrays for it, growing with the length; streaming holds a few blocks whatever the length."""
    rng = np.random.default_rng(0)
    paths = {}
    for minutes in (0.1, 4):
        paths[minutes] = tmp_path / f"long{minutes}.wav"
        with sf.SoundFile(str(paths[minutes]), "w", 8000, 2, subtype="PCM_16") as fh:
            for _ in range(max(1, int(minutes * 6))):
                fh.write((0.1 * rng.standard_normal((80000, 2))).astype(np.float32))
    ok("measure", paths[0.1], "--json", inproc=True)  # imports done before tracing
    tracemalloc.start()
    try:
        r = cli_inproc("measure", paths[4], "--json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.rc == 0, r.err
    assert json.loads(r.out)["duration_s"] == 240.0
    assert peak < 30 * 2**20, f"measure peaked at {peak / 2**20:.0f} MiB of traced allocations for 4 min"


# ---- cases 2-4: project values out of range ----------------------------------------------------------------
@pytest.mark.parametrize("frames", [10**8, 10**12])
def test_case02_export_of_huge_frame_count_is_refused(media: Path, frames: int) -> None:
    doc = project_doc(media)
    doc["frame_count"] = frames
    proj = write_project(media, f"huge{frames}.json", doc)
    t0 = time.perf_counter()
    line = fails_cleanly("export", proj, "-o", media / f"out{frames}", names=proj.name, inproc=True)
    assert "frame_count" in line and "24 h" in line
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize(("num", "den"), [(10**30, 1), (1, 10**30)])
def test_case03_absurd_frame_rates_are_refused(media: Path, num: int, den: int) -> None:
    doc = project_doc(media)
    doc["fps"] = {"num": num, "den": den, "drop_frame": False}
    proj = write_project(media, f"fps{num}_{den}.json", doc)
    line = fails_cleanly("export", proj, "-o", media / "out_fps", names=proj.name, inproc=True)
    assert "frame rate must be between 0.1 and 1000 fps" in line


@pytest.mark.parametrize("gain", [1e308, -1e308, 1000.0])
def test_case04_absurd_lane_gain_is_refused(media: Path, gain: float) -> None:
    doc = project_doc(media)
    doc["lanes"][0]["gain_db"] = gain
    proj = write_project(media, "gain.json", doc)
    line = fails_cleanly("export", proj, "-o", media / "out_gain", names=proj.name, inproc=True)
    assert "gain_db must be between -120 and 24 dB" in line


# ---- case 5: generate's seed, device and duration ----------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--duration", "2", "--seed", str(2**70)], "seed must be between 0 and 9223372036854775807"),
        (["--duration", "2", "--seed", "-1"], "seed must be between 0"),
        (["--duration", "2", "--device", "bogus"], "available: auto, cpu"),
        (["--duration", "1e-6"], "duration must be between 0.1 and 3600 s"),
    ],
)
def test_case05_generate_parameters(tmp_path: Path, args: list[str], says: str) -> None:
    gen = [a for a in GEN if a not in ("--device", "cpu")] if "--device" in args else GEN
    line = fails_cleanly(*gen, *args, "-o", tmp_path / "g.wav", names="", inproc=True)
    assert says in line
    assert not (tmp_path / "g.wav").exists()


# ---- case 6: config.json of random bytes -------------------------------------------------------------------
def test_case06_random_bytes_config_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "junkmodel"
    folder.mkdir()
    (folder / "config.json").write_bytes(
        bytes(np.random.default_rng(3).integers(0, 256, 600, dtype=np.uint8))
    )
    video = make_video(tmp_path / "v.mp4", 1.0)
    for cmd in (
        ["model-info", folder],
        [*GEN[:1], "--duration", "1", "--model", folder, "-o", tmp_path / "g.wav"],
        ["predict-lufs", video, "--model", folder, "-o", tmp_path / "c.json"],
    ):
        line = fails_cleanly(*cmd, names="config.json", inproc=True)
        assert "UTF-8" in line or "JSON" in line


# ---- case 7: predict-lufs output on a read-only place ------------------------------------------------------
def test_case07_predict_lufs_unwritable_output(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 1.0)
    target = Path("/proc/triergon_curves.json")  # a read-only file system, even for root
    line = fails_cleanly(
        "predict-lufs",
        video,
        "--model",
        "tiny-random",
        "--device",
        "cpu",
        "-o",
        target,
        names=str(target),
        inproc=True,
    )
    assert "cannot write the curves" in line


# ---- case 8: generate --duration 1e9 is refused at once ----------------------------------------------------
def test_case08_huge_duration_refused_immediately(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    line = fails_cleanly(*GEN, "--duration", "1e9", "-o", tmp_path / "g.wav", names="", inproc=True)
    assert "duration must be between 0.1 and 3600 s" in line and "memory" in line
    assert time.perf_counter() - t0 < 5


# ---- case 10: curves shorter than the take -----------------------------------------------------------------
def _curves(path: Path, seconds: float) -> Path:
    n = int(round(seconds * 6))
    path.write_text(
        json.dumps(
            {
                "format": "triergon-curves",
                "version": 1,
                "rate_hz": 6.0,
                "duration_s": seconds,
                "left": list(np.linspace(-40, -20, n)),
                "right": [-30.0] * n,
                "source": "drawn",
            }
        )
    )
    return path


def test_case10_generate_refuses_curves_of_another_length(tmp_path: Path) -> None:
    c3 = _curves(tmp_path / "c3.json", 3.0)
    line = fails_cleanly(
        *GEN, "--duration", "20", "--curves", c3, "-o", tmp_path / "g.wav", names="c3.json", inproc=True
    )
    assert "the curves cover 3.00 s" in line and "20.00 s" in line and "--fit-curves" in line
    # conform refuses the same mismatch
    sf.write(tmp_path / "a.wav", np.zeros((44100 * 20, 2), np.float32) + 0.01, 44100)
    fails_cleanly(
        "conform", tmp_path / "a.wav", "--curves", c3, "-o", tmp_path / "o.wav", names="c3.json", inproc=True
    )


def test_case10_fit_curves_stretches_on_request(tmp_path: Path) -> None:
    c1 = _curves(tmp_path / "c1.json", 1.0)
    r = ok(*GEN, "--duration", "2", "--curves", c1, "--fit-curves", "-o", tmp_path / "g.wav", inproc=True)
    assert "wrote" in r.out
    side = json.loads((tmp_path / "g.take.json").read_text())
    assert side["curves"]["duration_s"] == 2.0 and len(side["curves"]["left"]) == 12
    assert side["curves"]["left"][0] < side["curves"]["left"][-1]  # the ramp keeps its shape


# ---- case 11: model-info on {} -----------------------------------------------------------------------------
def test_case11_empty_config_is_not_reported_as_tiny(tmp_path: Path) -> None:
    folder = tmp_path / "empty_cfg"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    line = fails_cleanly("model-info", folder, names="config.json", inproc=True)
    assert "not a Tri-Ergon model config" in line


# ---- case 12: export targets validated like normalize ------------------------------------------------------
def test_case12_export_custom_target_out_of_range(media: Path, tmp_path: Path) -> None:
    line = fails_cleanly(
        "export",
        media / "proj.json",
        "-o",
        tmp_path / "out",
        "--target",
        "custom",
        "--lufs",
        "50",
        "--true-peak",
        "99",
        names="out",
        inproc=True,
    )
    assert "target loudness must be between -70 and 0 LUFS" in line
    line2 = fails_cleanly(
        "normalize",
        media / "tone.wav",
        "--target",
        "50",
        "--true-peak",
        "99",
        "-o",
        tmp_path / "n.wav",
        names="",
        inproc=True,
    )
    assert "target loudness must be between -70 and 0 LUFS" in line2
    assert not (tmp_path / "out").exists()


# ---- case 13: the bundled name verifies its folder ---------------------------------------------------------
def test_case13_model_info_compact_verify() -> None:
    r = ok("model-info", "compact", "--verify", inproc=True)
    info = json.loads(r.out)
    # the bundle's evaluation classifier and loudness head are checked with the weights (version 3 has no gain
    # direction net: docs/training_runs/compact-v3)
    assert info["verified"] == [
        "config.json",
        "eval_classifier.safetensors",
        "loudness_head.safetensors",
        "model.safetensors",
    ]
    assert info["training"] is not None


# ---- case 16: a refused Stable Audio folder prints one line -------------------------------------------------
def test_case16_library_warning_does_not_reach_stderr(tmp_path: Path) -> None:
    import torch

    folder = tmp_path / "sao"
    folder.mkdir()
    (folder / "model_config.json").write_text(json.dumps(_tiny_sao_config()))
    # a sparse CSR tensor makes torch.load emit a UserWarning while reading; the keys then do not fit
    torch.save({"state_dict": {"model.x": torch.eye(3).to_sparse_csr()}}, folder / "model.ckpt")
    r = cli(*GEN, "--duration", "1", "--model", folder, "-o", tmp_path / "g.wav")
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert r.rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert "Warning" not in r.err


def _tiny_sao_config() -> dict:  # type: ignore[type-arg]
    from tests.engine.sao_helpers import tiny_config

    return tiny_config("1.0")


# ---- case 9: one picture length for VFR, rotated and odd-size videos ---------------------------------------
def _vfr(path: Path) -> Path:
    from tests.video.video_factory import make_video as mv

    pts = [i * 100 for i in range(30)] + [3000 + i * 40 for i in range(25)]  # 10 fps, then 25 fps: ends 4.0 s
    return mv(path, len(pts), fps=25, pts_ms=pts)


def _rotated(path: Path) -> Path:
    from tests.video.video_factory import make_video as mv
    from tests.video.video_factory import rotated_copy

    src = mv(path.with_name("unrot.mp4"), 20, fps=10, size=(80, 48))
    return rotated_copy(src, path, 90)


def _odd(path: Path) -> Path:
    from fractions import Fraction

    from tests.video.video_factory import make_video as mv

    return mv(path, 23, fps=Fraction(30000, 1001), size=(66, 50))


@pytest.mark.parametrize("kind", ["vfr", "rotated", "odd"])
def test_case09_picture_length_is_the_same_everywhere(tmp_path: Path, kind: str) -> None:
    video = {"vfr": _vfr, "rotated": _rotated, "odd": _odd}[kind](tmp_path / f"{kind}.mp4")
    probe = json.loads(ok("probe", video, inproc=True).out)
    n = probe["picture_samples"]["44100"]
    if kind == "vfr":
        assert probe["is_vfr"] and n == 176400
    ok(*GEN, video, "-o", tmp_path / "take.wav", inproc=True)
    assert sf.info(str(tmp_path / "take.wav")).frames == n
    ok(
        "predict-lufs",
        video,
        "--model",
        "tiny-random",
        "--device",
        "cpu",
        "-o",
        tmp_path / "c.json",
        inproc=True,
    )
    curves = json.loads((tmp_path / "c.json").read_text())
    assert round(curves["duration_s"] * 44100) == n
    ok("new", video, "-o", tmp_path / "p.json", "--sample-rate", "44100", inproc=True)
    ok("add-take", tmp_path / "p.json", tmp_path / "take.wav", inproc=True)
    rep = json.loads(ok("export", tmp_path / "p.json", "-o", tmp_path / "out", inproc=True).out)
    assert rep["picture_samples"] == n
    for f in rep["files"]:
        if f.endswith(".wav"):
            assert sf.info(f).frames == n


# ---- cases 17, 18: exports finish or roll back -------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_case17_stale_leftovers_of_a_killed_export_are_cleaned(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pid = _dead_pid()
    legacy = out / f".proj_MIX.partial-{pid}.wav"
    legacy.write_bytes(b"\0" * 1000)
    staging = out / f".triergon-export-{pid}-deadbeef"
    staging.mkdir()
    (staging / "proj_MIX.wav").write_bytes(b"\0" * 1000)
    mine = out / f".proj_MIX.partial-{os.getpid()}.wav"  # a live process's file is never touched
    mine.write_bytes(b"x")
    user = out / ".hidden_user_file.wav"
    user.write_bytes(b"y")
    ok("export", media / "proj.json", "-o", out, inproc=True)
    assert not legacy.exists() and not staging.exists()
    assert mine.exists() and user.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".triergon-export-")]


def test_case18_interrupted_commit_is_detected_and_resumed(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import triergon_studio.audio.export as ex

    out = tmp_path / "out"
    real = ex._move
    calls = {"n": 0}

    def dying_move(src: Path, dst: Path) -> None:
        if calls["n"] == 3:
            raise Killed  # between two renames
        calls["n"] += 1
        real(src, dst)

    monkeypatch.setattr(ex, "_move", dying_move)
    with pytest.raises(Killed):
        cli_inproc("export", media / "proj.json", "-o", out, "--reaper", "--mux", "mp4")
    monkeypatch.setattr(ex, "_move", real)
    finals = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(finals) == 3 and not (out / "proj_export.json").exists()
    line = fails_cleanly(
        "export", media / "proj.json", "-o", out, "--reaper", "--mux", "mp4", names="out", inproc=True
    )
    assert "unfinished export" in line and "--resume" in line and "3 of 7" in line
    r = ok("export", media / "proj.json", "-o", out, "--reaper", "--mux", "mp4", "--resume", inproc=True)
    report = json.loads((out / "proj_export.json").read_text())
    assert len(json.loads(r.out)["files"]) == 7 == len(report["files"]) + 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f["file"] for f in report["files"]] + ["proj_export.json"]
    )  # no journal, no staging left
    # a finished export is a plain "would overwrite" again; --force redoes it
    assert "would overwrite" in fails_cleanly(
        "export", media / "proj.json", "-o", out, "--reaper", names="out", inproc=True
    )


def test_case18_force_redoes_an_unfinished_export(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import triergon_studio.audio.export as ex

    out = tmp_path / "out"
    real = ex._move

    def dying_move(src: Path, dst: Path) -> None:
        if dst.name.endswith("_MIX.wav"):
            raise Killed
        real(src, dst)

    monkeypatch.setattr(ex, "_move", dying_move)
    with pytest.raises(Killed):
        cli_inproc("export", media / "proj.json", "-o", out)
    monkeypatch.setattr(ex, "_move", real)
    ok("export", media / "proj.json", "-o", out, "--force", inproc=True)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    shutil.rmtree(out)
