"""Session 32 scratch: per-clip T_LUFS error of several predictors on the same dev segments and dev videos,
and the paired differences (mean, standard error) against the first, to tell a gain from clip noise.

    python docs/training_runs/compact-v3/session32/paired_t_lufs.py OUT.json bundle RUN/weights.safetensors ...

With ``VIDEOS=runs/devclips108 VIDEO_CLIPS=108`` in the environment the videos come from there (default: the 36
of ``runs/devclips36``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from triergon_studio.engine.models.triergon import build_model  # noqa: E402
from triergon_studio.engine.weights import load_model_dir  # noqa: E402
from triergon_studio.training.corpus.heldout import load_heldout  # noqa: E402
from triergon_studio.training.eval.dev_check import (  # noqa: E402
    AUDIBLE,
    dev_pool_for,
    put_stage_weights,
    stage_model_config,
    t_lufs_dev_curves,
)
from triergon_studio.training.eval.report import curve_mae, video_curves  # noqa: E402


def load(name: str):
    if name == "bundle":
        return load_model_dir(ROOT / "model_weights" / "compact").eval().lufs_predictor
    model = build_model(stage_model_config(Path(name)))
    put_stage_weights(model, name, "lufs_predictor.", "lufs")
    return model.eval().lufs_predictor


def per_clip(pred) -> dict[str, list[float]]:
    seg = [
        float(np.abs(p - g)[g > AUDIBLE].mean()) if (g > AUDIBLE).any() else float("nan")
        for p, g in t_lufs_dev_curves(pred, dev_pool_for(pred, 54))
    ]
    vids = []
    import os

    videos = ROOT / os.environ.get("VIDEOS", "runs/devclips36")
    for meta in load_heldout(videos)[: int(os.environ.get("VIDEO_CLIPS", "36"))]:
        c = meta["curves"]
        gt = np.array([c["left"], c["right"]], np.float64)
        e = curve_mae(gt, video_curves(pred, str(meta["video"])))
        vids.append(float(np.nanmean(e)) if e is not None else float("nan"))
    return {"segments": seg, "videos": vids}


def paired(a_errs: list[float], b_errs: list[float]) -> dict[str, float]:
    """Per-clip errors ``a`` against ``b`` on the clips both score: the mean difference, its standard error
    and how many clips each way."""
    a, b = np.array(a_errs), np.array(b_errs)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    return {
        "minus": round(float(d.mean()), 3),
        "paired_se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 3) if len(d) > 1 and d.any() else 0.0,
        "clips_better": int((d < 0).sum()),
        "clips_worse": int((d > 0).sum()),
    }


def main() -> None:
    torch.set_num_threads(2)
    out, names = Path(sys.argv[1]), sys.argv[2:]
    errs = {n: per_clip(load(n)) for n in names}
    summary: dict[str, dict[str, object]] = {}
    base = Path(names[0]).parent.name or names[0]
    for n in names:
        summary[n] = {}
        for part in ("segments", "videos"):
            pair = paired(errs[n][part], errs[names[0]][part])
            summary[n][part] = {
                "mean": round(float(np.nanmean(errs[n][part])), 3),
                f"minus_{base}": pair.pop("minus"),
                **pair,
            }
    out.write_text(json.dumps({"summary": summary, "per_clip": errs}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
