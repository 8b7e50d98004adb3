"""Rebuild the bundled model from scratch with the recorded configs and seeds:

    python -m triergon_studio.training.reproduce --out model_weights/compact

Steps (each can be run alone with ``--steps``): ``pool`` (the shared corpus pool), ``vae``, ``encoders``,
``lufs``, ``dit`` (the four stages, configs in ``training/configs/compact_*.json``), ``vae_decoder`` (the
autoencoder's decoder trained on with a discriminator, the encoder frozen: the latents, and so the DiT, stay
as they are; its weights replace the decoder's in the bundle), ``vae_pan`` (the coherent side: the autoencoder's
per-bin balance input and pan of the mid, trained alone on the balance loss while the latents are held near
the first autoencoder's; version 2.2), ``dit_v22`` (the DiT and conditioner fine-tuned on those latents),
``dit_v24`` (that DiT and conditioner trained on with a second pool of new segments, ``pool_v24.npz``; version
2.4; the latest of these DiT runs that has run is the bundle's), ``vae_mel`` (version 3: the band-PCA autoencoder,
fitted in a minute on the segments of ``dit_mel``'s pool; nothing in it is trained), ``dit_mel`` (version 2.4's
DiT and conditioner trained on its latents), ``dit_track`` (version 3.1: ``dit_mel`` 600 more steps with the
curve term read through the band-PCA loudness track; the latest of the two that has run is the bundle's DiT),
``lufs_sub`` (version 3.2: ``lufs``'s T_LUFS fine-tuned to read four pictures per curve frame; once it has
run it is the bundle's T_LUFS), ``dit_blk`` and ``dit_blkw`` (``dit_track`` with the curve at every block, 1200
more steps without and with the curve term), ``dit_mid`` (version 3.3: the element-wise mean of those two, sampled
with the curve's own CFG weight; once it has run it is the bundle's DiT), ``assemble`` (one model
folder with config.json, model.safetensors and manifest.json via the engine's ``save_model_dir``),
``classifier`` (the evaluation's prompt classifier, trained on corpus audio), ``loudness_head`` (the latent
loudness head curve guidance uses, trained on the assembled model's own latents and decoder), ``gain_net``
(the net that gives gain-mode guidance its directions without encoding, trained from the model's own
autoencoder) and ``eval``
(the held-out evaluation, whose figures go into the manifest). A finished step is skipped when its output exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.training.config import LufsStageConfig, StageConfig, load_stage_config, merge_overrides

if TYPE_CHECKING:
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.pool import Pool

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
ALL_STEPS = (
    "pool",
    "vae",
    "encoders",
    "lufs",
    "dit",
    "dit_tokens",
    "vae_decoder",
    "vae_pan",
    "dit_v22",
    "dit_v24",
    "vae_mel",
    "dit_mel",
    "dit_track",
    "lufs_sub",
    "dit_blk",
    "dit_blkw",
    "dit_mid",
    "assemble",
    "assemble_tokens",
    "classifier",
    "loudness_head",
    "gain_net",
    "eval",
)
STAGE_STEPS = ("vae", "encoders", "lufs", "dit")
# dit_tokens: the comparison DiT with the paper's LUFS tokens only; the others: see the module's docstring
DECODER_STEP, PAN_STEP, PAN_DIT = "vae_decoder", "vae_pan", "dit_v22"
MORE_DIT = "dit_v24"  # PAN_DIT trained on with new segments
PAN_DITS = (PAN_DIT, MORE_DIT)  # the DiT runs that learnt the coherent-side latents, in recipe order
# the bundle's own guidance knobs (config sampling.guide): the free latent, not gains, once its latents keep the
# L/R balance (36 dev clips, frame-aligned path: 47.2 % / 0.71 LU against gains' 44.4 % / 0.86 LU;
# no-LUFS: 36.1 % both, 0.89 against 1.70 LU; docs/curve_methods_sweep/session12, session13)
PAN_GUIDE: dict[str, float] = {"guide_gain": 0}
MEL_STEP, MEL_DIT = "vae_mel", "dit_mel"  # version 3: the band-PCA code and the DiT trained on its latents
# the band-PCA bundle's CFG scale: on 36 dev clips (frame-aligned path, ground-truth curves, unguided) CFG 4
# overshot the curves' level (raw 9.01 LU, 7.32 of it a level offset) where 2 kept 5.48 LU at 83.3 % prompt
# accuracy (CFG 4: 80.6 %; 1.5: 5.17 LU, 80.6 %; 3: 7.04 LU, 80.6 %; docs/training_runs/compact-v3)
MEL_CFG = 2.0
MEL_FIT_SEGMENTS = 400  # about 43,000 latent frames for a PCA of 128 log band powers
# version 3.1: dit_mel 600 more steps with the curve term read through the band-PCA loudness track
TRACK_DIT = "dit_track"
# version 3.3: dit_track with the curve at every block, without and with the curve term, and their mean
BLOCK_DITS, MID_DIT = ("dit_blk", "dit_blkw"), "dit_mid"
MEL_CHAIN = (MEL_DIT, TRACK_DIT, *BLOCK_DITS, MID_DIT)  # the DiTs on the band-PCA latents, in recipe order
MEL_DITS = tuple(d for d in MEL_CHAIN if d not in BLOCK_DITS)  # those that can be the bundle's DiT
# version 3.3's curve CFG weight: on 108 dev clips (frame-aligned path, ground-truth curves, unguided) the mean
# at -0.5 kept 81.5 % of the prompts at 3.36 LU raw (version 3.2: 80.6 %, 4.44 LU; dit_blkw alone at -0.5 2.88 LU
# at 78.7 %, at -1 3.94 LU; docs/training_runs/compact-v3/session36)
MID_CURVE_CFG = -0.5
# version 3.2: the lufs stage's T_LUFS fine-tuned to read four pictures per curve frame (FrameCNNConfig.sub_frames)
SUB_LUFS = "lufs_sub"
RUN_STEPS = (
    *STAGE_STEPS,
    "dit_tokens",
    DECODER_STEP,
    PAN_STEP,
    *PAN_DITS,
    MEL_DIT,
    TRACK_DIT,
    SUB_LUFS,
    *BLOCK_DITS,
)


def _ran(work: Path, stage: str) -> bool:
    return (work / stage / "summary.json").exists()


def bundle_dit(work: Path) -> str:
    """The bundle's DiT: the last band-PCA DiT that has run, else the last run of the coherent-side DiTs that
    has run, else the first DiT."""
    mel = [d for d in MEL_DITS if _ran(work, d)]
    if mel:
        return mel[-1]
    ran = [d for d in PAN_DITS if _ran(work, d)]
    return ran[-1] if ran else "dit"


def _lufs_stage(work: Path) -> str:
    """The bundle's T_LUFS run: the sub-frame fine-tune once it has run."""
    return SUB_LUFS if _ran(work, SUB_LUFS) else "lufs"


def _weight_stages(work: Path, dit: str) -> tuple[str, ...]:
    """The run folders whose weights make a bundle, in loading order (a later one overrides keys)."""
    lufs = _lufs_stage(work)
    if dit in MEL_DITS:  # the spectral autoencoder's runs do not fit the band-PCA autoencoder
        return ("encoders", lufs, MEL_STEP, dit)
    decoder = (DECODER_STEP,) if _ran(work, DECODER_STEP) else ()
    pan = (PAN_STEP,) if dit in PAN_DITS else ()  # only a DiT trained on its latents goes with it
    return ("vae", "encoders", lufs, *decoder, *pan, dit)


def _record_stages(work: Path, dit: str) -> tuple[str, ...]:
    """The weight stages plus the runs a fine-tuned DiT or T_LUFS started from (their time is part of the
    recipe)."""
    stages = _weight_stages(work, dit)
    if SUB_LUFS in stages:  # it started from the lufs run
        i = stages.index(SUB_LUFS)
        stages = (*stages[:i], "lufs", *stages[i:])
    if dit in MEL_DITS:  # they started from the last coherent-side DiT, one after the other
        started = [d for d in PAN_DITS if _ran(work, d)][-1:]
        return (*stages[:-1], *started, *MEL_CHAIN[: MEL_CHAIN.index(dit) + 1])
    if dit not in PAN_DITS:
        return stages
    return (*stages[:-1], "dit", *PAN_DITS[: PAN_DITS.index(dit) + 1])


def stage_config(stage: str, work: Path) -> StageConfig:
    cfg = load_stage_config(CONFIG_DIR / f"compact_{stage}.json")
    cfg.out_dir = str(work / stage)
    cfg.pool_path = str(work / Path(cfg.pool_path or "pool.npz").name)  # the shared pool, or a stage's own

    def in_work(p: str) -> str:  # a recorded runs/compact/<stage>/<file> path, in this work folder
        return str(work / Path(p).parent.name / Path(p).name)

    cfg.init = [in_work(p) for p in cfg.init]
    if isinstance(cfg, LufsStageConfig) and cfg.init_one_picture:
        cfg.init_one_picture = in_work(cfg.init_one_picture)
    return cfg


def build_stage_pool(cfg: StageConfig) -> Pool:
    """The pool a stage config names (``pool_size`` segments from its ``seed`` and ``corpus``), saved at its
    ``pool_path``, as every recipe step builds it."""
    from triergon_studio.training.corpus import CorpusConfig
    from triergon_studio.training.pool import build_pool
    from triergon_studio.training.stages import segment_spec

    spec = dataclasses.replace(segment_spec(cfg), with_video=True, with_frames6=True)
    pool = build_pool(cfg.pool_size, cfg.seed, spec, CorpusConfig(**cfg.corpus), workers=cfg.pool_workers)
    pool.save(Path(cfg.pool_path))
    return pool


def build_shared_pool(work: Path) -> dict[str, Any]:
    cfg = stage_config("vae", work)
    path = Path(cfg.pool_path)
    if path.exists():
        return {"pool": str(path), "skipped": True}
    t0 = time.perf_counter()
    pool = build_stage_pool(cfg)
    return {"pool": str(path), "items": len(pool), "seconds": round(time.perf_counter() - t0, 1)}


def fit_mel_code(work: Path, threads: int) -> dict[str, Any]:
    """The band-PCA autoencoder fitted on the first ``MEL_FIT_SEGMENTS`` segments of ``dit_mel``'s pool (built
    here when missing), written as a run folder like a trained stage's."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from triergon_studio.engine.models.autoencoders import build_autoencoder
    from triergon_studio.engine.models.band_pca_ae import BandPCAAE, fit_band_pca
    from triergon_studio.training.fileio import atomic_write_json
    from triergon_studio.training.pool import Pool
    from triergon_studio.training.stages import resolve_model_config

    out = work / MEL_STEP
    if (out / "summary.json").exists():
        return {"skipped": True}
    t0 = time.perf_counter()
    cfg = stage_config(MEL_DIT, work)
    path = Path(cfg.pool_path)
    pool = Pool.load(path) if path.exists() else build_stage_pool(cfg)
    model_cfg = resolve_model_config(cfg)
    ae = build_autoencoder(model_cfg.vae, model_cfg.sample_rate)
    assert isinstance(ae, BandPCAAE)
    n = min(MEL_FIT_SEGMENTS, len(pool))
    clips = [
        torch.from_numpy(np.asarray(pool.arrays["audio"][i, :, : int(pool.arrays["valid"][i])], np.float32))
        for i in range(n)
    ]
    torch.set_num_threads(threads)
    fit = fit_band_pca(ae, clips)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "weights.safetensors.part"
    save_file({f"vae.{k}": v.contiguous() for k, v in ae.state_dict().items()}, str(tmp))
    tmp.replace(out / "weights.safetensors")
    seconds = round(time.perf_counter() - t0, 1)
    conf = {
        "stage": MEL_STEP,
        "comment": "the band-PCA code fitted (PCA of the log mel band powers, float64), nothing trained",
        "steps": 0,
        "seed": cfg.seed,
        "batch_size": n,
        "lr": 0.0,
        "num_threads": threads,
        "pool_path": cfg.pool_path,
        "fit_segments": n,
        "model_overrides": cfg.model_overrides,
    }
    atomic_write_json(out / "config.json", conf)
    # final_loss: the share of the log band powers' variance the code leaves out
    summary = {"stage": MEL_STEP, "steps": 0, "seconds": seconds, "final_loss": 1 - fit["explained_variance"]}
    atomic_write_json(out / "summary.json", {**summary, **fit})
    return {**summary, **fit}


def mean_block_dits(work: Path) -> dict[str, Any]:
    """``dit_mid``: the element-wise mean of the ``BLOCK_DITS`` runs' weights, written as a run folder (their
    config, a summary with no steps of its own)."""
    from safetensors.torch import save_file

    from triergon_studio.training.fileio import atomic_write_json
    from triergon_studio.training.weight_soup import read_weights, soup

    out = work / MID_DIT
    if (out / "summary.json").exists():
        return {"skipped": True}
    t0 = time.perf_counter()
    paths = [work / d / "weights.safetensors" for d in BLOCK_DITS]
    mixed = soup([(p, read_weights(p)[0]) for p in paths])
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "weights.safetensors.part"
    save_file(mixed, str(tmp))
    tmp.replace(out / "weights.safetensors")
    conf = json.loads((work / BLOCK_DITS[0] / "config.json").read_text())
    conf.update(
        stage=MID_DIT,
        comment=f"the element-wise mean of {' and '.join(BLOCK_DITS)}",
        steps=0,
        lr=0.0,
        out_dir=str(out),
    )
    atomic_write_json(out / "config.json", conf)
    summary = {
        "stage": MID_DIT,
        "steps": 0,
        "seconds": round(time.perf_counter() - t0, 1),
        "final_loss": None,
    }
    atomic_write_json(out / "summary.json", {**summary, "mean_of": [str(p) for p in paths]})
    return {**summary, "tensors": len(mixed)}


def hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"CPU, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"  # threads: hardware_note


def assembled_config(work: Path, dit: str) -> ModelConfig:
    """The config of a folder assembled with ``dit``: the compact preset, the DiT run's model overrides, the
    bundle's guidance default when the DiT learnt the coherent-side latents, a suffix for a comparison."""
    from triergon_studio.engine.config import ModelConfig, get_preset

    cfg = get_preset("compact")
    dit_conf = json.loads((work / dit / "config.json").read_text())
    if dit_conf.get("model_overrides"):
        cfg = ModelConfig.from_dict(merge_overrides(cfg.to_dict(), dit_conf["model_overrides"]))
    if _lufs_stage(work) == SUB_LUFS:  # its T_LUFS reads more pictures than the preset's
        sub_conf = json.loads((work / SUB_LUFS / "config.json").read_text())
        over = (sub_conf.get("model_overrides") or {}).get("lufs_predictor")
        if over:
            cfg = ModelConfig.from_dict(merge_overrides(cfg.to_dict(), {"lufs_predictor": over}))
    if dit in (*PAN_DITS, *MEL_DITS):
        cfg.sampling.guide = dict(PAN_GUIDE)
    if dit in MEL_DITS:
        cfg.sampling.cfg_scale = MEL_CFG
    if dit == MID_DIT:
        cfg.sampling.curve_cfg = MID_CURVE_CFG
    if dit != bundle_dit(work):  # a comparison model
        cfg.name = f"{cfg.name}-{dit.replace('_', '-')}"
    return cfg


def assemble(work: Path, out: Path, overwrite: bool = False, dit: str | None = None) -> Path:
    """One model folder from the stages' weights (the DiT's EMA weights); the bundle's DiT by default."""
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import save_model_dir
    from triergon_studio.training.stages import load_stage_weights

    dit = dit or bundle_dit(work)
    cfg = assembled_config(work, dit)
    model = build_model(cfg)
    paths = [str(work / s / "weights.safetensors") for s in _weight_stages(work, dit)]
    loaded = set(load_stage_weights(model, paths))
    missing = [k for k in model.state_dict() if k not in loaded]
    if missing:
        raise RuntimeError(f"the stages left {len(missing)} tensors untrained, first {missing[0]}")
    return save_model_dir(model, cfg, out, training_manifest(work, dit), overwrite=overwrite)


def _run_note(work: Path, stages: tuple[str, ...]) -> str:
    """How the stages actually ran (threads, resumes), read from their run folders."""
    threads, resumed = [], []
    for s in stages:
        conf = json.loads((work / s / "config.json").read_text())
        summ = json.loads((work / s / "summary.json").read_text())
        threads.append(f"{s} {conf.get('num_threads', '?')}")
        if summ.get("resumed_from"):
            resumed.append(f"{s} from step {summ['resumed_from']}")
    note = "torch threads per stage: " + ", ".join(threads)
    return note + ("; resumed from a checkpoint: " + ", ".join(resumed) if resumed else "; no resumes")


def stage_record(work: Path, stage: str) -> dict[str, Any]:
    """One stage's entry in a manifest's training record, read from its run folder."""
    summ = json.loads((work / stage / "summary.json").read_text())
    conf = json.loads((work / stage / "config.json").read_text())
    return {
        "steps": summ["steps"],
        "planned_steps": conf["steps"],
        "seconds": summ.get("seconds_total", summ["seconds"]),
        "resumed_from": summ.get("resumed_from", 0),
        "final_loss": summ["final_loss"],
        "seed": conf["seed"],
        "batch_size": conf["batch_size"],
        "lr": conf["lr"],
        "stopped_by_time_limit": summ.get("stopped_by_time_limit", False),
        "config": (
            f"the mean of {' and '.join(BLOCK_DITS)}"
            if stage == MID_DIT
            else f"triergon_studio/training/configs/compact_{stage}.json"
        ),
        "model_overrides": conf.get("model_overrides") or None,
    }


def training_manifest(work: Path, dit: str | None = None) -> dict[str, Any]:
    from triergon_studio.training.corpus import CLASS_NAMES
    from triergon_studio.training.corpus.heldout import HELDOUT_SEED

    dit = dit or bundle_dit(work)
    stages = {s: stage_record(work, s) for s in _record_stages(work, dit)}
    # the pool the autoencoder was trained (or, for the band-PCA code, fitted) on
    vae_conf = json.loads((work / (MEL_DIT if dit in MEL_DITS else "vae") / "config.json").read_text())
    return {
        "training": {
            "hardware": hardware(),
            "hardware_note": _run_note(work, _record_stages(work, dit)),
            "stages": stages,
            "total_seconds": round(sum(v["seconds"] for v in stages.values()), 1),
            "reproduce": "python -m triergon_studio.training.reproduce --out model_weights/compact",
            "corpus": {
                "generator": "triergon_studio.training.corpus (procedural Foley, 18 classes)",
                "classes": list(CLASS_NAMES),
                "pool_seed": vae_conf["seed"],
                "pool_items": vae_conf["pool_size"],
                "segment_seconds": vae_conf["segment_seconds"],
                "clip_lengths": vae_conf["corpus"],
                "heldout_seed": HELDOUT_SEED,
                "heldout_captions": "held-out paraphrase templates, odd clips",
            },
        }
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="model_weights/compact")
    ap.add_argument("--work", default="runs/compact", help="stage run folders and the shared pool")
    ap.add_argument("--steps", default=",".join(ALL_STEPS), help=f"comma list from {ALL_STEPS}")
    ap.add_argument("--heldout-dir", default="runs/heldout")
    ap.add_argument("--eval-clips", type=int, default=36)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    ap.add_argument(
        "--threads", type=int, default=2, help="torch threads per stage (the recorded runs used 2)"
    )
    ap.add_argument(
        "--eval-jobs",
        type=int,
        default=1,
        help="evaluation processes (one thread each; rows are split between them)",
    )
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    for step in steps:
        t0 = time.perf_counter()
        if step == "pool":
            info: Any = build_shared_pool(work)
        elif step == MEL_STEP:
            info = fit_mel_code(work, args.threads)
        elif step == MID_DIT:
            info = mean_block_dits(work)
        elif step in RUN_STEPS:
            from triergon_studio.training.runner import run_stage

            cfg = stage_config(step, work)
            cfg.num_threads = args.threads
            if (Path(cfg.out_dir) / "weights.safetensors").exists():
                info = {"skipped": True}
            else:
                from triergon_studio.training.checkpoint import has_checkpoint

                info = run_stage(cfg, resume=has_checkpoint(cfg.out_dir))
        elif step == "assemble":
            info = {"model": str(assemble(work, out, overwrite=args.overwrite))}
        elif step == "assemble_tokens":
            info = {"model": str(assemble(work, work / "model_tokens", overwrite=True, dit="dit_tokens"))}
        elif step == "classifier":
            from triergon_studio.training.eval.classifier import train_classifier

            info = train_classifier(work / "classifier.safetensors")
            if (out / "manifest.json").exists():  # the bundle carries it, so its figures can be re-measured
                from triergon_studio.engine.weights import add_file_to_model_dir

                add_file_to_model_dir(out, work / "classifier.safetensors", "eval_classifier.safetensors")
        elif step == "loudness_head":
            from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
            from triergon_studio.training.loudness_head import HeadTrainSettings, train_into_folder

            if (out / HEAD_FILE).exists():
                info = {"skipped": True}
            else:
                info = train_into_folder(out, HeadTrainSettings(threads=args.threads))[1]
        elif step == "gain_net":
            from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
            from triergon_studio.training.gain_net import GainNetTrainSettings
            from triergon_studio.training.gain_net import train_into_folder as train_net_into

            if (out / GAIN_NET_FILE).exists():
                info = {"skipped": True}
            else:
                info = train_net_into(out, GainNetTrainSettings(threads=args.threads))[1]
        elif step == "eval":
            from triergon_studio.training.eval.report import evaluate_and_record

            tokens = work / "model_tokens"
            info = evaluate_and_record(
                out,
                work,
                Path(args.heldout_dir),
                args.eval_clips,
                compare=tokens if tokens.exists() else None,
                jobs=args.eval_jobs,
            )
        else:
            raise SystemExit(f"unknown step {step!r}; choose from {ALL_STEPS}")
        print(
            json.dumps({"step": step, "wall_s": round(time.perf_counter() - t0, 1), **(info or {})}),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
