"""The training loop shared by the four stages: configs from JSON (``training/config.py``), single process
or torchrun (DDP), checkpoints that resume, recorded seeds, CSV and TensorBoard logs.

Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each process joins ``torch.distributed`` (NCCL on GPUs, gloo on
CPUs), wraps its stage in ``DistributedDataParallel`` and draws its own data shard; rank 0 logs and saves.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from triergon_studio.errors import StudioError
from triergon_studio.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from triergon_studio.training.config import Dist, RunConfig, StageConfig, load_stage_config
from triergon_studio.training.fileio import atomic_write_json
from triergon_studio.training.stage_registry import build_stage

# ---- distributed -------------------------------------------------------------------------------------------


def setup_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local, dev)


# ---- logging -----------------------------------------------------------------------------------------------


class RunLog:
    """``log.csv`` (one row per logged step) and TensorBoard scalars under ``tb/``; rank 0 only."""

    def __init__(self, out_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out_dir / "log.csv"
        self.writer: Any = None
        self.fields: list[str] | None = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tb"))
            if self.path.exists():
                with self.path.open() as fh:
                    self.fields = next(csv.reader(fh), None)
                if not self.fields or self.fields[0] != "step":  # not our header: keep it aside, start anew
                    self.path.replace(self.path.with_name(f"log.unreadable-{int(time.time())}.csv"))
                    self.fields = None

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: round(float(v), 6) for k, v in values.items()}}
        if self.fields is None:
            self.fields = list(row)
            with self.path.open("w", newline="") as fh:
                csv.writer(fh).writerow(self.fields)
        elif any(k not in self.fields for k in row):
            self._widen([k for k in row if k not in self.fields])  # a resumed run may log a new metric
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow([row.get(k, "") for k in self.fields])
        for k, v in values.items():
            self.writer.add_scalar(k, float(v), step)
        self.writer.flush()

    def _widen(self, new: list[str]) -> None:
        assert self.fields is not None
        with self.path.open(newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        self.fields = self.fields + new
        tmp = self.path.with_name(self.path.name + ".part")
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(self.fields)
            w.writerows(r + [""] * len(new) for r in rows)
        tmp.replace(self.path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_log(out_dir: str | Path) -> list[dict[str, float]]:
    with (Path(out_dir) / "log.csv").open() as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def lr_at(step: int, cfg: RunConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / max(1, cfg.warmup_steps)
    q = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, q))))


class EMA:
    """Exponential moving average of a module's floating-point parameters (warm-up: decay grows with steps)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)


# ---- the loop ----------------------------------------------------------------------------------------------


def run_stage(cfg: StageConfig, resume: bool = False) -> dict[str, Any]:
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    dist = setup_distributed(cfg.device)
    out = Path(cfg.out_dir)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        if has_checkpoint(out) and not resume:
            raise StudioError(
                "a run already exists here; pass --resume to continue it or choose another out_dir", out
            )
        atomic_write_json(out / "config.json", cfg.to_dict())
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    stage = build_stage(cfg, dist)
    module: nn.Module = stage.module
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    ema = EMA(stage.ema_target, stage.ema_decay) if stage.ema_target is not None else None
    start = 0
    before = 0.0  # training seconds of the runs this one resumes
    rng = np.random.default_rng([cfg.seed, dist.rank])
    state = load_checkpoint(out, dist.device) if resume else None
    if state is not None:
        module.load_state_dict(state["module"])
        opt.load_state_dict(state["optim"])
        stage.load_extra_state(state.get("extra", {}))
        if ema is not None and state.get("ema") is not None:
            ema.shadow = {k: v.to(dist.device) for k, v in state["ema"].items()}
        start = int(state["step"])
        # the summary of a run stopped at ``stop_at`` counts its last moments too; a killed run has only the checkpoint
        before = max(float(state.get("seconds_total", 0.0)), _previous_seconds(out))
        rng.bit_generator.state = (
            state["rng"][dist.rank] if dist.rank < len(state["rng"]) else rng.bit_generator.state
        )
        torch.set_rng_state(state["torch_rng"].cpu())
    elif resume:
        raise StudioError("nothing to resume: no checkpoint.json (or checkpoint.pt)", out)
    train_module: nn.Module = module
    if dist.world_size > 1:
        ids = [dist.local_rank] if dist.device.type == "cuda" else None
        train_module = nn.parallel.DistributedDataParallel(
            module, device_ids=ids, find_unused_parameters=True
        )
    log = RunLog(out, dist.main)
    module.train()
    t0 = time.perf_counter()
    last_loss = float("nan")
    timed_out = False
    end = min(cfg.steps, cfg.stop_at) if cfg.stop_at > 0 else cfg.steps
    for step in range(start, end):
        lr = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = stage.next_batch(rng)
        loss, metrics = train_module(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = (
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip > 0 else torch.tensor(0.0)
        )
        opt.step()
        metrics.update(stage.after_step(batch, step, lr))
        if ema is not None and stage.ema_target is not None:
            ema.update(stage.ema_target, step)
        last_loss = float(loss.detach())
        if dist.main and (step % cfg.log_every == 0 or step == cfg.steps - 1):
            log.log(
                step,
                {
                    "loss": last_loss,
                    "lr": lr,
                    "grad_norm": float(gnorm),
                    "elapsed_s": time.perf_counter() - t0,
                    **{k: float(v) for k, v in metrics.items()},
                },
            )
        done = step + 1
        if cfg.time_limit_s > 0 and time.perf_counter() - t0 > cfg.time_limit_s and done < end:
            flag = torch.tensor([1.0])
        else:
            flag = torch.tensor([0.0])
        if dist.world_size > 1:  # every rank stops at the same step
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() > 0:
            end = done
            timed_out = True
        if dist.main and (done % cfg.ckpt_every == 0 or done == end):
            rng_states = [rng.bit_generator.state]
            save_checkpoint(
                out,
                {
                    "step": done,
                    "module": module.state_dict(),
                    "optim": opt.state_dict(),
                    "ema": ema.shadow if ema is not None else None,
                    "rng": rng_states,
                    "torch_rng": torch.get_rng_state(),
                    "extra": stage.extra_state(),
                    "config": cfg.to_dict(),
                    "world_size": dist.world_size,
                    # a run killed after this checkpoint writes no summary: its time travels here
                    "seconds_total": before + time.perf_counter() - t0,
                },
            )
        if done >= end:
            break
    finished = end == cfg.steps or timed_out
    seconds = round(time.perf_counter() - t0, 2)
    summary: dict[str, Any] = {
        "stage": cfg.stage,
        "steps": end,
        "finished": finished,
        "resumed_from": start,
        "final_loss": last_loss,
        "stopped_by_time_limit": timed_out,
        "seconds": seconds,
        "seconds_total": round(before + seconds, 2),
        "world_size": dist.world_size,
        "device": str(dist.device),
        "seed": cfg.seed,
        "out_dir": str(out),
    }
    if dist.main and finished:
        weights = stage.export(ema.shadow if ema is not None else None)
        from safetensors.torch import save_file

        tmp = out / "weights.safetensors.part"
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in weights.items()},
            str(tmp),
            metadata={"stage": cfg.stage, "steps": str(cfg.steps), "seed": str(cfg.seed)},
        )
        tmp.replace(out / "weights.safetensors")
        summary["weights"] = str(out / "weights.safetensors")
        summary.update(getattr(stage, "summary_extra", {}))
    if dist.main:
        atomic_write_json(out / "summary.json", summary)
    log.close()
    if dist.world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary


def _previous_seconds(out: Path) -> float:
    """Training seconds of the runs before a resume from their summary (checkpoints of older versions do not
    carry them)."""
    try:
        prev = json.loads((out / "summary.json").read_text())
        return float(prev.get("seconds_total", prev.get("seconds", 0.0)))
    except (OSError, ValueError):
        return 0.0


def run_stage_from_file(
    stage: str,
    config: str | Path,
    *,
    resume: bool = False,
    out_dir: str | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    cfg = load_stage_config(config)
    if cfg.stage != stage:
        raise StudioError(f"config is for stage {cfg.stage!r}, not {stage!r}", config)
    if out_dir:
        cfg.out_dir = out_dir
    if steps:
        cfg.steps = steps
    return run_stage(cfg, resume=resume)
