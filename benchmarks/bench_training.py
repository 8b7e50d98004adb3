"""Training throughput of the bundled model's recipe stages: the compact DiT and autoencoder stages as
`triergon-studio train` runs them (`run_stage`, random initial weights, a small pool built first), on the
device asked for, against the same stage on 2 CPU threads measured in the same run.

    python benchmarks/bench_training.py                          # auto device (CUDA if present)
    python benchmarks/bench_training.py --stages dit --batch 16 128 --steps 60

For each stage and batch size: the median seconds per step after the first ``--warmup`` steps, the items per
second, and the ratio to the CPU reference's items per second (the recipe's batch size, 2 threads). For the DiT
it also prints the ratio to the compute floor: about three times the counted forward FLOPs per step (forward
plus backward), over the float32 matmul rate measured on the same device in this run (training runs in
float32). Pool building and encoding are not counted in the step times; their wall time is printed apart.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.bench_model import matmul_throughput  # noqa: E402
from triergon_studio.engine.config import get_preset  # noqa: E402
from triergon_studio.engine.models.triergon import build_model  # noqa: E402
from triergon_studio.training.config import stage_config_from_dict  # noqa: E402
from triergon_studio.training.runner import run_stage  # noqa: E402

CONFIGS = ROOT / "triergon_studio" / "training" / "configs"
RECIPE = {"dit": "compact_dit_v24.json", "vae": "compact_vae.json"}
DROP = ("init", "comment", "time_limit_s")


def stage_config(
    stage: str,
    out: Path,
    pool: Path,
    batch: int,
    steps: int,
    device: str,
    threads: int,
    size: int,
    workers: int,
) -> Any:
    data: dict[str, Any] = json.loads((CONFIGS / RECIPE[stage]).read_text())
    for k in DROP:
        data.pop(k, None)
    data.update(
        out_dir=str(out),
        pool_path=str(pool),
        pool_size=size,
        pool_workers=workers,
        batch_size=batch,
        steps=steps,
        warmup_steps=2,
        log_every=1,
        ckpt_every=10**6,
        device=device,
        num_threads=threads,
    )
    return stage_config_from_dict(data, f"{RECIPE[stage]} (benchmark overrides)")


def step_seconds(out: Path, warmup: int) -> float:
    with open(out / "log.csv") as f:
        elapsed = [float(r["elapsed_s"]) for r in csv.DictReader(f)]
    steps = [b - a for a, b in zip(elapsed[warmup:], elapsed[warmup + 1 :], strict=False)]
    if not steps:
        raise SystemExit(f"{out / 'log.csv'}: too few logged steps after {warmup} warm-up steps")
    return statistics.median(steps)


def dit_train_flops(batch: int, segment_seconds: float) -> float:
    """About 3x the forward FLOPs of one batch (forward plus backward), counted on the meta device."""
    cfg = get_preset("compact")
    model = build_model(cfg, "meta", build_encoders=False)
    frames = math.ceil(round(segment_seconds * cfg.sample_rate) / cfg.vae.downsampling_ratio)
    with torch.device("meta"):
        x = torch.empty(batch, cfg.dit.io_channels, frames)
        t = torch.empty(batch)
        ctx = torch.empty(batch, cfg.conditioning.context_tokens, cfg.conditioning.cond_dim)
        g = torch.empty(batch, cfg.dit.global_cond_dim)
        f = torch.empty(batch, 2, frames) if cfg.dit.lufs_mode == "tokens+frame" else None
    with FlopCounterMode(display=False) as fc:
        model.dit(x, t, ctx, g, f)
    return 3.0 * float(fc.get_total_flops())


def run(
    args: argparse.Namespace, stage: str, tmp: Path, batch: int, steps: int, device: str, threads: int
) -> dict[str, Any]:
    out = tmp / f"{stage}_{device}_{batch}"
    before = torch.get_num_threads()
    t0 = time.perf_counter()
    cfg = stage_config(stage, out, tmp / "pool.npz", batch, steps, device, threads, args.pool, args.workers)
    summary = run_stage(cfg)
    torch.set_num_threads(before)  # run_stage sets the CPU reference's 2 threads process-wide
    return {"summary": summary, "out": out, "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--stages", nargs="+", default=["dit", "vae"], choices=sorted(RECIPE))
    ap.add_argument("--batch", type=int, nargs="+", default=[16, 128])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cpu-steps", type=int, default=8, help="steps of the 2-thread CPU reference (0: none)")
    ap.add_argument("--pool", type=int, default=256, help="pool segments built before the runs")
    ap.add_argument("--workers", type=int, default=8, help="processes that build the pool")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if args.steps <= args.warmup + 1 or (args.cpu_steps and args.cpu_steps < 4):
        raise SystemExit("--steps must exceed --warmup + 1, and --cpu-steps must be 0 or at least 4")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if device == "auto":
        device = "cpu"
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    fp32 = matmul_throughput(
        device, torch.float32, 4096 if device != "cpu" else 1024, 10 if device != "cpu" else 3
    )
    print(
        f"== training throughput on {name} ({device}); float32 matmul measured: {fp32 / 1e12:.2f} TFLOP/s =="
    )
    figures: dict[str, Any] = {"device": name, "fp32_tflops": round(fp32 / 1e12, 3), "rows": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for stage in args.stages:
            recipe_batch = int(json.loads((CONFIGS / RECIPE[stage]).read_text())["batch_size"])
            ref = None
            if args.cpu_steps:
                r = run(args, stage, tmp, recipe_batch, args.cpu_steps, "cpu", 2)
                ref = recipe_batch / step_seconds(r["out"], 2)
                print(
                    f"{stage}: CPU reference, 2 threads, batch {recipe_batch}: {ref:.2f} items/s "
                    f"(run with pool build {r['wall']:.0f} s)"
                )
            for batch in args.batch:
                r = run(args, stage, tmp, batch, args.steps, device, 0)
                s = step_seconds(r["out"], args.warmup)
                row: dict[str, Any] = {
                    "stage": stage,
                    "batch": batch,
                    "s_per_step": round(s, 4),
                    "items_per_s": round(batch / s, 1),
                    "run_wall_s": round(r["wall"], 1),
                    "final_loss": r["summary"]["final_loss"],
                }
                line = f"{stage} batch {batch}: {s * 1e3:.1f} ms/step, {batch / s:.1f} items/s"
                if ref:
                    row["x_cpu_2_threads"] = round(batch / s / ref, 1)
                    line += f", {batch / s / ref:.1f}x the 2-thread CPU"
                if stage == "dit":
                    floor = dit_train_flops(batch, 6.0) / fp32
                    row["x_floor"] = round(s / floor, 1)
                    line += f"; {s / floor:.1f}x the float32 compute floor ({floor * 1e3:.2f} ms)"
                print(
                    line + f"; loss {r['summary']['final_loss']:.3f}; run wall {r['wall']:.0f} s", flush=True
                )
                figures["rows"].append(row)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
