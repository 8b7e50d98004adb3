"""Peak memory of ``triergon-studio measure`` against the length of the file: 1 min, 30 min and 2 h of stereo.

Each file is written block by block into a temporary folder on disk (deleted afterwards; nothing lands in the
repository), then measured in a fresh process; the peak resident set size of that process comes from
``wait4``'s rusage. The ratio is against the 1-minute run measured in the same session. For contrast, the
whole-array path (``read_audio`` + ``analyze``, what ``measure`` did before it streamed) runs on the shortest
lengths only, since it grows with the length.

    python benchmarks/bench_streaming_memory.py                # 1 min, 30 min, 2 h
    python benchmarks/bench_streaming_memory.py --minutes 1 5  # a quick run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 48000


def write_programme(path: Path, minutes: float, block_s: float = 10.0) -> None:
    """Stereo 24-bit WAV: noise bursts under a slow level ride (a busy Foley-like programme)."""
    rng = np.random.default_rng(1)
    total = int(minutes * 60 * SR)
    block = int(block_s * SR)
    with sf.SoundFile(str(path), "w", SR, 2, subtype="PCM_24") as fh:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / SR
            env = 0.05 + 0.2 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 37.0))
            x = rng.standard_normal((n, 2)).astype(np.float32) * env[:, None].astype(np.float32)
            fh.write(np.clip(x, -1.0, 1.0))


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text, etext = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {etext[-500:]}")
    return usage.ru_maxrss / 1024.0, wall, text  # Linux reports KiB


WHOLE = (
    "import sys; from triergon_studio.audio.io import read_audio; from triergon_studio.audio.loudness import analyze;"
    "a, sr = read_audio(sys.argv[1]); print(analyze(a, sr).report().integrated_lufs)"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 30.0, 120.0])
    ap.add_argument(
        "--whole-up-to",
        type=float,
        default=5.0,
        help="also run the whole-array path for lengths up to this many minutes",
    )
    ap.add_argument("--tmp", default=None, help="folder for the temporary WAVs (default: the system temp)")
    args = ap.parse_args()
    py = sys.executable
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="triergon-bench-") as tmp:
        for minutes in args.minutes:
            wav = Path(tmp) / f"programme_{minutes:g}min.wav"
            t0 = time.perf_counter()
            write_programme(wav, minutes)
            made = time.perf_counter() - t0
            size_mib = wav.stat().st_size / 2**20
            rss, wall, out = run_child([py, "-m", "triergon_studio", "measure", str(wav), "--json"])
            whole = None
            if minutes <= args.whole_up_to:
                whole = run_child([py, "-c", WHOLE, str(wav)])[0]
            rows.append((minutes, size_mib, rss, wall, whole))
            print(
                f"{minutes:g} min: file {size_mib:.0f} MiB (written in {made:.1f} s); measure peak RSS "
                f"{rss:.1f} MiB in {wall:.1f} s; whole-array path "
                f"{'-' if whole is None else f'{whole:.1f} MiB'}",
                flush=True,
            )
            wav.unlink()
    base = rows[0][2]
    print()
    print(
        f"| stereo length | file size | `measure` peak RSS | ratio to {rows[0][0]:g} min | wall time | "
        "whole-array path (before) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for minutes, size_mib, rss, wall, whole in rows:
        w = "not run" if whole is None else f"{whole:.0f} MiB"
        print(
            f"| {minutes:g} min | {size_mib:.0f} MiB | {rss:.1f} MiB | {rss / base:.3f}x | {wall:.1f} s | {w} |"
        )


if __name__ == "__main__":
    main()
