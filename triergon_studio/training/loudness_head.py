"""Train a latent loudness head for one model (issue 13's cheaper path; see ``engine/curve_control/latent_head``).

The head learns what the model's own decoder does to the latents guidance meets: clean-latent estimates
along sampling trajectories (unguided, and guided with the LUFS input dropped), plus those estimates with
Gaussian perturbations of 10 to 40 % of their RMS (a guided step moves about that far). Labels are the
K-weighted block levels of the decoder's output for that exact latent, so nothing but the model folder and
the procedural corpus is needed: it runs from a user's own Stable Audio folder as well as from ours.

Clips come from the procedural corpus with a seed of their own (never the held-out seed). Validation is on
clips the head never trained on: block-level error in dB and curve error in LU.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from triergon_studio.engine.curve_control.latent_head import (
    HeadConfig,
    LatentLoudnessHead,
    block_levels_db,
    curve_from_blocks,
    overlap_matrix,
)
from triergon_studio.errors import StudioError

LABEL_FLOOR_DB = -90.0  # below the -70 LUFS curve floor; quieter blocks are all "silent" to the head
PERTURB = (0.1, 0.2, 0.4)  # perturbation RMS as a share of the latent's RMS
CROP_FRAMES = 64  # training window, latent frames


@dataclasses.dataclass(frozen=True)
class NetTrainSettings:
    """What training a per-model guidance net takes: corpus clips, trajectories, optimiser, size."""

    clips: int = 48
    val_clips: int = 4
    seed: int = 777
    every: int = 2  # keep every n-th clean-latent estimate of a trajectory
    steps: int = 4000
    batch: int = 16
    lr: float = 2e-3
    threads: int = 2
    hidden: int = 128
    layers: int = 5

    def __post_init__(self) -> None:
        if not (2 <= self.clips <= 10000 and 1 <= self.val_clips < self.clips):
            raise StudioError("need clips >= 2 and 1 <= val_clips < clips")
        if not (1 <= self.every and 1 <= self.steps and 1 <= self.batch and self.lr > 0):
            raise StudioError("every, steps and batch must be >= 1 and lr > 0")


@dataclasses.dataclass(frozen=True)
class HeadTrainSettings(NetTrainSettings):
    """The defaults made the bundled model's heads (9-11 min on the 2-core CPU). Chosen for version 2's decoder,
    where a 24-clip, 96-wide head scored 0.76 LU on validation curves against this setting's 0.65, and guided
    slightly worse on dev clips; on version 2.1's decoder this setting scores 1.23 LU."""


def collect_latents(model: Any, clip_dir: Path, n: int, seed: int, every: int) -> list[list[torch.Tensor]]:
    """Clean-latent estimates per clip: an unguided take on the clip's curves and a guided take with the
    LUFS input dropped (what a model without loudness conditioning meets)."""
    from triergon_studio.takes import generate_takes, run_to_end
    from triergon_studio.training.eval.curve_methods import NoLufs, _spec
    from triergon_studio.training.eval.report import load_clips

    clips = load_clips(clip_dir, n)
    out: list[list[torch.Tensor]] = []
    for i, c in enumerate(clips):
        got: list[torch.Tensor] = []

        def hook(st: Any, _chunk: int, got: list[torch.Tensor] = got) -> None:
            if st.step % every == 0 or st.step == st.total:
                got.append(st.denoised.detach().float().clone()[0])

        for m, follow in ((model, "off"), (NoLufs(model), "guide")):
            run_to_end(generate_takes(_spec(c, follow, seed + i, None, {}), m, step_hook=hook))
        out.append(got)
    return out


def label(
    model: Any, latents: list[torch.Tensor], rng: np.random.Generator
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each latent and its perturbed copies, with the decoder's block levels."""
    zs, ys = [], []
    ratio, sr = int(model.downsampling_ratio), int(model.info.sample_rate)
    for z in latents:
        rms = float(z.pow(2).mean().sqrt())
        for share in (0.0, *PERTURB):
            zz = z + share * rms * torch.from_numpy(rng.standard_normal(z.shape).astype(np.float32))
            with torch.no_grad():
                audio = model.decode(zz[None].to(model.device)).float().cpu()
            zs.append(zz)
            ys.append(block_levels_db(audio[0], sr, ratio)[..., : z.shape[-1]].clamp_min(LABEL_FLOOR_DB))
    return zs, ys


def evaluate_head(
    head: LatentLoudnessHead, zs: list[torch.Tensor], ys: list[torch.Tensor]
) -> dict[str, float]:
    """Block error (dB, blocks above the label floor) and curve error (LU, frames above -60 LUFS), over
    whole latents."""
    cfg = head.cfg
    db, lu = [], []
    with torch.no_grad():
        for z, y in zip(zs, ys, strict=True):
            p = head(z[None])[0]
            w = overlap_matrix(
                z.shape[-1], cfg.downsampling_ratio, cfg.sample_rate, _frames(z.shape[-1], cfg)
            )
            cp, cy = curve_from_blocks(p, w), curve_from_blocks(y, w)
            db.append((p - y).abs()[y > LABEL_FLOOR_DB])
            lu.append((cp - cy).abs()[cy > -60])
    return {"block_db": float(torch.cat(db).mean()), "curve_lu": float(torch.cat(lu).mean())}


def random_windows(
    zs: list[torch.Tensor], ys: list[torch.Tensor], n: int, length: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of ``n`` random windows of ``length`` frames of inputs and labels (the nets are
    convolutional), cut to the shortest."""
    bz, by = [], []
    for i in rng.integers(0, len(zs), n):
        z, y = zs[int(i)], ys[int(i)]
        a = int(rng.integers(0, max(1, z.shape[-1] - length + 1)))
        bz.append(z[..., a : a + length])
        by.append(y[..., a : a + length])
    m = min(t.shape[-1] for t in bz)
    return torch.stack([t[..., :m] for t in bz]), torch.stack([t[..., :m] for t in by])


def _frames(blocks: int, cfg: HeadConfig) -> int:
    return int(blocks * cfg.downsampling_ratio // round(cfg.sample_rate / 6))


def train_head(
    model: Any,
    clip_dir: Path,
    settings: HeadTrainSettings,
    log: Callable[[str], None] | None = None,
) -> tuple[LatentLoudnessHead, dict[str, Any]]:
    """Collect, label, train; returns the head and its training record (validation figures included)."""
    torch.set_num_threads(settings.threads)
    t0 = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    per_clip = collect_latents(model, clip_dir, settings.clips, settings.seed, settings.every)
    t_collect = time.perf_counter() - t0
    train = [z for zs in per_clip[settings.val_clips :] for z in zs]
    val = [z for zs in per_clip[: settings.val_clips] for z in zs]
    zt, yt = label(model, train, rng)
    zv, yv = label(model, val, rng)
    t_label = time.perf_counter() - t0 - t_collect
    if log:
        log(
            f"{len(zt)} training and {len(zv)} validation latents ({t_collect:.0f} s sampling, {t_label:.0f} s decoding)"
        )
    cfg = HeadConfig(
        int(model.latent_channels),
        int(model.downsampling_ratio),
        int(model.info.sample_rate),
        hidden=settings.hidden,
        layers=settings.layers,
    )
    torch.manual_seed(settings.seed)
    head = LatentLoudnessHead(cfg)
    opt = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=settings.steps, pct_start=0.1)
    before = evaluate_head(head, zv, yv)
    for step in range(1, settings.steps + 1):
        bz, by = random_windows(zt, yt, settings.batch, CROP_FRAMES, rng)
        loss = torch.nn.functional.huber_loss(head(bz), by, delta=3.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 250 == 0 or step == settings.steps):
            v = evaluate_head(head, zv, yv)
            log(
                f"step {step}: train huber {float(loss.detach()):.3f}, val {v['block_db']:.2f} dB blocks, {v['curve_lu']:.2f} LU curves"
            )
    head.eval()
    head.requires_grad_(False)
    after = evaluate_head(head, zv, yv)
    record = {
        "settings": dataclasses.asdict(settings),
        "latents": {"train": len(zt), "val": len(zv)},
        "val_before": before,
        "val_after": after,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return head, record


def train_into_folder(
    folder: str | Path, settings: HeadTrainSettings, log: Callable[[str], None] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train a head for the model in ``folder`` on fresh corpus clips and write it there as
    ``loudness_head.safetensors`` (listed with its checksum when the folder has a Tri-Ergon manifest). Refuses
    the held-out seed and an existing head before any work."""
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE, save_head

    return train_file_into_folder(
        folder,
        HEAD_FILE,
        "a loudness head",
        settings.seed,
        settings.clips,
        lambda model, clips: train_head(model, clips, settings, log=log),
        save_head,
    )


def train_file_into_folder(
    folder: str | Path,
    file_name: str,
    what: str,
    seed: int,
    clips: int,
    train: Callable[[Any, Path], tuple[Any, dict[str, Any]]],
    save: Callable[[Any, Path, dict[str, Any]], Path],
) -> tuple[Path, dict[str, Any]]:
    """Write ``clips`` corpus clips with ``seed`` to a temporary folder, ``train`` a net for the model in
    ``folder`` on them and ``save`` it there as ``file_name`` (added to the manifest with its checksum when
    the folder has one). Refuses the held-out seed and an existing file before any work."""
    import tempfile

    from triergon_studio.takes import load_model
    from triergon_studio.training.corpus.heldout import HELDOUT_SEED, write_heldout

    folder = Path(folder)
    if seed == HELDOUT_SEED:
        raise StudioError(f"seed {HELDOUT_SEED} is the held-out set's; choose another")
    if (folder / file_name).exists():
        raise StudioError(f"{folder / file_name}: {what} is already there; remove it first")
    model = load_model(str(folder))
    with tempfile.TemporaryDirectory(prefix="triergon-net-") as tmp:
        clip_dir = Path(tmp) / "clips"
        write_heldout(clip_dir, clips, seed)
        net, record = train(model, clip_dir)
        staged = save(net, Path(tmp) / file_name, record)
        if (folder / "manifest.json").exists():
            from triergon_studio.engine.weights import add_file_to_model_dir

            add_file_to_model_dir(folder, staged, file_name)
        else:
            save(net, folder / file_name, record)
    return folder / file_name, record
