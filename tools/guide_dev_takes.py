"""Guided takes on dev clips, judged as the evaluation judges them (issue 13; never the held-out set).

    .venv/bin/python tools/guide_dev_takes.py gen NAME FOLLOW '{"guide_gain": 2}' [--variant nolufs|frame|text] [--cfg S]
    .venv/bin/python tools/guide_dev_takes.py score NAME [NAME ...]
    .venv/bin/python tools/guide_dev_takes.py reconform SOURCE DEST

``gen`` makes one take per dev clip (``runs/devclips36``: ``triergon-studio corpus write-heldout
runs/devclips36 -n 36 --seed 4242``) with the evaluation's own spec and seeds (V+T prompts, the clip's
ground-truth curves as the target, or with ``--curves t_lufs`` the model's T_LUFS curves) and writes
``runs/guide_dev/NAME.npz`` (the audio and seconds per take), and ``NAME_c.npz``, the same takes put through
the exact conform. ``score`` prints, per take set: the evaluation classifier's top-1 accuracy against the
prompt's class and its mean probability of that class, ``KL``: the evaluation's KL(ref||gen) between the
classifier's class probabilities for the clip's own audio and for the take (nats), the raw adherence (mean
over clips of the per-channel mean |error| against the clip's own curves, LU, frames above -60 LUFS),
AV-Align as a ratio of the ground truth's, ``gaps``: the share of the frames the curves mark silent (at or
under -60 LUFS) that the take makes audible (raw adherence does not count them), and the raw error split in
two: ``offset``, the mean |median error| of a clip (a level a gain could fix), and ``shape``, what is left
after removing it; with ``--encoder MODEL_DIR``, also how that model's own audio encoder hears the takes (the
share whose nearest clip caption has the clip's class, and the cosine to its own caption). ``reconform`` puts
saved takes (``SOURCE.npz``, made with ground-truth curves) through the current conform again and writes
``DEST.npz``, to compare conforms on the same takes.
Session 8's runs (docs/curve_methods_sweep/README.md) were made with the scratch scripts this was folded from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

OUT = Path("runs/guide_dev")


def _gen(args: argparse.Namespace) -> None:
    import torch

    from triergon_studio.takes import generate_takes, load_model, run_to_end
    from triergon_studio.training.eval.curve_methods import NoLufs, _spec
    from triergon_studio.training.eval.report import load_clips

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    clips = load_clips(Path(args.dev_dir), args.clips)
    targets = [c.gt_curves for c in clips]
    if args.curves == "t_lufs":  # the model's own T_LUFS curves from each clip's video, as the evaluation's
        curves = [model.predict_curves(c.meta["video"]) for c in clips]
        targets = [np.stack([p.left, p.right]) for p in curves]
    if args.variant == "nolufs":
        model = NoLufs(model)
    extra = json.loads(args.extra)
    takes: list[np.ndarray] = []
    secs: list[float] = []
    with torch.inference_mode():
        for i, c in enumerate(clips):
            t0 = time.perf_counter()
            spec = _spec(
                c, args.follow, args.seed + i, args.steps, extra, None if args.curves == "gt" else targets[i]
            )
            if args.cfg is not None:
                spec = dataclasses.replace(spec, cfg=args.cfg)
            if args.variant == "text":  # Table 3's T row: the caption alone, no picture, no curve
                spec = dataclasses.replace(spec, use_video=False, curves=None)
            (take,) = run_to_end(generate_takes(spec, model))
            secs.append(time.perf_counter() - t0)
            audio = np.asarray(take.audio, np.float32)
            takes.append(audio)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / f"{args.name}.npz", *takes, secs=np.array(secs))
    np.savez(OUT / f"{args.name}_c.npz", *_conformed(takes, targets), secs=np.array(secs))
    print(f"{args.name}: {len(takes)} takes, {np.mean(secs):.2f} s per take")


def _conformed(takes: list[np.ndarray], targets: list[np.ndarray]) -> list[np.ndarray]:
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.core.curves import CurveSource, LoudnessCurve

    out = []
    for audio, t in zip(takes, targets, strict=True):
        curve = LoudnessCurve(t[0], t[1], len(audio) / 44100, 6.0, CurveSource.DRAWN)
        out.append(np.asarray(conform_to_curve(audio, 44100, curve).audio, np.float32))
    return out


def _reconform(args: argparse.Namespace) -> None:
    from triergon_studio.training.eval.report import load_clips

    if (OUT / f"{args.dest}.npz").exists():
        raise SystemExit(f"{OUT / args.dest}.npz exists; choose another name")
    clips = load_clips(Path(args.dev_dir), args.clips)
    d = np.load(OUT / f"{args.source}.npz")
    takes = [d[f"arr_{i}"] for i in range(len(clips))]
    np.savez(OUT / f"{args.dest}.npz", *_conformed(takes, [c.gt_curves for c in clips]), secs=d["secs"])
    print(f"{args.dest}: {args.source} conformed again to the clips' own curves by the current conform")


def _score(args: argparse.Namespace) -> None:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.av_align import av_align
    from triergon_studio.training.eval.classifier import kl_divergence, load_classifier, predict_proba
    from triergon_studio.training.eval.dev_check import (
        clip_mae_after_offset,
        clip_mean_abs_offset,
        silent_frame_leak,
    )
    from triergon_studio.training.eval.report import curve_mae, load_clips

    clf, meta = load_classifier(Path(args.classifier))
    classes = meta["classes"]
    clips = load_clips(Path(args.dev_dir), args.clips)
    judge = _encoder_judge(args.encoder, clips) if args.encoder else None
    gt_av = float(np.mean([av_align(c.gt_audio, 44100, c.video_peaks, c.fps).score for c in clips]))
    p_ref = predict_proba(clf, [c.gt_audio for c in clips])  # the evaluation's KL(ref||gen) reference
    for name in args.names:
        d = np.load(OUT / f"{name}.npz")
        audio = [d[f"arr_{i}"] for i in range(len(clips))]
        p = predict_proba(clf, audio)
        truth = np.array([classes.index(c.meta["label"]) for c in clips])
        right = p[np.arange(len(clips)), truth]
        curves = [np.asarray(channel_curves(a, 44100)) for a in audio]
        errs = [curve_mae(c.gt_curves, k) for c, k in zip(clips, curves, strict=True)]
        pairs = []  # (take, ground truth) curves over their common frames
        for c, k in zip(clips, curves, strict=True):
            f = min(k.shape[1], c.gt_curves.shape[1])
            pairs.append((k[:, :f].astype(np.float64), c.gt_curves[:, :f].astype(np.float64)))
        gaps = silent_frame_leak(pairs)["audible_share"]
        raw = np.nanmean([np.mean(e) if e is not None else np.nan for e in errs])
        av = np.mean(
            [av_align(a, 44100, c.video_peaks, c.fps).score for c, a in zip(clips, audio, strict=True)]
        )
        print(
            f"{name:24s} class acc {100 * np.mean(p.argmax(1) == truth):5.1f} %  p(right) {right.mean():.3f}  "
            f"KL {kl_divergence(p_ref, p).mean():.3f}  "
            f"raw {raw:5.2f} LU (offset {clip_mean_abs_offset(pairs):5.2f}, shape {clip_mae_after_offset(pairs):5.2f})"
            f"  AV-Align {av / gt_av:.2f}  gaps {100 * gaps:3.0f} %  "
            f"{d['secs'].mean():.2f} s per take" + (judge(audio) if judge else "")
        )


def caption_cosines(model_dir: str, clips: list) -> Callable[[list[np.ndarray]], np.ndarray]:
    """audio (one take per clip) -> ``[takes, clips]``: the cosine of each take's embedding in the model's own
    joint audio-text space with each clip's caption."""
    import torch

    from triergon_studio.takes import load_model

    enc = load_model(model_dir).net.encoders
    with torch.no_grad():
        text = enc.embed_text([str(c.meta["caption"]) for c in clips])

    def cosines(audio: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            emb = torch.cat([enc.embed_audio(torch.from_numpy(a.T.copy())[None].float()) for a in audio])
        return (emb @ text.T).numpy()

    return cosines


def _encoder_judge(model_dir: str, clips: list) -> Callable[[list[np.ndarray]], str]:
    """audio -> how the model's own audio encoder hears the takes: the share whose nearest caption (of the
    clips') has the clip's class, and the mean cosine to the clip's own caption."""
    cosines = caption_cosines(model_dir, clips)
    labels = np.array([c.meta["label"] for c in clips])

    def judge(audio: list[np.ndarray]) -> str:
        sim = cosines(audio)
        near = labels[sim.argmax(1)] == labels
        return (
            f"  encoder: caption class {100 * near.mean():5.1f} %, own caption cos {np.diag(sim).mean():.3f}"
        )

    return judge


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("name")
    g.add_argument("follow", help="off, guide, shape, shape+guide")
    g.add_argument("extra", help="TakeSpec.extra as JSON")
    g.add_argument("--variant", choices=("nolufs", "frame", "text"), default="nolufs")
    g.add_argument("--model", default="model_weights/compact")
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--cfg", type=float, default=None, help="CFG scale (default: the model's)")
    g.add_argument(
        "--seed", type=int, default=1234, help="clip i's seed is SEED + i (the evaluation's: 1234)"
    )
    g.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    g.add_argument(
        "--curves",
        choices=("gt", "t_lufs"),
        default="gt",
        help="the curves the takes follow and are conformed to: the clip's own, or the model's T_LUFS curves",
    )
    r = sub.add_parser("reconform", help="conform saved takes (ground-truth curves) again: SOURCE -> DEST")
    r.add_argument("source")
    r.add_argument("dest")
    s = sub.add_parser("score")
    s.add_argument("names", nargs="+")
    s.add_argument("--classifier", default="model_weights/compact/eval_classifier.safetensors")
    s.add_argument(
        "--encoder",
        metavar="MODEL_DIR",
        help="also judge the takes with this model's own audio encoder against the clips' captions",
    )
    for p in (g, r, s):
        p.add_argument("--dev-dir", default="runs/devclips36")
        p.add_argument("--clips", type=int, default=36)
    args = ap.parse_args()
    {"gen": _gen, "reconform": _reconform, "score": _score}[args.cmd](args)


if __name__ == "__main__":
    main()
