"""Run the real CLI in a subprocess, as a user would, and check the one-line error contract."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
GEN = ["generate", "--model", "tiny-random", "--steps", "2", "--seed", "1", "--device", "cpu"]


@dataclass
class Result:
    rc: int
    out: str
    err: str


def cli(*args: str | Path, cwd: Path | None = None, timeout: float = 240) -> Result:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "triergon_studio", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def ok(*args: str | Path, cwd: Path | None = None, inproc: bool = False) -> Result:
    r = cli_inproc(*args, cwd=cwd) if inproc else cli(*args, cwd=cwd)
    assert r.rc == 0, f"{args} failed ({r.rc}): {r.err[-2000:]}"
    return r


def cli_inproc(*args: str | Path, cwd: Path | None = None) -> Result:
    """The same dispatcher in this process: for model commands, so each case does not pay torch's import.
    An exception other than StudioError escapes ``main`` and fails the test, like a traceback would."""
    import contextlib
    import io

    from triergon_studio.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
    finally:
        os.chdir(old)
    return Result(rc, out.getvalue(), err.getvalue())


def fails_cleanly(*args: str | Path, names: str, cwd: Path | None = None, inproc: bool = False) -> str:
    """Exit 2, exactly one stderr line, no traceback, and the line names the offending file."""
    r = cli_inproc(*args, cwd=cwd) if inproc else cli(*args, cwd=cwd)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert r.rc == 2, f"{args}: rc {r.rc}, stderr: {r.err[-2000:]}"
    assert "Traceback" not in r.err, r.err
    assert len(lines) == 1, f"{args}: expected one line, got {lines}"
    assert lines[0].startswith("error: "), lines
    assert names in lines[0], f"{args}: {lines[0]!r} does not name {names!r}"
    return lines[0]


def wav_frames(path: Path) -> tuple[int, int, int]:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames, info.samplerate, info.channels


def exact_samples(frames: int, fps: Fraction, sr: int) -> int:
    """round(frames * sr / fps) with ties up, computed here independently of core.timecode."""
    return math.floor(Fraction(frames) * sr / fps + Fraction(1, 2))


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256, to prove a failing command changed nothing."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def make_video(
    path: Path, seconds: float, fps: int | Fraction = 6, size: tuple[int, int] = (64, 48), audio: bool = False
) -> Path:
    """A tiny MPEG-4 video (moving gradient), optionally with a stereo AAC track."""
    import av

    w, h = size
    n = int(round(seconds * fps))
    with av.open(str(path), "w") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        a_s = c.add_stream("aac", rate=48000) if audio else None
        if a_s is not None:
            a_s.layout = "stereo"
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, : (i * 7) % w] = 200
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
        if a_s is not None:
            t = np.arange(int(seconds * 48000)) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(tone), 1024):
                block = np.stack([tone[k : k + 1024]] * 2)
                fr = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                fr.sample_rate = 48000
                for pkt in a_s.encode(fr):
                    c.mux(pkt)
            for pkt in a_s.encode():
                c.mux(pkt)
    return path
