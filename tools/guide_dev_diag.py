"""Where curve guidance leaves its error, on dev clips (issue 13; never the held-out set).

    .venv/bin/python tools/guide_dev_diag.py CONFIGS [--model DIR] [--clips 12] [--threads 2] \
        [--dev-dir runs/devclips]

CONFIGS is JSON: ``{"name": ["guide", {"guide_budget": 8, ...}], ...}`` (follow mode, TakeSpec.extra). Every
take is the model with its LUFS input dropped (the ``nolufs`` variant of ``eval --methods``) on the dev clips'
captions, videos and ground-truth curves. Prints, per config: the eval's raw adherence (mean over clips of
the per-channel mean error, LU), the pooled per-frame error by target level (count, mean |error|, mean
signed error), the mean wall time per take, and the true loss after each guidance pass on the first clips.
Dev clips: ``triergon-studio corpus write-heldout runs/devclips -n 12 --seed 4242``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from triergon_studio.audio.loudness import channel_curves
from triergon_studio.engine.curve_control import guidance
from triergon_studio.takes import generate_takes, load_model, run_to_end
from triergon_studio.training.eval.curve_methods import NoLufs, _spec
from triergon_studio.training.eval.report import curve_mae, load_clips

LEVELS = [(-60, -45), (-45, -35), (-35, -25), (-25, 0)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs")
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dev-dir", default="runs/devclips")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    guides: list[Any] = []
    init = guidance.CurveGuide.__post_init__

    def record(self: Any) -> None:  # keep every chunk's guide to read its losses
        init(self)
        guides.append(self)

    guidance.CurveGuide.__post_init__ = record  # type: ignore[method-assign]
    model = NoLufs(load_model(args.model))
    clips = load_clips(Path(args.dev_dir), args.clips)
    with torch.inference_mode():
        for name, (follow, extra) in json.loads(args.configs).items():
            per_clip, t_all, m_all, secs, losses = [], [], [], [], []
            for i, c in enumerate(clips):
                t0 = time.perf_counter()
                (take,) = run_to_end(generate_takes(_spec(c, follow, 1234 + i, None, extra), model))
                secs.append(time.perf_counter() - t0)
                m = np.asarray(channel_curves(np.asarray(take.audio, np.float32), 44100))
                e = curve_mae(c.gt_curves, m)
                if e is not None:
                    per_clip.append(float(np.nanmean(e)))
                n = min(m.shape[1], c.gt_curves.shape[1])
                t_all.append(c.gt_curves[:, :n].ravel())
                m_all.append(np.maximum(m[:, :n], -70.0).ravel())
                losses.append([round(x, 2) for g in guides for x in g.losses])
                guides.clear()
            t, m = np.concatenate(t_all), np.concatenate(m_all)
            live, err = t > -60, m - t
            row: dict[str, Any] = {
                "raw_lu": round(float(np.mean(per_clip)), 3),
                "pooled_lu": round(float(np.abs(err[live]).mean()), 3),
                "seconds": round(float(np.mean(secs)), 2),
            }
            for lo, hi in LEVELS:
                b = live & (t > lo) & (t <= hi)
                row[f"{lo}..{hi}"] = [
                    int(b.sum()),
                    round(float(np.abs(err[b]).mean()), 2),
                    round(float(err[b].mean()), 2),
                ]
            row["losses"] = losses[:2]
            print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
