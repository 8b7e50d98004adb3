"""Session 35 scratch: per clip, which prompts the curve-term takes lost or gained against version 3.2's
(frame-aligned, unguided, 108 dev clips), by class, with each clip's raw adherence before and after.

    .venv/bin/python docs/training_runs/compact-v3/session35/lost_clips.py v32_fr w03_fr w10_fr mid_w10_fr
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from triergon_studio.audio.loudness import channel_curves
from triergon_studio.training.eval.classifier import load_classifier, predict_proba
from triergon_studio.training.eval.report import curve_mae, load_clips

clf, meta = load_classifier(Path("model_weights/compact/eval_classifier.safetensors"))
clips = load_clips(Path("runs/devclips108"), 108)
truth = np.array([meta["classes"].index(c.meta["label"]) for c in clips])


def read(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(f"runs/guide_dev/{name}.npz")
    audio = [d[f"arr_{i}"] for i in range(len(clips))]
    ok = predict_proba(clf, audio).argmax(1) == truth
    raw = []
    for c, a in zip(clips, audio, strict=True):
        e = curve_mae(c.gt_curves, np.asarray(channel_curves(a, 44100)))
        raw.append(np.mean(e) if e is not None else np.nan)
    return ok, np.array(raw)


base, *others = sys.argv[1:]
ok0, raw0 = read(base)
for name in others:
    ok, raw = read(name)
    lost = [clips[i].meta["label"] for i in np.flatnonzero(ok0 & ~ok)]
    won = [clips[i].meta["label"] for i in np.flatnonzero(~ok0 & ok)]
    d = raw - raw0
    print(f"{name}: lost {len(lost)} {dict(Counter(lost))}; gained {len(won)} {dict(Counter(won))}")
    print(
        f"  raw change per clip: median {np.nanmedian(d):+.2f} LU, clips better {np.mean(d < 0):.0%}; "
        f"on the lost clips {np.nanmean(d[ok0 & ~ok]):+.2f}, on the rest {np.nanmean(d[~(ok0 & ~ok)]):+.2f}"
    )
