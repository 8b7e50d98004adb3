"""Training, evaluation, corpus and manifest commands. Heavy imports live inside the handlers."""

from __future__ import annotations

import argparse
import json
from typing import Any

STAGES = ("vae", "encoders", "dit", "lufs")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train one stage of a model from a JSON config")
    p.add_argument("stage", choices=STAGES)
    p.add_argument(
        "--config", required=True, help="stage config (JSON), see triergon_studio/training/configs"
    )
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--out", help="run folder (overrides the config's out_dir)")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="evaluate a model on the held-out set (Markdown table or JSON)")
    e.add_argument("model", help="model directory (config.json + model.safetensors)")
    e.add_argument("--set", dest="eval_set", default="heldout", choices=["heldout"])
    e.add_argument(
        "--heldout-dir",
        required=True,
        help="the held-out set (`corpus write-heldout`); written there first if the folder has none",
    )
    e.add_argument("--clips", type=int, default=36, help="clips to evaluate")
    e.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    e.add_argument("--rows", default="all", help="comma list of Table 3 rows or 'all'")
    e.add_argument(
        "--classifier",
        help="the evaluation classifier (default: the model folder's eval_classifier.safetensors, "
        "checked against its manifest)",
    )
    e.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    e.add_argument("--out", help="also write the JSON report here")
    e.add_argument(
        "--methods",
        help="curve-following methods instead of Table 3 rows (issue 13), e.g. "
        "none,shape,guide,guide+conform",
    )
    e.add_argument(
        "--variants",
        default="frame,tokens,nolufs",
        help="with --methods: frame (as loaded), tokens (--tokens-model), nolufs (LUFS input dropped)",
    )
    e.add_argument(
        "--tokens-model", help="with --methods: a tokens-only model folder for the 'tokens' variant"
    )
    e.add_argument(
        "--guide",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --methods: a guidance knob (guide_budget, guide_strength, guide_start, guide_end, "
        "guide_passes, guide_crop_s, guide_final, guide_max_step, guide_silence, guide_backtrack, "
        "guide_solver 0 polyak / 1 lbfgs, guide_head 0 / 1, guide_gain 0 off / 1 final / 2 all, "
        "guide_gain_net 0 / 1, guide_seeds 1..16, guide_seed_steps, guide_track 0 / 1, guide_level 0 / 1), repeatable",
    )
    e.add_argument(
        "--no-motion",
        action="store_true",
        help="with --methods: skip motion vs T_LUFS curves and the audio generated from them",
    )
    e.set_defaults(func=_eval)

    # unset options take the settings' defaults (those that made the bundled model's files)
    for name, help_, what, func in (
        (
            "train-loudness-head",
            "train a latent loudness head for a model folder (cheaper curve guidance, issue 13)",
            "model folder (any family); the head is written into it",
            _train_loudness_head,
        ),
        (
            "train-gain-net",
            "train a gain direction net for a model folder (gain-mode guidance without encoding, issue 13)",
            "model folder with an encoder (any family); the net is written into it",
            _train_gain_net,
        ),
    ):
        h = subparsers.add_parser(name, help=help_)
        h.add_argument("model", help=what)
        h.add_argument("--clips", type=int, help="procedural clips to sample latents from")
        h.add_argument("--val-clips", type=int, help="of those, clips kept for validation")
        h.add_argument("--steps", type=int)
        h.add_argument("--hidden", type=int)
        h.add_argument("--layers", type=int)
        h.add_argument("--seed", type=int, help="corpus and training seed (never the held-out one)")
        h.add_argument("--threads", type=int)
        h.set_defaults(func=func)

    c = subparsers.add_parser("corpus", help="the procedural Foley corpus")
    csub = c.add_subparsers(dest="corpus_cmd", metavar="CMD", required=True)
    w = csub.add_parser("write-heldout", help="write the fixed held-out set (mp4 + wav + json) to a folder")
    w.add_argument("dir")
    w.add_argument("-n", type=int, default=36)
    w.add_argument("--seed", type=int, default=None)
    w.add_argument("--max-seconds", type=float, default=8.0)
    w.add_argument("--overwrite", action="store_true")
    w.set_defaults(func=_write_heldout)

    m = subparsers.add_parser(
        "build-manifest", help="JSONL manifest of real clips (folder or VGGSound/AudioSet CSV)"
    )
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", help="folder of videos with optional same-name .txt captions")
    src.add_argument(
        "--csv", help="VGGSound (ytid,start,label,split), AudioSet segments, or path,caption CSV"
    )
    m.add_argument("--videos", help="folder holding the CSV's clips (default: beside the CSV)")
    m.add_argument("--labels", help="AudioSet label map (index,mid,display_name)")
    m.add_argument("--out", required=True)
    m.add_argument("--cache-dir")
    m.add_argument("--feature-size", type=int, default=96)
    m.add_argument("--min-seconds", type=float, default=0.0)
    m.add_argument("--max-seconds", type=float, default=float("inf"))
    m.add_argument("--overwrite", action="store_true")
    m.set_defaults(func=_build_manifest)


def _train(args: argparse.Namespace) -> int:
    from triergon_studio.training.runner import run_stage_from_file

    summary = run_stage_from_file(
        args.stage, args.config, resume=args.resume, out_dir=args.out, steps=args.steps
    )
    print(json.dumps(summary, indent=1))
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.methods:
        return _eval_methods(args)
    from pathlib import Path

    from triergon_studio.training.eval.report import evaluate_model_dir, to_markdown

    rows = None if args.rows == "all" else [r.strip() for r in args.rows.split(",") if r.strip()]
    from triergon_studio.training.eval.report import bundled_classifier

    classifier = Path(args.classifier) if args.classifier else bundled_classifier(Path(args.model))
    report = evaluate_model_dir(
        args.model,
        heldout_dir=args.heldout_dir,
        n_clips=args.clips,
        steps=args.steps,
        rows=rows,
        classifier_path=classifier,
    )
    if args.out:
        from triergon_studio.training.fileio import atomic_write_json

        atomic_write_json(args.out, report.to_dict())
    print(json.dumps(report.to_dict(), indent=1) if args.json else to_markdown(report))
    return 0


def _train_loudness_head(args: argparse.Namespace) -> int:
    from triergon_studio.training.loudness_head import HeadTrainSettings, train_into_folder

    return _train_net(args, HeadTrainSettings, train_into_folder)


def _train_gain_net(args: argparse.Namespace) -> int:
    from triergon_studio.training.gain_net import GainNetTrainSettings, train_into_folder

    return _train_net(args, GainNetTrainSettings, train_into_folder)


def _train_net(args: argparse.Namespace, settings_cls: Any, train_into_folder: Any) -> int:
    names = ("clips", "val_clips", "seed", "steps", "hidden", "layers", "threads")
    settings = settings_cls(**{k: getattr(args, k) for k in names if getattr(args, k) is not None})
    path, record = train_into_folder(args.model, settings, log=lambda m: print(m, flush=True))
    print(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


def _write_heldout(args: argparse.Namespace) -> int:
    from triergon_studio.training.corpus.heldout import HELDOUT_SEED, write_heldout

    entries = write_heldout(
        args.dir,
        args.n,
        HELDOUT_SEED if args.seed is None else args.seed,
        args.max_seconds,
        overwrite=args.overwrite,
    )
    print(f"wrote {len(entries)} held-out clips to {args.dir}")
    return 0


def _build_manifest(args: argparse.Namespace) -> int:
    from triergon_studio.training.manifest import build_manifest

    rep = build_manifest(
        args.out,
        folder=args.folder,
        csv_path=args.csv,
        videos=args.videos,
        label_map=args.labels,
        cache_dir=args.cache_dir,
        feature_size=args.feature_size,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        overwrite=args.overwrite,
    )
    print(f"{rep.written} clips written to {rep.path}; {len(rep.skipped)} skipped")
    for clip_id, reason in rep.skipped:
        print(f"  skipped {clip_id}: {reason}")
    return 0


def _eval_methods(args: argparse.Namespace) -> int:
    """``eval --methods``: the curve-following methods on the held-out set (issue 13)."""
    import sys

    from triergon_studio.engine.curve_control.guidance import GuideSettings
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.curve_methods import methods_markdown, run_methods_eval

    extra: dict[str, float] = {}
    for kv in args.guide:
        key, _, value = kv.partition("=")
        try:
            extra[key.strip()] = float(value)
        except ValueError as exc:
            raise StudioError(f"--guide {kv!r}: need KEY=NUMBER") from exc
    GuideSettings.from_extra(extra)  # validate before any work
    from pathlib import Path

    from triergon_studio.training.eval.report import bundled_classifier

    classifier = Path(args.classifier) if args.classifier else bundled_classifier(Path(args.model))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    report = run_methods_eval(
        args.model,
        heldout_dir=args.heldout_dir,
        n_clips=args.clips,
        methods=methods,
        variants=variants,
        steps=args.steps,
        tokens_model=args.tokens_model,
        classifier_path=str(classifier),
        extra=extra,
        motion=not args.no_motion,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    if args.out:
        from triergon_studio.training.fileio import atomic_write_json

        atomic_write_json(args.out, report)
    print(json.dumps(report, indent=1) if args.json else methods_markdown(report))
    return 0
