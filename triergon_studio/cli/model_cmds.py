"""``model-info`` and ``generate``. Torch and the engine are imported inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from triergon_studio.errors import ExportError, ModelError, ParameterError


def register(subparsers: Any) -> None:
    info = subparsers.add_parser(
        "model-info", help="print a model's size and layout as JSON",
        description="Print JSON with name, preset, dit_params, vae_params, encoder_params and latent_rate_hz. "
        "Presets are built on the meta device, so the large ones cost no memory.",
    )
    info.add_argument("model", help="preset name (tiny, compact, tri-ergon-s, tri-ergon-l, sao-1.0), "
                                    "'<preset>-random', a model folder or a Stable Audio Open folder")
    info.add_argument("--verify", action="store_true",
                      help="check every file of a model folder against its manifest's sha256 (exit 2 on a mismatch)")
    info.set_defaults(func=run_model_info)

    gen = subparsers.add_parser(
        "generate", help="generate audio for a video or a duration",
        description="Generate 44.1 kHz stereo audio exactly as long as the video (to the sample) or the "
        "requested duration.",
    )
    gen.add_argument("video", nargs="?", type=Path, help="video to score (its length sets the output length)")
    gen.add_argument("--duration", type=float, help="seconds to generate when there is no video")
    gen.add_argument("--text", help="text prompt")
    gen.add_argument("--ref-audio", type=Path, help="reference audio prompt")
    gen.add_argument("--no-video", action="store_true", help="do not use the picture as a prompt")
    curves = gen.add_mutually_exclusive_group()
    curves.add_argument("--curves", type=Path, help="loudness curves JSON (triergon-curves format)")
    curves.add_argument("--curves-from", type=Path, help="measure the curves from this audio file")
    curves.add_argument("--predict-curves", action="store_true", help="predict the curves from the video")
    gen.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    gen.add_argument("--cfg", type=float, help="classifier-free guidance scale (default: the model's)")
    gen.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    gen.add_argument("--sampler", help="euler, ddim, dpmpp-2m or dpmpp-3m-sde")
    gen.add_argument("--variations", type=int, default=1, help="number of takes (OUT, OUT-2, ...)")
    gen.add_argument("--model", help="model folder or name (default: the bundled model; tiny-random for tests)")
    gen.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    gen.add_argument("--precision", default="auto", help="fp32, bf16, fp16 or auto")
    gen.add_argument("--conform", action="store_true", help="conform the result's loudness to the curves")
    gen.add_argument("--fit-curves", action="store_true",
                     help="stretch curves drawn for another length to the take's length (else a length "
                          "mismatch of more than 1/6 s is refused, as conform does)")
    gen.add_argument("--bits", default="24", choices=["16", "24", "32f"], help="WAV sample format")
    gen.add_argument("--force", "--overwrite", dest="overwrite", action="store_true",
                     help="replace existing output files (--force, as in every other command)")
    gen.add_argument("-o", "--output", type=Path, required=True, help="output WAV")
    gen.set_defaults(func=run_generate)


# ------------------------------------------------------------------------------------------- model-info


def model_info(spec: str, verify: bool = False) -> dict[str, Any]:
    from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import (
        BUNDLED_DIR,
        MANIFEST_FILE,
        RANDOM_SUFFIX,
        read_manifest,
        verify_model_dir,
    )

    manifest: dict[str, Any] | None = None
    path = Path(spec).expanduser()
    if not path.is_dir() and "/" not in spec and (BUNDLED_DIR / spec).is_dir():
        path = BUNDLED_DIR / spec  # a bundled model's name means its folder (weights, manifest, checksums)
    if path.is_dir() and (path / "config.json").exists():
        cfg = ModelConfig.from_json(path / "config.json")  # validated before anything is reported
        if verify:
            manifest = verify_model_dir(path)  # raises on a missing file or a checksum mismatch
        elif (path / MANIFEST_FILE).exists():
            manifest = read_manifest(path)
    elif spec in PRESETS:
        cfg = get_preset(spec)
    elif spec.endswith(RANDOM_SUFFIX) and spec[: -len(RANDOM_SUFFIX)] in PRESETS:
        cfg = get_preset(spec[: -len(RANDOM_SUFFIX)])
        cfg.name = spec
    elif path.is_dir() and (path / "model_config.json").exists():
        from triergon_studio.engine.importers.sao import sao_config_from_dict

        cfg_path = path / "model_config.json"
        try:
            data = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"unreadable model_config.json ({type(exc).__name__})", cfg_path) from exc
        if not isinstance(data, dict):
            raise ModelError("model_config.json must hold a JSON object", cfg_path)
        cfg = sao_config_from_dict(data, cfg_path, name=path.name)
    else:
        from triergon_studio.engine.weights import resolve_model

        resolve_model(spec)  # raises the clear "not found" message
        raise ModelError(f"model '{spec}' has no config.json", spec)
    model = build_model(cfg, "meta")
    counts = model.param_counts()
    out: dict[str, Any] = {
        "name": cfg.name,
        "preset": cfg.preset,
        "dit_params": counts["dit_params"],
        "vae_params": counts["vae_params"],
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


def run_model_info(args: argparse.Namespace) -> int:
    print(json.dumps(model_info(args.model, verify=args.verify), indent=2))
    return 0


# --------------------------------------------------------------------------------------------- generate


def _outputs(base: Path, k: int, overwrite: bool) -> list[Path]:
    from triergon_studio.core.take_sidecar import sidecar_path

    paths = [base] + [base.with_name(f"{base.stem}-{i}{base.suffix}") for i in range(2, k + 1)]
    if not base.parent.exists():
        raise ExportError("output folder does not exist", base.parent)
    for p in paths:
        for q in (p, sidecar_path(p)):
            if q.exists() and not overwrite:
                raise ExportError("output already exists (use --force, or --overwrite, to replace it)", q)
    return paths


def _settings_record(args: argparse.Namespace, request: Any, curves: Any, meta: dict[str, Any],
                     conformed: bool) -> dict[str, Any]:
    """What made a take, in the project's own Prompts/GenerationSettings form (read back by ``add-take``)."""
    from triergon_studio.core.model import GenerationSettings, Prompts, ReferenceClip

    refs = (ReferenceClip(path=str(Path(request.reference_path).resolve())),) if request.reference_path else ()
    prompts = Prompts(text=request.text or "", references=refs, use_video=bool(request.use_video))
    settings = GenerationSettings(model=str(meta.get("model", args.model or "")), steps=int(meta["steps"]),
                                  cfg=float(meta["cfg_scale"]), sampler=str(meta["sampler"]), seed=int(meta["seed"]),
                                  seed_locked=args.seed is not None, variations=max(1, args.variations),
                                  conform=conformed)
    return {"prompts": prompts.to_json(), "settings": settings.to_json(),
            "curves": curves.to_json() if curves is not None else None,
            "metadata": {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool | list | None)}}


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
        pct = int(100 * p.step / max(1, p.total))
        text = f"{p.message}  [{p.step}/{p.total}, {time.perf_counter() - self.t0:.1f} s]"
        if self.tty:
            print("\r" + text.ljust(70), end="" if p.step < p.total else "\n", file=sys.stderr, flush=True)
        elif pct // 10 != self.last // 10 or p.step == p.total:
            print(text, file=sys.stderr, flush=True)
        self.last = pct


def _write(path: Path, audio: Any, sr: int, bits: str, overwrite: bool) -> None:
    from triergon_studio.audio.io import write_wav

    write_wav(path, audio, sr, bits=bits, overwrite=overwrite)


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
    take_s = _check_generate_params(args)  # every parameter, before anything is loaded
    outputs = _outputs(args.output, max(1, args.variations), args.overwrite)

    from triergon_studio.core.take_sidecar import write_sidecar
    from triergon_studio.core.validate import check_curve_length, check_device
    from triergon_studio.engine.device import available_devices, resolve_device, resolve_dtype
    from triergon_studio.engine.pipeline import GenerationRequest, generate_takes, run_to_end
    from triergon_studio.engine.weights import DEFAULT_MODEL, load_model

    device = resolve_device(check_device(args.device, available_devices()))
    dtype = resolve_dtype(args.precision, device)
    curves = _load_curves(args)  # a bad curves file fails before a model is loaded
    if curves is not None and take_s is not None:
        if args.fit_curves:
            curves = curves.stretched_to(take_s)
        else:
            where = args.video.name if args.video is not None else f"--duration {args.duration:g}"
            try:
                check_curve_length(curves.duration_s, take_s, curves.rate_hz, f"the take ({where})")
            except ParameterError as exc:  # name the curves file
                raise ParameterError(str(exc), args.curves or args.curves_from) from exc
    model = load_model(args.model or DEFAULT_MODEL, device, dtype)
    request = GenerationRequest(
        duration_s=args.duration if args.video is None else None,
        video_path=str(args.video) if args.video is not None else None,
        use_video=not args.no_video,
        text=args.text,
        reference_path=str(args.ref_audio) if args.ref_audio else None,
        curves=curves,
        predict_curves=args.predict_curves,
        steps=args.steps, cfg=args.cfg, seed=args.seed, sampler=args.sampler,
        variations=args.variations, model=args.model,
    )
    takes = run_to_end(generate_takes(request, model), _Printer())
    for take, path in zip(takes, outputs, strict=True):
        audio = take.audio
        if args.conform:
            audio = _conform(audio, take.sample_rate, curves, request, model)
        _write(path, audio, take.sample_rate, args.bits, args.overwrite)
        write_sidecar(path, _settings_record(args, request, curves, dict(take.metadata), args.conform))
        m = take.metadata
        print(f"wrote {path}: {len(audio)} samples ({len(audio) / take.sample_rate:.3f} s) at {take.sample_rate} Hz, "
              f"seed {m['seed']}, task id {m['task_id']}, {m['steps']} steps, cfg {m['cfg_scale']:g}, "
              f"{m['elapsed_s']:.1f} s")
    return 0


def _check_generate_params(args: argparse.Namespace) -> float | None:
    """Validate the numeric parameters (core.validate) and return the take's length in seconds (None when
    only the model's default length is known). The picture length is the shared VFR-aware rule."""
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
    seconds = picture_length_samples(info.frame_count, info.fps, 44100, is_vfr=info.is_vfr,
                                     duration_s=info.duration_s) / 44100
    try:
        return v.check_duration(seconds, name="the video's length")
    except ParameterError as exc:
        raise ParameterError(str(exc), args.video) from exc


def _conform(audio: Any, sr: int, curves: Any, request: Any, model: Any) -> Any:
    try:
        from triergon_studio.audio.conform import conform_to_curve
    except ImportError as exc:
        raise ModelError("--conform is not available in this build (triergon_studio.audio.conform)") from exc

    if curves is None:
        from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

        if model.lufs_predictor is None:
            raise ModelError(f"model '{model.cfg.name}' has no LUFS predictor to conform against")
        curves = predict_curves_for_video(request.video_path, model.lufs_predictor)
    return conform_to_curve(audio, sr, curves).audio
