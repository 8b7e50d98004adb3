"""Model benchmark: parameters and FLOPs per preset, generation speed against references measured in the
same run.

    python benchmarks/bench_model.py                 # params/FLOPs for every preset; tiny + compact on CPU
    python benchmarks/bench_model.py --gpu           # also Tri-Ergon-S/-L in bf16 on CUDA (skipped without)

CPU figures: seconds of compute per second of audio (10 s of stereo, default steps, CFG on, random weights),
its ratio to real time, and the ratio to this machine's compute floor (the counted FLOPs divided by the fp32
matmul throughput measured here). GPU figures: 10 s and 60 s at 100 steps, CFG 7, bf16, with the ratio to the
compute floor (counted FLOPs over the bf16 matmul throughput measured on the same GPU) and to SPEC §8's
nominal floor (0.8 PFLOP/s).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset  # noqa: E402
from triergon_studio.engine.models.triergon import build_model  # noqa: E402

SPEC_PEAK_BF16 = 0.8e15  # SPEC §8: "about 0.8 PFLOP/s bf16" on an H100/H200-class GPU


def count_flops(cfg: ModelConfig, seconds: float, steps: int) -> dict[str, float]:
    """FLOPs of one CFG-batched DiT step, of all steps, and of the VAE decode, counted on the meta device."""
    model = build_model(cfg, "meta", build_encoders=False)
    n = round(seconds * cfg.sample_rate)
    frames = math.ceil(n / cfg.vae.downsampling_ratio)
    with torch.device("meta"):
        x = torch.empty(2, cfg.dit.io_channels, frames)
        t = torch.empty(2)
        ctx = torch.empty(2, cfg.conditioning.context_tokens, cfg.conditioning.cond_dim)
        g = torch.empty(2, cfg.dit.global_cond_dim)
        f = torch.empty(2, 2, frames) if cfg.dit.lufs_mode == "tokens+frame" else None
        z = torch.empty(1, cfg.vae.latent_dim, frames)
    with FlopCounterMode(display=False) as fc:
        model.dit(x, t, ctx, g, f)
    step = float(fc.get_total_flops())
    decode = decode_flops(model.vae, z, cfg)
    return {
        "step": step,
        "sampling": step * steps,
        "decode": decode,
        "total": step * steps + decode,
        "frames": frames,
    }


def decode_flops(vae: torch.nn.Module, z: torch.Tensor, cfg: ModelConfig) -> float:
    """The decode's FLOPs; an STFT decoder's inverse STFT has no meta kernel, so it is counted on zeros."""
    try:
        with FlopCounterMode(display=False) as fc:
            vae.decode(z)  # type: ignore[operator]
    except NotImplementedError:
        real = build_model(cfg, "cpu", build_encoders=False).vae
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            real.decode(torch.zeros(z.shape))
    return float(fc.get_total_flops())


def matmul_throughput(device: str, dtype: torch.dtype, size: int, reps: int, trials: int = 5) -> float:
    """Best of ``trials`` timings of ``reps`` square matmuls (the best resists other load on the machine)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(trials):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - t0))
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_generation(
    model: torch.nn.Module, seconds: float, steps: int, cfg_scale: float, sampler: str, device: str
) -> float:
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.engine.families.triergon import TriErgonModel
    from triergon_studio.takes import generate_takes, run_to_end

    family = TriErgonModel(model)  # type: ignore[arg-type]
    spec = TakeSpec(span=TimeSpan(0, seconds), steps=steps, cfg=cfg_scale, sampler=sampler, seed=0)
    run_to_end(generate_takes(TakeSpec(span=TimeSpan(0, 1.0), steps=2, seed=0), family))  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    (take,) = run_to_end(generate_takes(spec, family))
    _sync(device)
    assert take.audio.shape[0] == round(seconds * 44100)
    return time.perf_counter() - t0


def params_and_flops() -> None:
    print("== parameters and FLOPs (10 s of audio, default steps, CFG batch of 2) ==")
    print(
        f"{'preset':<13}{'DiT':>14}{'VAE':>13}{'cond':>10}{'step GFLOP':>12}{'all steps TFLOP':>17}"
        f"{'decode TFLOP':>14}"
    )
    for name in PRESETS:
        cfg = get_preset(name)
        model = build_model(cfg, "meta", build_encoders=False)
        c = model.param_counts()
        fl = count_flops(cfg, 10.0, cfg.sampling.steps)
        print(
            f"{name:<13}{c['dit_params']:>14,}{c['vae_params']:>13,}{c['conditioner_params']:>10,}"
            f"{fl['step'] / 1e9:>12.1f}{fl['sampling'] / 1e12:>17.2f}{fl['decode'] / 1e12:>14.3f}"
        )


def cpu_speed(presets: list[str], seconds: float) -> None:
    torch.set_grad_enabled(False)
    peak = matmul_throughput("cpu", torch.float32, 2048, 3)
    print(
        f"\n== CPU ({torch.get_num_threads()} threads); fp32 matmul measured here: {peak / 1e9:.1f} GFLOP/s =="
    )
    from triergon_studio.engine.weights import random_model

    for name in presets:
        cfg = get_preset(name)
        model = random_model(name, seed=0)
        s = cfg.sampling
        wall = time_generation(model, seconds, s.steps, s.cfg_scale, s.sampler, "cpu")
        fl = count_flops(cfg, seconds, s.steps)
        floor = fl["total"] / peak
        print(
            f"{name}: {seconds:g} s of audio, {s.steps} steps {s.sampler} cfg {s.cfg_scale:g}: {wall:.2f} s wall "
            f"= {wall / seconds:.3f} s per s of audio ({seconds / wall:.2f}x real time); "
            f"{wall / floor:.1f}x this CPU's compute floor ({floor:.2f} s for {fl['total'] / 1e12:.3f} TFLOP)"
        )


def gpu_speed(compile_model: bool) -> None:
    if not torch.cuda.is_available():
        print("\n== GPU: skipped (no CUDA device on this machine); run with --gpu on a CUDA host ==")
        return
    from triergon_studio.engine.weights import randomize_

    peak = matmul_throughput("cuda", torch.bfloat16, 8192, 20)
    print(f"\n== GPU {torch.cuda.get_device_name()}; bf16 matmul measured here: {peak / 1e12:.0f} TFLOP/s ==")
    for name in ("tri-ergon-s", "tri-ergon-l"):
        cfg = get_preset(name)
        model = build_model(cfg, "cuda", build_encoders=False)
        randomize_(model, 0)
        model = model.to(torch.bfloat16).eval()
        if compile_model:
            model.dit = torch.compile(model.dit, dynamic=True)  # type: ignore[assignment]
        for seconds in (10.0, 60.0):
            wall = time_generation(model, seconds, 100, 7.0, "dpmpp-3m-sde", "cuda")
            fl = count_flops(cfg, seconds, 100)
            floor, nominal = fl["total"] / peak, fl["total"] / SPEC_PEAK_BF16
            print(
                f"{name} {seconds:g} s, 100 steps CFG 7 bf16: {wall:.2f} s wall ({seconds / wall:.1f}x real time); "
                f"{fl['total'] / 1e12:.1f} TFLOP; {wall / floor:.1f}x the measured floor ({floor:.3f} s), "
                f"{wall / nominal:.1f}x SPEC §8's nominal floor ({nominal:.3f} s); goal <= 10x"
            )
        del model
        torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-presets", nargs="*", default=["tiny", "compact"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--gpu", action="store_true", help="also run the large presets on CUDA")
    ap.add_argument("--compile", action="store_true", help="torch.compile the DiT on the GPU")
    args = ap.parse_args()
    params_and_flops()
    cpu_speed(args.cpu_presets, args.seconds)
    if args.gpu:
        gpu_speed(args.compile)
    else:
        print("\n== GPU: not requested (--gpu) ==")


if __name__ == "__main__":
    main()
