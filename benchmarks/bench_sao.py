"""Stable Audio Open 1.0 and Small on this CPU: 10 s of audio at each variant's default steps, random weights
at the real shapes, against this machine's compute floor measured in the same run.

    python benchmarks/bench_sao.py                      # both variants, their defaults (1.0: 100 steps)
    python benchmarks/bench_sao.py --variants small     # Small only
    python benchmarks/bench_sao.py --steps 10           # fewer steps (the floor is counted for the same)

Timed: conditioning (from T5 hidden states: the T5 encoder is excluded, prompts are cached in the app), every
sampler step with guidance, and the VAE decode, through the family's ``condition``/``sample``/``decode``.
The floor is the FLOPs counted on the meta device (DiT steps with the CFG batch when guidance runs, VAE
decode) divided by the fp32 matmul throughput measured here.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from triergon_studio.engine.families.base import Settings, TakeInputs  # noqa: E402
from triergon_studio.engine.families.sao_config import SAOConfig, sao_config_from_dict  # noqa: E402
from triergon_studio.engine.families.sao_model import SAOModel  # noqa: E402
from triergon_studio.engine.families.stable_audio_open import StableAudioOpenModel, info_for  # noqa: E402
from triergon_studio.engine.sampler_step import drive  # noqa: E402
from triergon_studio.engine.weights import randomize_  # noqa: E402

# the real model_config.json of each variant, as recorded with the parity fixtures
CONFIGS = ROOT / "tests" / "fixtures" / "sao" / "sao_fixtures.json"


def matmul_throughput(size: int = 2048, reps: int = 3, trials: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - t0))
    return best


def count_flops(cfg: SAOConfig, frames: int, steps: int, batch: int) -> tuple[float, float]:
    with torch.device("meta"):
        net = SAOModel(cfg)
        x, t = torch.empty(batch, cfg.dit.io_channels, frames), torch.empty(batch)
        n_tok = cfg.prompt_max_length + sum(1 for i in cfg.cross_ids if i != "prompt")
        ctx = torch.empty(batch, n_tok, cfg.cond_dim)
        g = torch.empty(batch, cfg.dit.global_cond_dim)
        z = torch.empty(1, cfg.vae.latent_dim, frames)
    with FlopCounterMode(display=False) as fc:
        net.dit(x, t, ctx, g)
    step = float(fc.get_total_flops())
    with FlopCounterMode(display=False) as fc:
        net.vae.decode(z)
    return step * steps, float(fc.get_total_flops())


def run(variant: str, seconds: float, steps: int | None, peak: float) -> None:
    cfg = sao_config_from_dict(json.loads(CONFIGS.read_text())["real_configs"][variant], CONFIGS)
    net = SAOModel(cfg)
    randomize_(net, 0)
    model = StableAudioOpenModel(net.eval(), info_for(cfg, Path(variant)))
    d = model.info.defaults
    n_steps = steps or d.steps
    settings = Settings(n_steps, d.cfg, d.sampler, d.guidance, 0, d.init_noise, "off")
    n = round(seconds * cfg.sample_rate)
    frames = math.ceil(n / cfg.downsampling_ratio)
    g = torch.Generator().manual_seed(0)
    emb = {
        "text": torch.randn(12, cfg.t5_dim, generator=g),
        "negative_text": torch.randn(5, cfg.t5_dim, generator=g),
    }
    inputs = TakeInputs(n_samples=n, duration_s=seconds, start_s=0.0, embeddings=emb)
    with torch.no_grad():
        short = Settings(1, d.cfg, d.sampler, d.guidance, 0, d.init_noise, "off")
        drive(
            model.sample(model.condition(inputs, short), 8, short, torch.Generator().manual_seed(0))
        )  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        cond = model.condition(inputs, settings)
        latent = drive(model.sample(cond, frames, settings, torch.Generator().manual_seed(0)))
        t1 = time.perf_counter()
        audio = model.decode(latent)[..., :n]
        t2, c2 = time.perf_counter(), time.process_time()
    assert audio.shape == (1, 2, n)
    batch = 2 if settings.cfg != 1.0 else 1
    sampling_flops, decode_flops = count_flops(cfg, frames, n_steps, batch)
    total = sampling_flops + decode_flops
    floor, wall = total / peak, t2 - t0
    params = sum(p.numel() for p in net.parameters())
    print(
        f"SAO {variant} ({params / 1e6:.0f}M parameters): {seconds:g} s of audio, {n_steps} steps {settings.sampler}, "
        f"{settings.guidance} {settings.cfg:g}: {wall:.1f} s wall (sampling {t1 - t0:.1f} s, decode {t2 - t1:.1f} s) "
        f"= {wall / seconds:.2f} s per s of audio ({seconds / wall:.3f}x real time); {wall / floor:.2f}x this CPU's "
        f"compute floor ({floor:.1f} s for {total / 1e12:.2f} TFLOP); this process's CPU time {c2 - c0:.1f} s "
        f"over {torch.get_num_threads()} threads (wall above CPU/threads = other load on the machine)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="*", default=["small", "1.0"], choices=["small", "1.0"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, help="override the default steps (both variants)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    peak = matmul_throughput()
    print(f"CPU ({torch.get_num_threads()} threads); fp32 matmul measured here: {peak / 1e9:.1f} GFLOP/s")
    for v in args.variants:
        run(v, args.seconds, args.steps, peak)


if __name__ == "__main__":
    main()
