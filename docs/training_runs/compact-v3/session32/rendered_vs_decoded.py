"""Session 32 scratch: the dev videos' clips read two ways by each T_LUFS: decoded from their mp4s through the
app's path (as ``dev_check --heldout`` reads them) and rendered straight from their scripts at the predictor's
picture rate and size (as training and the dev segments see pictures). Per-clip MAE on audible frames, mean
over clips, and paired differences against the first predictor.

    python docs/training_runs/compact-v3/session32/rendered_vs_decoded.py OUT.json A B ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_t_lufs import ROOT, load  # noqa: E402

from triergon_studio.training.corpus.heldout import heldout_example, load_heldout  # noqa: E402
from triergon_studio.training.data import _resize_frames  # noqa: E402
from triergon_studio.training.eval.dev_check import (  # noqa: E402
    AUDIBLE,
    DEV_SEED,
    lufs_input_size,
    lufs_pictures_per_frame,
)
from triergon_studio.training.eval.report import video_curves  # noqa: E402


def clip_err(pred: np.ndarray, gt: np.ndarray) -> float:
    n = min(pred.shape[1], gt.shape[1])
    p, g = pred[:, :n], gt[:, :n]
    return float(np.abs(p - g)[g > AUDIBLE].mean()) if (g > AUDIBLE).any() else float("nan")


def main() -> None:
    torch.set_num_threads(2)
    out_path, names = Path(sys.argv[1]), sys.argv[2:]
    metas = load_heldout(ROOT / "runs" / "devclips36")[:36]
    errs: dict[str, dict[str, list[float]]] = {}
    for name in names:
        pred = load(name)
        k, side = lufs_pictures_per_frame(pred), lufs_input_size(pred)
        dec, ren = [], []
        for i, meta in enumerate(metas):
            c = meta["curves"]
            gt = np.array([c["left"], c["right"]], np.float64)
            dec.append(clip_err(video_curves(pred, str(meta["video"])), gt))
            ex = heldout_example(i, DEV_SEED)
            n6 = int(np.ceil(ex.duration_s * 6 - 1e-9))
            pictures = _resize_frames(ex.video.frames_at(np.arange(n6 * k) / (6.0 * k)), side)
            with torch.inference_mode():
                ren.append(clip_err(pred.predict_curves(torch.from_numpy(pictures)).double().numpy(), gt))
        errs[name] = {"decoded": dec, "rendered": ren}
    base = names[0]
    summary = {}
    for name in names:
        summary[name] = {}
        for how in ("decoded", "rendered"):
            a, b = np.array(errs[name][how]), np.array(errs[base][how])
            ok = np.isfinite(a) & np.isfinite(b)
            d = a[ok] - b[ok]
            summary[name][how] = {
                "mean": round(float(np.nanmean(a)), 3),
                "minus_first": round(float(d.mean()), 3),
                "paired_se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 3) if name != base else 0.0,
            }
    out_path.write_text(json.dumps({"summary": summary, "per_clip": errs}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
