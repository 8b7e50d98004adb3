"""Session 32 scratch: T_LUFS over windows of the length it was trained on. Training windows are 3, 4 and 6 s
(18-36 frames), so position embeddings past frame 36 never moved from their initialisation, yet the app reads a
video in one 60 s window. This reads the dev videos (the app's decode) with the stitched windows of
``windowed_apply`` at several (window, overlap) lengths in frames and prints the mean per-clip MAE, for the clips
longer than 6 s and for all.

    python docs/training_runs/compact-v3/session32/window_length.py bundle|RUN/weights.safetensors [VIDEOS N]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_t_lufs import ROOT, load  # noqa: E402

from triergon_studio.core.constants import LUFS_FLOOR  # noqa: E402
from triergon_studio.engine.models.lufs_predictor import windowed_apply  # noqa: E402
from triergon_studio.training.corpus.heldout import load_heldout  # noqa: E402
from triergon_studio.training.eval.dev_check import AUDIBLE, lufs_input_size, lufs_pictures_per_frame  # noqa: E402
from triergon_studio.video.sampling import sample_frames_6fps  # noqa: E402

SETTINGS = [(360, 60), (36, 12), (36, 18), (24, 12)]


def main() -> None:
    torch.set_num_threads(2)
    pred = load(sys.argv[1])
    videos = ROOT / (sys.argv[2] if len(sys.argv) > 2 else "runs/devclips108")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 108
    side, k = lufs_input_size(pred), lufs_pictures_per_frame(pred)
    errs: dict[str, list[tuple[int, float]]] = {f"{w}/{o}": [] for w, o in SETTINGS}
    for meta in load_heldout(videos)[:n]:
        c = meta["curves"]
        gt = np.array([c["left"], c["right"]], np.float64)
        pics = sample_frames_6fps(str(meta["video"]), size=(side, side), per_frame=k)
        with torch.inference_mode():
            feats = pred.frame_features(pics)[None]
            for w, o in SETTINGS:
                y = windowed_apply(pred.forward, feats, w, o)[0].double().numpy() * -LUFS_FLOOR + LUFS_FLOOR
                m = min(y.shape[1], gt.shape[1])
                g, p = gt[:, :m], y[:, :m]
                if (g > AUDIBLE).any():
                    errs[f"{w}/{o}"].append((m, float(np.abs(p - g)[g > AUDIBLE].mean())))
    out = {
        key: {
            "all": round(float(np.mean([e for _, e in v])), 3),
            "longer_than_6_s": round(float(np.mean([e for m, e in v if m > 36])), 3),
            "clips_longer": sum(1 for m, _ in v if m > 36),
        }
        for key, v in errs.items()
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
