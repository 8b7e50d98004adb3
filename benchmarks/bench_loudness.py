"""Loudness engine speed against pyloudnorm, measured in the same run (run by hand, not in CI).

    PYTHONPATH=. python benchmarks/bench_loudness.py [--repeats 7] [--seconds 60]

On 60 s of stereo at 44.1 kHz it times, best of N:
  reference  pyloudnorm.Meter(44100).integrated_loudness(x)          (one call)
  curves     audio.loudness.channel_curves(x, sr)                      (the paper's L/R 6 Hz curves)
  all        audio.loudness.analyze(x, sr): curves + momentary and short-term series + integrated + LRA
             + true peak (4x) + sample peak
and the whole process ``triergon-studio measure FILE --json`` against a Python process that reads the same
file with soundfile and makes the one pyloudnorm call. Targets: all <= 1.0x, curves <= 0.2x, process
<= 1.5x. Two programmes: "foley" (bursts, tones, ambience, silence; what the app measures) and white noise
(the worst case for the screened true peak, which then oversamples everything).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triergon_studio.audio import loudness as ld  # noqa: E402
from triergon_studio.audio.io import write_wav  # noqa: E402

SR = 44100


def foley(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    steps = (
        np.exp(-((t % 0.55) * 16)) * (rng.uniform(0.3, 1.0, int(seconds / 0.55) + 1)[(t // 0.55).astype(int)])
    )
    x = rng.standard_normal((n, 2)) * 0.25 * steps[:, None] * np.array([1.0, 0.6])
    hum = np.stack([np.sin(2 * np.pi * 140 * t), np.sin(2 * np.pi * 140 * t + 0.4)], axis=1)
    x += 0.03 * hum * (1 + np.sin(2 * np.pi * 0.05 * t))[:, None]
    x += 0.004 * rng.standard_normal((n, 2))  # room tone
    gap = (t % 15) > 13.5  # silences
    x[gap] = 0.0
    return x


def noise(seconds: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((int(seconds * SR), 2)) * 0.1


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Minimum time of each function, run round-robin so load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm caches and imports
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _single_thread(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        saved = ld._THREADS
        ld._THREADS = 1
        try:
            return fn()
        finally:
            ld._THREADS = saved

    return run


def process_times(cmds: list[list[str]], repeats: int, env: dict[str, str]) -> list[float]:
    """Minimum wall time of each whole process, run alternately."""
    best = [float("inf")] * len(cmds)
    for _ in range(repeats):
        for i, cmd in enumerate(cmds):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    import pyloudnorm as pyln

    meter = pyln.Meter(SR)
    rows: list[tuple[str, str, float, float]] = []
    print(
        f"# loudness benchmark: {args.seconds:g} s stereo {SR} Hz, best of {args.repeats}, cpus={os.cpu_count()}"
    )
    for name, x in (("foley", foley(args.seconds)), ("white noise", noise(args.seconds))):
        t = best_of(
            {
                "ref": lambda x=x: meter.integrated_loudness(x),
                "curves": lambda x=x: ld.channel_curves(x, SR),
                "full": lambda x=x: ld.analyze(x, SR),
                "curves_1": _single_thread(lambda x=x: ld.channel_curves(x, SR)),
                "full_1": _single_thread(lambda x=x: ld.analyze(x, SR)),
            },
            args.repeats,
        )
        ref, curves, full, curves_1, full_1 = (t[k] for k in ("ref", "curves", "full", "curves_1", "full_1"))
        print(f"\n## {name}")
        print(f"pyloudnorm integrated_loudness        {ref * 1e3:8.1f} ms   (reference 1.00x)")
        print(
            f"curves (L/R 6 Hz)                     {curves * 1e3:8.1f} ms   {curves / ref:5.2f}x  (target <= 0.20x)"
        )
        print(
            f"all (curves+M+S+I+LRA+TP+SP)          {full * 1e3:8.1f} ms   {full / ref:5.2f}x  (target <= 1.00x)"
        )
        print(f"curves, one thread                    {curves_1 * 1e3:8.1f} ms   {curves_1 / ref:5.2f}x")
        print(f"all, one thread                       {full_1 * 1e3:8.1f} ms   {full_1 / ref:5.2f}x")
        rows += [
            (name, "pyloudnorm integrated_loudness (reference)", ref * 1e3, 1.0),
            (name, "curves (L/R 6 Hz)", curves * 1e3, curves / ref),
            (name, "all: curves + M/S series + I + LRA + true peak", full * 1e3, full / ref),
            (name, "all, single thread", full_1 * 1e3, full_1 / ref),
        ]

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "foley.wav"
        write_wav(wav, foley(args.seconds), SR, bits="24")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        ours = [sys.executable, "-m", "triergon_studio", "measure", str(wav), "--json"]
        theirs = [
            sys.executable,
            "-c",
            "import sys, soundfile, pyloudnorm; x, sr = soundfile.read(sys.argv[1]); "
            "print(pyloudnorm.Meter(sr).integrated_loudness(x))",
            str(wav),
        ]
        process_times([ours, theirs], 1, env)  # warm the page cache
        t_theirs, t_ours = process_times([theirs, ours], args.repeats, env)
    print("\n## whole process (60 s foley WAV, 24-bit)")
    print(f"python + soundfile.read + pyloudnorm  {t_theirs * 1e3:8.1f} ms   (reference 1.00x)")
    print(
        f"triergon-studio measure --json        {t_ours * 1e3:8.1f} ms   {t_ours / t_theirs:5.2f}x  (target <= 1.50x)"
    )
    rows.append(("process", "python -c soundfile.read + pyloudnorm (reference)", t_theirs * 1e3, 1.0))
    rows.append(("process", "triergon-studio measure FILE --json", t_ours * 1e3, t_ours / t_theirs))

    print("\n## README table (paste)\n")
    print("| audio | what | time (ms) | ratio to reference |")
    print("| --- | --- | ---: | ---: |")
    for audio, what, ms, ratio in rows:
        print(f"| {audio} | {what} | {ms:.1f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
