"""T_LUFS speed through the app's path (``predict_curves_for_video``: 6 fps decode, frame features, the
transformer windows), as ratios measured in this run (run by hand: python benchmarks/bench_t_lufs.py).

- seconds of video per second of wall time for the model folder's T_LUFS, and for a candidate (a ``lufs``
  training stage's weights, built with that run's model overrides) when one is given;
- the candidate's time as a multiple of the model folder's, the two timed alternately on the same file;
- the decode alone (``sample_frames_6fps`` at each predictor's input size and picture rate), the floor
  neither can go under.

    python benchmarks/bench_t_lufs.py [--model model_weights/compact] [--candidate runs/X/weights.safetensors]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from triergon_studio.engine.models.lufs_predictor import LufsPredictor, predict_curves_for_video  # noqa: E402
from triergon_studio.training.eval.dev_check import lufs_input_size, lufs_pictures_per_frame  # noqa: E402
from triergon_studio.video.probe import probe  # noqa: E402
from triergon_studio.video.sampling import sample_frames_6fps  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "media" / "bottle-detection.mp4"


def load_predictors(model_dir: Path, candidate: Path | None) -> dict[str, LufsPredictor]:
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.eval.dev_check import put_stage_weights, stage_model_config

    out: dict[str, LufsPredictor] = {}
    bundled = load_model_dir(model_dir).eval().lufs_predictor
    if bundled is None:
        raise SystemExit(f"{model_dir}: this model has no T_LUFS")
    out["model"] = bundled
    if candidate is not None:
        model = build_model(stage_model_config(candidate))
        put_stage_weights(model, str(candidate), "lufs_predictor.", "lufs")
        assert model.lufs_predictor is not None
        out["candidate"] = model.eval().lufs_predictor
    return out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "model_weights" / "compact")
    ap.add_argument("--candidate", type=Path, help="a lufs stage's weights.safetensors")
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    torch.set_num_threads(args.threads)
    duration = probe(args.video).duration_s
    preds = load_predictors(args.model, args.candidate)
    for p in preds.values():  # warm-up: first-call allocations and the decoder's start
        predict_curves_for_video(args.video, p)
    times: dict[str, list[float]] = {name: [] for name in preds}
    decode: dict[str, list[float]] = {name: [] for name in preds}
    with torch.inference_mode():
        for _ in range(args.repeats):
            for name, p in preds.items():
                times[name].append(timed(lambda p=p: predict_curves_for_video(args.video, p)))
                side, k = lufs_input_size(p), lufs_pictures_per_frame(p)
                decode[name].append(
                    timed(lambda s=side, k=k: sample_frames_6fps(args.video, size=(s, s), per_frame=k))
                )
    print(f"video: {args.video.name}, {duration:.1f} s; {args.threads} threads; median of {args.repeats}")
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, p in preds.items():
        n = sum(t.numel() for t in p.parameters())
        print(
            f"{name:9s} {n / 1e6:5.2f} M parameters  {med[name]:6.2f} s  "
            f"({duration / med[name]:5.1f} s of video per second)"
        )
    for name, p in preds.items():
        d = statistics.median(decode[name])
        print(
            f"{name:9s} decode only ({lufs_input_size(p)} px, {p.cfg.picture_rate_hz} pictures/s): {d:.2f} s "
            f"({d / med[name]:.2f} of its time)"
        )
    if "candidate" in med:
        print(f"candidate / model time: {med['candidate'] / med['model']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
