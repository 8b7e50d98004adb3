"""How often the long calls report progress, and what reporting costs (run by hand:
python benchmarks/bench_progress.py [--take-s 139] [--steps 25] [--video PATH]).

For each call: the number of progress updates, the longest gap between two updates (and between the start and
the first one), and the wall time with progress as a ratio to the same call without it, measured in this run:

- loading the bundled model (``takes.load_model`` with ``progress=``, against without);
- a long take on the bundled model (``takes.generate_takes``): updates while decoding, the longest gap during
  decoding and overall; the reference is one window's plain ``decode`` against its ``decode_steps``;
- curve prediction on a video: T_LUFS and motion (with ``progress=`` against without).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from triergon_studio.core.take_spec import TakeSpec, TimeSpan  # noqa: E402
from triergon_studio.takes import generate_takes, load_model, predict_curves  # noqa: E402


class Clock:
    """Times of the updates, from a start."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.times: list[float] = []
        self.stages: list[str] = []

    def __call__(self, *args: Any) -> None:
        self.times.append(time.perf_counter() - self.t0)

    def gaps(self, end: float) -> list[float]:
        points = [0.0, *self.times, end]
        return [b - a for a, b in zip(points, points[1:], strict=False)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def report_line(name: str, n: int, longest: float, with_s: float, without_s: float) -> None:
    print(
        f"{name:<34} {n:>7} {longest:>10.2f} {with_s:>9.2f} {without_s:>9.2f} {with_s / without_s:>7.3f}x",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="compact")
    ap.add_argument("--take-s", type=float, default=139.0)
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "media" / "bottle-detection.mp4")
    args = ap.parse_args()
    import torch

    print(f"torch threads {torch.get_num_threads()}; model {args.model}; video {args.video.name}")
    print(f"{'call':<34} {'updates':>7} {'longest s':>10} {'with s':>9} {'ref s':>9} {'ratio':>8}")

    # a cold load (the engine's first imports included), as the app's first job sees it
    clock = Clock()
    cold_s, model = timed(lambda: load_model(args.model, progress=clock))
    print(
        f"first load in this process: {cold_s:.2f} s, {len(clock.times)} updates, longest gap "
        f"{max(clock.gaps(cold_s)):.2f} s",
        flush=True,
    )

    def best_of(fn: Callable[[Clock | None], Any], repeats: int = 2) -> tuple[float, float, Clock]:
        """Best wall time with progress and without, interleaved; the clock of the best run with progress."""
        best_with, best_without, best_clock = float("inf"), float("inf"), Clock()
        for _ in range(repeats):
            c = Clock()
            t, _ = timed(lambda c=c: fn(c))
            if t < best_with:
                best_with, best_clock = t, c
            best_without = min(best_without, timed(lambda: fn(None))[0])
        return best_with, best_without, best_clock

    w, wo, c = best_of(lambda c: load_model(args.model, progress=c))
    report_line("load the model (warm)", len(c.times), max(c.gaps(w)), w, wo)
    if args.video.is_file():
        for method in ("t_lufs", "motion"):
            w, wo, c = best_of(lambda c, m=method: predict_curves(model, str(args.video), m, c))
            report_line(f"predict curves ({method})", len(c.times), max(c.gaps(w)), w, wo)

    # one window's decode: stepwise (with progress) against the plain decode
    frames = -(
        -round(min(args.take_s, model.info.capabilities.max_window_s) * model.info.sample_rate) // 2048
    )
    latent = torch.randn(1, model.latent_channels, frames, generator=torch.Generator().manual_seed(0))
    clock = Clock()

    def stepped() -> Any:
        steps = model.decode_steps(latent)  # type: ignore[attr-defined]
        while True:
            with torch.no_grad():
                try:
                    next(steps)
                except StopIteration as stop:
                    return stop.value
            clock()

    with_s, a = timed(stepped)
    with torch.no_grad():
        without_s, b = timed(lambda: model.decode(latent))
    assert torch.equal(a, b), "stepwise decoding must give the same samples"
    report_line(
        f"decode one window ({frames} latents)", len(clock.times), max(clock.gaps(with_s)), with_s, without_s
    )

    spec = TakeSpec(span=TimeSpan(0.0, args.take_s), steps=args.steps, seed=0)
    t0 = time.perf_counter()
    stamps: list[tuple[float, str, float]] = []
    gen = generate_takes(spec, model)
    while True:
        try:
            p = next(gen)
        except StopIteration:
            break
        stamps.append((time.perf_counter() - t0, p.stage, p.fraction))
    end = time.perf_counter() - t0
    times = [0.0] + [t for t, _, _ in stamps] + [end]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    worst = max(range(len(gaps)), key=gaps.__getitem__)
    after = stamps[worst - 1][1] if worst > 0 else "start"
    before = stamps[worst][1] if worst < len(stamps) else "end"
    dec = [i for i, (_, s, _) in enumerate(stamps) if s == "decoding"]
    dec_gaps = [stamps[i][0] - stamps[i - 1][0] for i in dec if i > 0 and stamps[i - 1][1] == "decoding"]
    fractions = [f for _, _, f in stamps]
    print(
        f"take of {args.take_s:g} s: {len(stamps)} updates in {end:.1f} s, {len(dec)} while decoding; longest gap "
        f"while decoding {max(dec_gaps, default=0.0):.2f} s, overall {max(gaps):.2f} s (from {after} to {before}); "
        f"fraction only moves "
        f"forward: {fractions == sorted(fractions)}, ends at {fractions[-1]:.3f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
