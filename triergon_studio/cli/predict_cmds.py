"""``predict-lufs``: predict the L/R loudness curves of a video with T_LUFS and write the curves JSON.

Torch and the engine are imported inside the handler so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from triergon_studio.errors import ExportError, ModelError, VideoFileError

RANDOM_MODELS = {"tiny-random": "t-lufs-tiny"}


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "predict-lufs",
        help="predict left/right loudness curves (6 values/s, LUFS) from a video",
        description="Predict the per-channel momentary loudness curves of VIDEO with the T_LUFS module and "
        "write them in the triergon-curves JSON format.",
    )
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="curves JSON to write")
    p.add_argument(
        "--model",
        default=None,
        help="model directory or name (default: the bundled model; 'tiny-random' = seeded random "
        "weights for testing the path end to end)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")
    p.add_argument(
        "--method",
        choices=("t_lufs", "motion"),
        default="t_lufs",
        help="t_lufs: the model's picture-to-loudness predictor (default); motion: training-free, "
        "from optical flow per left/right half (any video, any model family)",
    )
    p.add_argument("--floor", type=float, default=-60.0, help="motion: LUFS for no motion (default -60)")
    p.add_argument(
        "--ceiling",
        type=float,
        default=-18.0,
        help="motion: LUFS for the video's strongest motion (default -18)",
    )
    p.add_argument(
        "--smoothing", type=float, default=0.25, help="motion: smoothing window in s (default 0.25)"
    )
    p.add_argument(
        "--force",
        "--overwrite",
        dest="overwrite",
        action="store_true",
        help="replace OUTPUT if it exists (--force, as in every other command)",
    )
    p.set_defaults(func=run_predict_lufs)


def _device(name: str) -> str:
    import torch

    from triergon_studio.core.validate import check_device
    from triergon_studio.engine.device import available_devices

    name = check_device(name, available_devices())
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError("--device cuda asked for, but no CUDA device is available")
        return name
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu"


def resolve_lufs_predictor(spec: str | None, device: str = "cpu") -> Any:
    """T_LUFS from a model name or directory, through the engine's shared model resolver.

    ``tiny-random`` gets a seeded tiny T_LUFS when the resolved tiny model carries none (or when the
    engine's loader is not part of this build), so the path can be exercised without weights.
    """
    import importlib

    from triergon_studio.engine.models.lufs_predictor import seeded_lufs_predictor

    try:
        weights = importlib.import_module("triergon_studio.engine.weights")
    except ModuleNotFoundError as exc:
        if exc.name != "triergon_studio.engine.weights":
            raise
        if spec in RANDOM_MODELS:
            return seeded_lufs_predictor(RANDOM_MODELS[spec], seed=0).to(device)
        raise ModelError(
            f"cannot load model {spec or '(bundled)'}: model loading is not available in this build; "
            "use --model tiny-random"
        ) from exc
    name = spec if spec is not None else getattr(weights, "DEFAULT_MODEL", "compact")
    predictor = getattr(weights.load_model(name, device), "lufs_predictor", None)
    if predictor is None and spec in RANDOM_MODELS:
        return seeded_lufs_predictor(RANDOM_MODELS[spec], seed=0).to(device)
    if predictor is None:
        raise ModelError(f"model {name} has no LUFS predictor (T_LUFS)")
    return predictor.to(device).eval()


def run_predict_lufs(args: argparse.Namespace) -> int:
    out: Path = args.output
    if args.video.is_dir():
        raise VideoFileError("is a folder, not a video file", args.video)
    if not args.video.is_file():  # fail before torch loads
        raise VideoFileError("video file not found", args.video)
    device = _device(args.device)  # validated before any output check or model load
    if out.exists() and not args.overwrite:
        raise ExportError("output already exists (use --force, or --overwrite, to replace it)", out)
    if not out.parent.exists():
        raise ExportError("output folder does not exist", out.parent)
    if args.method == "motion":
        return _run_motion(args, out)
    from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

    model = resolve_lufs_predictor(args.model, device)
    curve = predict_curves_for_video(args.video, model)
    try:
        curve.save(out)
    except OSError as exc:  # read-only folder, full disk
        raise ExportError(f"cannot write the curves ({exc.strerror or exc})", out) from exc
    print(
        f"wrote {out}: {curve.n_frames} frames at {curve.rate_hz:g} Hz for {curve.duration_s:.3f} s "
        f"(mean L {curve.left.mean():.1f} LUFS, R {curve.right.mean():.1f} LUFS)"
    )
    return 0


def _run_motion(args: argparse.Namespace, out: Path) -> int:
    """Curves from motion (no torch, no model)."""
    from triergon_studio.video.motion import MotionSettings, analyse_motion

    settings = MotionSettings(floor_lufs=args.floor, ceiling_lufs=args.ceiling, smoothing_s=args.smoothing)
    result = analyse_motion(args.video, settings)
    result.curve.save(out)
    print(result.status)
    print(
        f"wrote {out}: {result.curve.n_frames} frames at {result.curve.rate_hz:g} Hz for "
        f"{result.curve.duration_s:.3f} s"
    )
    return 0
