"""Train a gain direction net for one model (issue 13; see ``engine/curve_control/gain_net``).

Inputs are the clean-latent estimates guidance meets (the loudness head's trajectories: an unguided take and
a guided take with the LUFS input dropped, on procedural clips with a seed of their own) and their decodes;
labels are the directions the model's own encoder gives for them (``encoded_gain_directions``). The loss is
the squared error relative to the directions' norm, per training window, so quiet and loud windows count
alike. Validation is on clips the net never trained on: the mean relative error of whole latents'
directions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from triergon_studio.engine.curve_control.gain_net import GainDirectionNet, GainNetConfig
from triergon_studio.engine.curve_control.guidance import encoded_gain_directions
from triergon_studio.errors import StudioError
from triergon_studio.training.loudness_head import (
    CROP_FRAMES,
    NetTrainSettings,
    collect_latents,
    random_windows,
    train_file_into_folder,
)


@dataclasses.dataclass(frozen=True)
class GainNetTrainSettings(NetTrainSettings):
    """The defaults made the bundled model's net (7.7 min on the 2-core CPU)."""

    steps: int = 6000
    batch: int = 8
    layers: int = 4


def label_directions(
    model: Any, net: GainDirectionNet, latents: list[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """Per latent ``[C, T]``: the net's input features ``[in, T]`` and the encoder's directions ``[2 C, T]``."""
    feats, dirs = [], []
    for z in latents:
        with torch.no_grad():
            zz = z[None].to(model.device)
            audio = model.decode(zz).float()
            d = encoded_gain_directions(model.encode, audio, zz).float().cpu()
        feats.append(net.features(z, audio[0].cpu()))
        dirs.append(d.reshape(-1, z.shape[-1]))
    return feats, dirs


def relative_error(net: GainDirectionNet, feats: list[Tensor], dirs: list[Tensor]) -> float:
    """Mean over latents of |predicted - encoded| / |encoded|, over whole latents."""
    errs = []
    with torch.no_grad():
        for f, d in zip(feats, dirs, strict=True):
            errs.append(float((net(f[None])[0] - d).norm() / d.norm().clamp_min(1e-12)))
    return float(np.mean(errs))


def train_gain_net(
    model: Any, clip_dir: Path, settings: GainNetTrainSettings, log: Callable[[str], None] | None = None
) -> tuple[GainDirectionNet, dict[str, Any]]:
    """Collect, label, train; returns the net and its training record (validation figures included)."""
    if not callable(getattr(model, "encode", None)):
        raise StudioError(f"model '{model.info.name}' has no encoder to learn gain directions from")
    torch.set_num_threads(settings.threads)
    t0 = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    cfg = GainNetConfig(
        int(model.latent_channels),
        int(model.downsampling_ratio),
        int(model.info.sample_rate),
        hidden=settings.hidden,
        layers=settings.layers,
    )
    torch.manual_seed(settings.seed)
    net = GainDirectionNet(cfg)
    per_clip = collect_latents(model, clip_dir, settings.clips, settings.seed, settings.every)
    t_collect = time.perf_counter() - t0
    ft, dt = label_directions(model, net, [z for zs in per_clip[settings.val_clips :] for z in zs])
    fv, dv = label_directions(model, net, [z for zs in per_clip[: settings.val_clips] for z in zs])
    t_label = time.perf_counter() - t0 - t_collect
    if log:
        log(
            f"{len(ft)} training and {len(fv)} validation latents ({t_collect:.0f} s sampling, {t_label:.0f} s labelling)"
        )
    net.set_statistics(ft, dt)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=settings.steps, pct_start=0.1)
    before = relative_error(net, fv, dv)
    net.train()
    for step in range(1, settings.steps + 1):
        bf, bd = random_windows(ft, dt, settings.batch, CROP_FRAMES, rng)
        err = (net(bf) - bd).pow(2).sum((1, 2)) / bd.pow(2).sum((1, 2)).clamp_min(1e-12)
        loss = err.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 500 == 0 or step == settings.steps):
            log(
                f"step {step}: train {float(loss.detach()):.3f}, val relative error {relative_error(net, fv, dv):.3f}"
            )
    net.eval()
    net.requires_grad_(False)
    after = relative_error(net, fv, dv)
    record = {
        "settings": dataclasses.asdict(settings),
        "latents": {"train": len(ft), "val": len(fv)},
        "val_relative_error_before": round(before, 4),
        "val_relative_error_after": round(after, 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return net, record


def train_into_folder(
    folder: str | Path, settings: GainNetTrainSettings, log: Callable[[str], None] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train a net for the model in ``folder`` and write it there as ``gain_directions.safetensors``."""
    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE, save_gain_net

    return train_file_into_folder(
        folder,
        GAIN_NET_FILE,
        "a gain direction net",
        settings.seed,
        settings.clips,
        lambda model, clips: train_gain_net(model, clips, settings, log=log),
        save_gain_net,
    )
