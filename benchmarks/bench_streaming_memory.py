"""Peak memory of ``measure``, ``conform``, ``normalize`` and ``export`` against the length: 1 min, 30 min and
2 h of stereo.

Each programme is written block by block into a temporary folder on disk (deleted afterwards; nothing lands in
the repository), then every command runs on it in a fresh process; the peak resident set size of that process
comes from ``wait4``'s rusage. Ratios are against the shortest length measured in the same session.

- ``measure FILE --json``;
- ``conform FILE --curves C.json`` (a curve 6 LU either side of -20 LUFS; 6 iterations = 7 passes);
- ``normalize FILE --target r128``;
- ``export PROJECT --target r128`` of a picture as long as the programme, with three lanes: the programme
  itself on FOLEY, a 10 s take every minute on FX (trimmed and faded) and a 44.1 kHz take every 5 minutes
  on BG (resampled to the 48 kHz delivery): four 24-bit WAVs (stems + mix).

For contrast, the whole-array paths (what the commands did before they streamed: ``read_audio`` + the
in-memory function; for export ``render_lanes`` + ``normalize`` of the mix) run on the short lengths only,
since they grow with the length. Before each length the free disk space is checked (the programme, the
export's four WAVs and its float32 scratch mix); a length that does not fit is skipped and the table says so.

    python benchmarks/bench_streaming_memory.py                # 1 min, 30 min, 2 h
    python benchmarks/bench_streaming_memory.py --minutes 1 5  # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SR = 48000
FPS = 25
COMMANDS = ("measure", "conform", "normalize", "export")


def write_programme(path: Path, minutes: float, sr: int = SR, block_s: float = 10.0, seed: int = 1) -> None:
    """Stereo 24-bit WAV: noise bursts under a slow level ride (a busy Foley-like programme)."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * sr)
    block = int(block_s * sr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_24") as fh:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / sr
            env = 0.05 + 0.2 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 37.0))
            x = rng.standard_normal((n, 2)).astype(np.float32) * env[:, None].astype(np.float32)
            fh.write(np.clip(x, -1.0, 1.0))


def write_curves(path: Path, minutes: float) -> None:
    from triergon_studio.core.curves import CURVE_RATE_HZ, LoudnessCurve

    seconds = minutes * 60
    frames = int(np.ceil(seconds * CURVE_RATE_HZ))
    t = np.arange(frames) / CURVE_RATE_HZ
    LoudnessCurve(
        -20.0 + 6.0 * np.sin(2 * np.pi * t / 11.0), -20.0 + 6.0 * np.cos(2 * np.pi * t / 13.0), seconds
    ).save(path)


def write_project(folder: Path, programme: Path, minutes: float) -> Path:
    from triergon_studio.core.model import Take
    from triergon_studio.core.project import Project

    project = Project(folder / "bench.json")
    project.fps, project.frame_count, project.duration_s = (
        Fraction(FPS),
        int(minutes * 60 * FPS),
        minutes * 60,
    )
    takes = folder / "takes"
    takes.mkdir(parents=True, exist_ok=True)
    write_programme(takes / "hit.wav", 10 / 60, seed=2)
    write_programme(takes / "bed.wav", 30 / 60, sr=44100, seed=3)
    for tid, name, seconds, rate in (
        ("prog", programme.name, minutes * 60, SR),
        ("hit", "hit.wav", 10.0, SR),
        ("bed", "bed.wav", 30.0, 44100),
    ):
        project.add_take(
            Take(
                id=tid,
                name=tid,
                path=f"takes/{name}",
                duration_s=seconds,
                sample_rate=rate,
                source="imported",
            )
        )
    project.place_take("prog", "FOLEY", 0.0)
    for k in range(max(1, int(minutes))):
        project.place_take("hit", "FX", 60.0 * k + 5.0)
        if k % 5 == 0:
            project.place_take("bed", "BG", 60.0 * k + 20.0)
    fx = project.lane("FX")
    for item in fx.items:
        project.edit_item(item.id, trim_in_s=1.0, trim_out_s=9.0, fade_in_s=0.5, fade_out_s=1.5)
    project.set_lane_gain("FX", -6.0)
    project.save()
    return project.path  # type: ignore[return-value]


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


WHOLE = {
    "measure": "from triergon_studio.audio.loudness import analyze; a, sr = read_audio(f); analyze(a, sr)",
    "conform": "from triergon_studio.audio.conform import conform_to_curve; "
    "from triergon_studio.core.curves import LoudnessCurve; a, sr = read_audio(f); "
    "conform_to_curve(a, sr, LoudnessCurve.load(sys.argv[2]))",
    "normalize": "from triergon_studio.audio.normalize import normalize; a, sr = read_audio(f); "
    "normalize(a, sr, -23.0, -1.0)",
    "export": "import numpy as np; from triergon_studio.core.project import Project; "
    "from triergon_studio.audio.export import render_lanes, audible_lanes; "
    "from triergon_studio.audio.normalize import normalize; p = Project.load(sys.argv[3]); "
    "n = p.picture_samples(48000); lanes = render_lanes(p, 48000, n); mix = sum(lanes[k] for k in audible_lanes(p)); "
    "normalize(mix, 48000, -23.0, -1.0)",
}


def whole_cmd(py: str, what: str, wav: Path, curves: Path, project: Path) -> list[str]:
    code = "import sys; from triergon_studio.audio.io import read_audio; f = sys.argv[1]; " + WHOLE[what]
    return [py, "-c", code, str(wav), str(curves), str(project)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 30.0, 120.0])
    ap.add_argument(
        "--whole-up-to",
        type=float,
        default=1.0,
        help="also run the whole-array paths for lengths up to this many minutes",
    )
    ap.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system temp)")
    args = ap.parse_args()
    py = sys.executable
    rows: list[tuple[float, float, dict[str, tuple[float, float]], dict[str, float]]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="triergon-bench-") as tmp:
        for minutes in args.minutes:
            frames = minutes * 60 * SR
            need = frames * 6 * 6 + frames * 8  # programme + 4 export WAVs (24-bit) + scratch mix, with slack
            free = shutil.disk_usage(tmp).free
            if need > free:
                skipped.append(
                    f"{minutes:g} min (needs about {need / 2**30:.1f} GiB, {free / 2**30:.1f} free)"
                )
                print(f"{minutes:g} min: skipped, not enough disk space", flush=True)
                continue
            folder = Path(tmp) / f"m{minutes:g}"
            wav = folder / "takes" / "programme.wav"
            t0 = time.perf_counter()
            write_programme(wav, minutes)
            curves = folder / "curves.json"
            write_curves(curves, minutes)
            project = write_project(folder, wav, minutes)
            made = time.perf_counter() - t0
            size_mib = wav.stat().st_size / 2**20
            got: dict[str, tuple[float, float]] = {}
            for what in COMMANDS:
                out = folder / f"out_{what}"
                cmd = {
                    "measure": ["measure", str(wav), "--json"],
                    "conform": ["conform", str(wav), "--curves", str(curves), "-o", f"{out}.wav"],
                    "normalize": ["normalize", str(wav), "--target", "r128", "-o", f"{out}.wav"],
                    "export": [
                        "export",
                        str(project),
                        "-o",
                        str(out),
                        "--target",
                        "r128",
                        "--sample-rate",
                        "48000",
                    ],
                }[what]
                rss, wall, _ = run_child([py, "-m", "triergon_studio", *cmd])
                got[what] = (rss, wall)
                if out.is_dir():
                    shutil.rmtree(out)
                Path(f"{out}.wav").unlink(missing_ok=True)
                print(f"{minutes:g} min {what}: peak RSS {rss:.1f} MiB in {wall:.1f} s", flush=True)
            whole: dict[str, float] = {}
            if minutes <= args.whole_up_to:
                for what in COMMANDS:
                    whole[what] = run_child(whole_cmd(py, what, wav, curves, project))[0]
                    print(
                        f"{minutes:g} min {what}, whole-array path: peak RSS {whole[what]:.1f} MiB",
                        flush=True,
                    )
            rows.append((minutes, size_mib, got, whole))
            print(
                f"{minutes:g} min: programme {size_mib:.0f} MiB (inputs written in {made:.1f} s)", flush=True
            )
            shutil.rmtree(folder)
    if not rows:
        raise SystemExit("nothing measured")
    base = rows[0][2]
    print()
    head = " | ".join(f"`{w}` peak RSS (x {rows[0][0]:g} min) | time" for w in COMMANDS)
    print(f"| stereo length | file | {head} |")
    print("| ---: | ---: | " + " | ".join("---: | ---:" for _ in COMMANDS) + " |")
    for minutes, size_mib, got, _ in rows:
        cells = " | ".join(
            f"{got[w][0]:.1f} MiB ({got[w][0] / base[w][0]:.3f}x) | {got[w][1]:.1f} s" for w in COMMANDS
        )
        print(f"| {minutes:g} min | {size_mib:.0f} MiB | {cells} |")
    for minutes, _, got, whole in rows:
        if whole:
            print()
            print(
                f"Whole-array paths at {minutes:g} min (before streaming): "
                + ", ".join(
                    f"{w} {whole[w]:.0f} MiB ({whole[w] / got[w][0]:.2f}x streamed)" for w in COMMANDS
                )
            )
    for s in skipped:
        print(f"skipped: {s}")
    print(json.dumps({"rows": [[m, s, g] for m, s, g, _ in rows], "skipped": skipped}))


if __name__ == "__main__":
    main()
