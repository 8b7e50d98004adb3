"""Generation speed of the bundled model on this machine: 10 s of stereo at its default steps.

    python benchmarks/bench_bundled.py [--model model_weights/compact] [--seconds 10] [--threads 2]

Prints the wall time of one full generation (text + predicted curves, the app's usual request) as ratios
against references measured in the same run: the audio's own duration (real-time factor) and the bare
network floor (the DiT's CFG forward passes, with the pass without the curve when the model's ``curve_cfg`` asks for
it, plus one VAE decode, timed without the pipeline).
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.takes import generate_takes, load_model, run_to_end

    family = load_model(args.model)
    model = family.net  # type: ignore[attr-defined]
    steps = model.cfg.sampling.steps
    n = int(round(args.seconds * 44100))
    level = np.full(int(np.ceil(args.seconds * 6)), -25.0)
    curve = LoudnessCurve(level, level, args.seconds)
    spec = TakeSpec(span=TimeSpan(0, args.seconds), text="rain falling on a roof", curves=curve, seed=1)
    run_to_end(generate_takes(TakeSpec(span=TimeSpan(0, 1.0), text="warm-up", seed=0), family))
    walls = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        (take,) = run_to_end(generate_takes(spec, family))
        walls.append(time.perf_counter() - t0)
    assert take.audio.shape == (n, 2)
    frames = -(-n // model.cfg.vae.downsampling_ratio)
    d = model.cfg.conditioning.cond_dim
    x = torch.randn(2, model.cfg.vae.latent_dim, frames)
    ctx = torch.randn(2, model.conditioner.num_tokens, d)
    g = torch.randn(2, 2 * d)
    fc = torch.rand(2, 2, int(np.ceil(args.seconds * 6)))
    with torch.inference_mode():
        t0 = time.perf_counter()
        for _ in range(steps):
            model.denoise_v(x, torch.rand(2), ctx, g, fc)
            if model.cfg.sampling.curve_cfg:  # the curve's own CFG weight: one more pass of batch 1
                model.denoise_v(x[:1], torch.rand(1), ctx[:1], g[:1], None)
        dit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.vae.decode(x[:1])
        vae_s = time.perf_counter() - t0
    wall = min(walls)
    floor = dit_s + vae_s
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"model {args.model}: {steps} steps, CFG {model.cfg.sampling.cfg_scale}, "
        f"curve CFG weight {model.cfg.sampling.curve_cfg}, {args.threads} threads, "
        f"load average {load:.1f}"
    )
    print(f"generate {args.seconds:.0f} s stereo: {wall:.2f} s wall (best of {args.repeats})")
    print(
        f"  / audio duration (real-time factor): {wall / args.seconds:.2f}x  "
        f"({'within' if wall <= args.seconds else 'OVER'} the 10 s budget for 10 s)"
    )
    print(
        f"  / network floor ({steps} CFG DiT steps {dit_s:.2f} s + VAE decode {vae_s:.2f} s = {floor:.2f} s): "
        f"{wall / floor:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
