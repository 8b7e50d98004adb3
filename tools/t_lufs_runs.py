"""Count the audible runs in T_LUFS curves of real videos, and how many last at most two frames (1/3 s).

A gated T_LUFS calls each frame silent (the floor) or audible. On real footage, far from the renders it learnt
from, a short run is usually a flicker rather than an event; fewer short runs mean a steadier curve to start
editing from. Not a held-out figure: the shared videos have no ground truth.

    .venv/bin/python tools/t_lufs_runs.py --models OLD_DIR model_weights/compact -- ../shared/media/*.mp4
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def audible_runs(curve: np.ndarray) -> list[int]:
    """Lengths of the runs of frames above the curve's own floor (its minimum, plus 0.5 LU)."""
    audible = curve > float(np.min(curve)) + 0.5
    runs: list[int] = []
    n = 0
    for a in audible:
        if a:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    return runs


def main() -> int:
    import torch

    from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video
    from triergon_studio.engine.weights import load_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", required=True, help="model folders with a T_LUFS")
    ap.add_argument("videos", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for folder in args.models:
        pred = load_model_dir(folder).eval().lufs_predictor
        if pred is None:
            raise SystemExit(f"{folder}: this model has no T_LUFS")
        runs: list[int] = []
        for video in args.videos:
            with torch.inference_mode():
                c = predict_curves_for_video(video, pred)
            runs += audible_runs(np.asarray(c.left)) + audible_runs(np.asarray(c.right))
        print(
            json.dumps(
                {"model": folder, "audible_runs": len(runs), "at_most_2_frames": sum(r <= 2 for r in runs)}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
