"""Wall time of curve control for a 10 s take, as a multiple of unguided generation measured in the same run.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_curve_guidance.py [--repeats 2] [--model compact]
        [--modes guide,shape] [--modes "guide;guide, decode every pass"]

Modes run interleaved (off, shape, guide with the model's own knobs, the same decoding every pass instead of
reading a loudness track (where the model has one), guide moving the free latent, guide
moving gains with directions from the model folder's gain direction net or from the encoder, shape+guide, and
guide through the decoder alone: the free latent, gains, and a 2 s crop), each repeat in turn, so a change in
machine load hits them alike; the best of the repeats is reported.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def main() -> None:
    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.takes import generate_takes, load_model, run_to_end

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument(
        "--modes",
        default=None,
        help="the modes' names to run, split by commas, or by semicolons when a name has a comma (off is "
        "always run); all by default",
    )
    args = ap.parse_args()
    model = load_model(args.model)
    t = np.arange(60) / 6
    curve = LoudnessCurve(-45 + 25 * np.clip(t / 8, 0, 1), np.where((t % 2) < 0.5, -22.0, -70.0), 10.0)
    modes = {
        "off": ("off", {}),
        "shape": ("shape", {}),
        # the model's own knobs (config sampling.guide), through its loudness head when its folder has one
        "guide": ("guide", {}),
        # the same, decoding every pass where the model has a loudness track (guide_track 0)
        "guide, decode every pass": ("guide", {"guide_track": 0.0}),
        "guide, free latent (guide_gain 0)": ("guide", {"guide_gain": 0.0}),
        "guide, gains (guide_gain 2)": ("guide", {"guide_gain": 2.0}),
        "guide, gains by encoding (guide_gain 2, guide_gain_net 0)": (
            "guide",
            {"guide_gain": 2.0, "guide_gain_net": 0.0},
        ),
        "shape+guide": ("shape+guide", {}),
        "guide, decoder path, free latent": ("guide", {"guide_head": 0.0, "guide_gain": 0.0}),
        "guide, decoder path, gains (guide_gain 2)": ("guide", {"guide_head": 0.0, "guide_gain": 2.0}),
        "guide, decoder path, crop 2 s": (
            "guide",
            {"guide_head": 0.0, "guide_gain": 0.0, "guide_crop_s": 2.0},
        ),
    }
    if args.modes:
        names = args.modes.split(";" if ";" in args.modes else ",")  # ";" for names with commas
        keep = {"off", *(m.strip() for m in names)}
        unknown = keep - set(modes)
        if unknown:
            raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {list(modes)}")
        modes = {k: v for k, v in modes.items() if k in keep}
    best: dict[str, float] = {}
    for r in range(args.repeats + 1):  # the first round warms up
        for name, (mode, extra) in modes.items():
            spec = TakeSpec(
                span=TimeSpan(0.0, 10.0),
                text="footsteps on gravel",
                curves=curve,
                follow_curves=mode,
                seed=1,
                extra=extra,
            )
            t0 = time.perf_counter()
            run_to_end(generate_takes(spec, model))
            dt = time.perf_counter() - t0
            if r:
                best[name] = min(best.get(name, dt), dt)
    ref = best["off"]
    print("| mode | 10 s take (s) | vs off |\n|---|---:|---:|")
    for name, dt in best.items():
        print(f"| {name} | {dt:.2f} | {dt / ref:.2f}x |")
    fwd, both = _pass_costs(model, args.repeats + 1)
    print(
        f"\none decoder pass over 10 s: forward {fwd * 1000:.0f} ms (the head path), forward + backward "
        f"{both * 1000:.0f} ms (the decoder path): {fwd / both:.2f} of it"
    )


def _pass_costs(model: object, repeats: int) -> tuple[float, float]:
    """Best-of wall times of one decode of a 10 s latent without and with its backward pass."""
    import torch

    m: Any = model
    frames = int(round(10.0 * m.info.sample_rate / m.downsampling_ratio))
    z = torch.randn(1, m.latent_channels, frames, generator=torch.Generator().manual_seed(0))
    fwd = both = float("inf")
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        with torch.no_grad():
            m.decode(z)
        fwd = min(fwd, time.perf_counter() - t0)
        zg = z.clone().requires_grad_(True)
        t0 = time.perf_counter()
        torch.autograd.grad(m.decode(zg).pow(2).sum(), zg)
        both = min(both, time.perf_counter() - t0)
    return fwd, both


if __name__ == "__main__":
    main()
