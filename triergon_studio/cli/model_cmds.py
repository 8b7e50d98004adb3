"""``model-info`` and ``generate``. Torch and the engine are imported inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from triergon_studio.errors import ModelError, ParameterError


def register(subparsers: Any) -> None:
    info = subparsers.add_parser(
        "model-info",
        help="print a model's size and layout as JSON",
        description="Print JSON with name, preset, dit_params, vae_params, encoder_params and latent_rate_hz. "
        "Presets are built on the meta device, so the large ones cost no memory.",
    )
    info.add_argument(
        "model",
        help="preset name (tiny, compact, tri-ergon-s, tri-ergon-l, sao-1.0), "
        "'<preset>-random', a model folder or a Stable Audio Open folder",
    )
    info.add_argument(
        "--verify",
        action="store_true",
        help="check every file of a model folder against its manifest's sha256 (exit 2 on a mismatch)",
    )
    info.set_defaults(func=run_model_info)

    gen = subparsers.add_parser(
        "generate",
        help="generate audio for a video or a duration",
        description="Generate 44.1 kHz stereo audio exactly as long as the video (to the sample) or the "
        "requested duration.",
    )
    gen.add_argument("video", nargs="?", type=Path, help="video to score (its length sets the output length)")
    gen.add_argument("--duration", type=float, help="seconds to generate when there is no video")
    gen.add_argument("--start", type=float, help="with a VIDEO: generate from this picture time (seconds)")
    gen.add_argument("--end", type=float, help="with a VIDEO: generate up to this picture time (seconds)")
    gen.add_argument("--text", help="text prompt")
    gen.add_argument("--negative", help="negative prompt: what the take should not sound like")
    gen.add_argument("--ref-audio", type=Path, help="reference audio prompt")
    gen.add_argument("--ref-in", type=float, default=0.0, help="reference audio in point (seconds)")
    gen.add_argument("--ref-out", type=float, help="reference audio out point (seconds; default: its end)")
    gen.add_argument(
        "--init-audio", type=Path, help="audio-to-audio: start from this sound, noised to --init-noise"
    )
    gen.add_argument(
        "--init-noise",
        type=float,
        help="how far to noise the init audio, 0 < LEVEL <= 1 (default: the model's)",
    )
    gen.add_argument("--no-video", action="store_true", help="do not use the picture as a prompt")
    curves = gen.add_mutually_exclusive_group()
    curves.add_argument("--curves", type=Path, help="loudness curves JSON (triergon-curves format)")
    curves.add_argument("--curves-from", type=Path, help="measure the curves from this audio file")
    curves.add_argument("--predict-curves", action="store_true", help="predict the curves from the video")
    gen.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    gen.add_argument("--cfg", type=float, help="classifier-free guidance scale (default: the model's)")
    gen.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    gen.add_argument("--sampler", help="sampler name (default: the model's; `model-info` lists them)")
    gen.add_argument("--guidance", help="guidance rule, cfg or apg where the model offers both")
    gen.add_argument("--variations", type=int, default=1, help="number of takes (OUT, OUT-2, ...)")
    gen.add_argument(
        "--model", help="model folder or name (default: the bundled model; tiny-random for tests)"
    )
    gen.add_argument(
        "--text-encoder",
        type=Path,
        help="T5Gemma folder for Stable Audio 3 (default: inside the model folder or the HF cache); "
        "T5-base for Stable Audio Open (text_encoder/ + tokenizer/, or one folder with both)",
    )
    gen.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    gen.add_argument("--precision", default="auto", help="fp32, bf16, fp16 or auto")
    gen.add_argument("--conform", action="store_true", help="conform the result's loudness to the curves")
    gen.add_argument(
        "--fit-curves",
        action="store_true",
        help="stretch curves drawn for another length to the take's length (else a length "
        "mismatch of more than 1/6 s is refused, as conform does)",
    )
    gen.add_argument(
        "--follow-curves",
        choices=["off", "shape", "guide", "shape+guide"],
        help="curve control beyond the model's own conditioning (default: the model's)",
    )
    gen.add_argument(
        "--guide",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="curve guidance knob: guide_budget, guide_strength, guide_start, guide_end, guide_passes, "
        "guide_crop_s, guide_final, guide_max_step, guide_silence, guide_head 0 / 1, guide_gain 0 off / "
        "1 final / 2 all, guide_gain_net 0 / 1, guide_seeds 1..16, guide_seed_steps, guide_track 0 / 1, guide_level 0 / 1 "
        "(repeatable)",
    )
    curves.add_argument(
        "--motion-curves", action="store_true", help="curves from the video's motion (any model)"
    )
    gen.add_argument("--bits", default="24", choices=["16", "24", "32f"], help="WAV sample format")
    gen.add_argument(
        "--force",
        "--overwrite",
        dest="overwrite",
        action="store_true",
        help="replace existing output files (--force, as in every other command)",
    )
    gen.add_argument("-o", "--output", type=Path, required=True, help="output WAV")
    gen.set_defaults(func=run_generate)


# ------------------------------------------------------------------------------------------- model-info


def model_info(spec: str, verify: bool = False) -> dict[str, Any]:
    from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset
    from triergon_studio.engine.model_paths import find_named
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import MANIFEST_FILE, RANDOM_SUFFIX, read_manifest, verify_model_dir

    manifest: dict[str, Any] | None = None
    path = Path(spec).expanduser()
    named = find_named(spec) if not path.is_dir() else None
    if named is not None:  # a bundled or TRIERGON_MODELS folder wins over a preset of the same name
        path = named
    if path.is_dir() and not (path / "config.json").exists() and not (path / "model_config.json").exists():
        raise ModelError("not a model folder: no config.json or model_config.json", path)
    if spec in PRESETS and named is None:
        cfg = get_preset(spec)
    elif spec.endswith(RANDOM_SUFFIX) and spec[: -len(RANDOM_SUFFIX)] in PRESETS:
        cfg = get_preset(spec[: -len(RANDOM_SUFFIX)])
        cfg.name = spec
    elif path.is_dir() and (path / "config.json").exists():
        cfg = ModelConfig.from_json(path / "config.json")
        if verify:
            manifest = verify_model_dir(path)  # raises on a missing file or a checksum mismatch
        elif (path / MANIFEST_FILE).exists():
            manifest = read_manifest(path)
    elif path.is_dir() and (path / "model_config.json").exists():
        return _family_info(path, verify)
    else:
        from triergon_studio.engine.weights import resolve_model

        resolve_model(spec)  # raises the clear "not found" message
        raise ModelError(f"model '{spec}' has no config.json", spec)
    model = build_model(cfg, "meta")
    counts = model.param_counts()
    out: dict[str, Any] = {
        "name": cfg.name,
        "family": "tri-ergon",
        "preset": cfg.preset,
        "dit_params": counts["dit_params"],
        "vae_params": counts["vae_params"],
        "autoencoder": cfg.vae.kind,  # "oobleck" (the paper's presets, SAO) or "stft" (the compact preset)
        "encoder_params": counts["encoder_params"],
        "conditioner_params": counts["conditioner_params"],
        "lufs_predictor_params": counts["lufs_predictor_params"],
        "total_params": sum(counts.values()),
        "latent_rate_hz": cfg.latent_rate_hz,
        "sample_rate": cfg.sample_rate,
        "max_duration_s": cfg.max_duration_s,
        "conditioning": cfg.conditioning.kind,
        "lufs_mode": cfg.dit.lufs_mode,
        "default_steps": cfg.sampling.steps,
        "default_cfg": cfg.sampling.cfg_scale,
        "default_sampler": cfg.sampling.sampler,
        "default_guide": dict(cfg.sampling.guide),
    }
    if verify and manifest is None:
        raise ModelError("nothing to verify: only a model folder with a manifest has checksums", spec)
    if verify:
        out["verified"] = sorted((manifest or {}).get("files") or {})
    if manifest is not None:
        out["version"] = manifest.get("version")
        out["training"] = manifest.get("training")
        out["eval"] = manifest.get("eval")
    return out


def _family_info(path: Path, verify: bool) -> dict[str, Any]:
    """A folder of another family (Stable Audio): what its files say, without loading the weights."""
    import dataclasses
    from importlib import import_module

    from triergon_studio.engine.families.registry import describe, find_family

    entry = find_family(str(path))
    module = import_module(entry.load.partition(":")[0])
    own = getattr(module, "model_info_json", None)
    if own is not None:  # the family reports itself (sizes on meta, defaults, verification)
        result: dict[str, Any] = own(str(path), verify)
        return result
    info = describe(str(path))
    out: dict[str, Any] = {
        "name": info.name,
        "family": info.family,
        "variant": info.variant,
        "total_params": info.params,
        "licence": info.licence,
        "sample_rate": info.sample_rate,
        "latent_rate_hz": info.latent_rate_hz,
        "max_duration_s": info.capabilities.max_window_s,
        "capabilities": dataclasses.asdict(info.capabilities),
        "defaults": dataclasses.asdict(info.defaults),
    }
    if verify:
        check = getattr(module, "verify_folder", None)
        if check is None:
            raise ModelError(f"nothing to verify: {info.family} folders carry no checksums", path)
        out["verified"] = check(path)
    return out


def run_model_info(args: argparse.Namespace) -> int:
    print(json.dumps(model_info(args.model, verify=args.verify), indent=2))
    return 0


# --------------------------------------------------------------------------------------------- generate


def _check_generate_params(args: argparse.Namespace) -> float | None:
    """Validate the numeric parameters (core.validate) and return the length in seconds the curves must
    cover: the whole picture (curves are in video time) or the duration. The picture length is the shared
    VFR-aware rule."""
    from triergon_studio.core import validate as v

    if args.seed is not None:
        v.check_seed(args.seed)
    if args.steps is not None:
        v.check_steps(args.steps)
    if args.cfg is not None:
        v.check_cfg(args.cfg)
    v.check_variations(args.variations)
    if args.video is None:
        return v.check_duration(args.duration)
    from triergon_studio.core.timecode import picture_length_samples
    from triergon_studio.video.probe import probe

    info = probe(args.video)
    seconds = (
        picture_length_samples(
            info.frame_count, info.fps, 44100, is_vfr=info.is_vfr, duration_s=info.duration_s
        )
        / 44100
    )
    try:
        return v.check_duration(seconds, name="the video's length")
    except ParameterError as exc:
        raise ParameterError(str(exc), args.video) from exc


def _outputs(base: Path, k: int) -> list[Path]:
    return [base] + [base.with_name(f"{base.stem}-{i}{base.suffix}") for i in range(2, k + 1)]


def spec_from_args(args: argparse.Namespace, video: Any, curves: Any) -> Any:
    """The CLI's ``TakeSpec``: the same fields the app fills from a project (``core.take_spec.spec_from_project``)."""
    from triergon_studio.core.take_spec import AudioClip, TakeSpec, TimeSpan

    if video is not None:
        start = 0.0 if args.start is None else float(args.start)
        span = TimeSpan(start, video.duration_s if args.end is None else float(args.end))
    else:
        if args.start is not None or args.end is not None:
            raise ModelError("--start/--end select a span of a VIDEO; without one, use --duration")
        span = TimeSpan(0.0, float(args.duration))
    extra: dict[str, float] = {}
    for kv in getattr(args, "guide", []) or []:  # curve guidance knobs (issue 13)
        key, _, value = kv.partition("=")
        try:
            extra[key.strip()] = float(value)
        except ValueError as exc:
            raise ModelError(f"--guide {kv!r}: need KEY=NUMBER") from exc
    method = "t_lufs" if args.predict_curves else "motion" if getattr(args, "motion_curves", False) else None
    return TakeSpec(
        span=span,
        video=video,
        use_video=not args.no_video,
        text=args.text or "",
        negative_text=args.negative or "",
        reference=AudioClip(str(args.ref_audio), float(args.ref_in), args.ref_out)
        if args.ref_audio
        else None,
        init_audio=AudioClip(str(args.init_audio)) if args.init_audio else None,
        init_noise=args.init_noise,
        curves=curves,
        curve_method=method,
        conform=bool(args.conform),
        follow_curves=getattr(args, "follow_curves", None),
        extra=extra,
        model=args.model,
        steps=args.steps,
        cfg=args.cfg,
        sampler=args.sampler,
        guidance=args.guidance,
        seed=args.seed,
        variations=int(args.variations),
    )


def _load_curves(args: argparse.Namespace) -> Any:
    if args.curves is not None:
        from triergon_studio.core.curves import LoudnessCurve

        return LoudnessCurve.load(args.curves)
    if args.curves_from is not None:
        from triergon_studio.audio.io import read_audio
        from triergon_studio.audio.loudness import measure_curves

        audio, sr = read_audio(args.curves_from)
        return measure_curves(audio, sr)
    return None


class _Printer:
    """One self-updating line on a terminal; a line every 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.t0 = time.perf_counter()

    def __call__(self, p: Any) -> None:
        pct = int(100 * p.fraction)  # the take's whole work: sampler steps and each window's decode
        text = f"{p.message}  [{pct}%, {time.perf_counter() - self.t0:.1f} s]"
        if self.tty:
            print("\r" + text.ljust(70), end="" if pct < 100 else "\n", file=sys.stderr, flush=True)
        elif pct // 10 != self.last // 10 or (pct == 100 and self.last != 100):
            print(text, file=sys.stderr, flush=True)
        self.last = pct


def run_generate(args: argparse.Namespace) -> int:
    if args.video is None and args.duration is None:
        raise ModelError("give a VIDEO or --duration SECONDS")
    if args.video is not None and args.video.is_dir():
        raise ModelError("is a folder, not a video file", args.video)
    if args.video is not None and not args.video.exists():
        raise ModelError("video not found", args.video)
    if args.predict_curves and args.video is None:
        raise ModelError("--predict-curves needs a VIDEO")
    if args.conform and args.curves is None and args.curves_from is None and not args.predict_curves:
        # checked before sampling: with a real model the user would wait minutes for this error
        raise ModelError("--conform needs curves (--curves, --curves-from or --predict-curves)")
    for clip in (args.ref_audio, args.init_audio):
        if clip is not None and not clip.is_file():
            raise ModelError("audio file not found", clip)
    take_s = _check_generate_params(args)  # every parameter, before anything is loaded
    outputs = _outputs(args.output, max(1, args.variations))

    from triergon_studio.core.take_spec import VideoSource
    from triergon_studio.core.validate import check_curve_length, check_device
    from triergon_studio.engine.device import available_devices, resolve_device, resolve_dtype
    from triergon_studio.takes import check_outputs, load_model, make_takes, run_to_end

    check_outputs(outputs, args.overwrite)
    video = None
    if args.video is not None:
        from triergon_studio.video.probe import probe

        video = VideoSource.from_probe(probe(args.video))
    device = resolve_device(check_device(args.device, available_devices()))
    dtype = resolve_dtype(args.precision, device)
    curves = _load_curves(args)  # a bad curves file fails before a model is loaded
    if curves is not None and take_s is not None:  # curves are in video time: they cover the whole picture
        if args.fit_curves:
            curves = curves.stretched_to(take_s)
        else:
            where = args.video.name if args.video is not None else f"--duration {args.duration:g}"
            try:
                check_curve_length(curves.duration_s, take_s, curves.rate_hz, f"the take ({where})")
            except ParameterError as exc:  # name the curves file
                raise ParameterError(str(exc), args.curves or args.curves_from) from exc
    spec = spec_from_args(args, video, curves)
    options: dict[str, Any] = (
        {"text_encoder": str(args.text_encoder)} if args.text_encoder is not None else {}
    )
    # no loading bar here: a model that is refused while loading must stay a one-line error
    model = load_model(args.model, device, dtype, **options)
    records = run_to_end(
        make_takes(spec, model, outputs, bits=args.bits, overwrite=args.overwrite), _Printer()
    )
    for rec in records:
        m = rec.metadata
        print(
            f"wrote {rec.path}: {rec.n_samples} samples ({rec.duration_s:.3f} s) at {rec.sample_rate} Hz, "
            f"seed {rec.seed}, task id {m.get('task_id')}, {rec.settings.steps} steps, cfg {rec.settings.cfg:g}, "
            f"{m.get('elapsed_s', 0.0):.1f} s"
        )
    return 0
