"""Session 36: each take set's signed level against its curves (the mean and median over clips of each clip's
median take-less-curve on audible frames), the raw adherence left after one gain for every clip, and the
audible frames called silent. 108 dev clips (runs/devclips108), takes in runs/guide_dev (tools/guide_dev_takes.py).

    .venv/bin/python docs/training_runs/compact-v3/session36/signed_levels.py v32_fr blkw36_fr
"""

import sys
from pathlib import Path

import numpy as np

from triergon_studio.audio.loudness import channel_curves
from triergon_studio.core.constants import LUFS_ACTIVE as AUDIBLE
from triergon_studio.training.eval.report import curve_mae, load_clips

clips = load_clips(Path("runs/devclips108"), 108)
for name in sys.argv[1:]:
    takes = np.load(f"runs/guide_dev/{name}.npz")
    curves = [np.asarray(channel_curves(takes[f"arr_{i}"], 44100)) for i in range(len(clips))]
    medians, pairs = [], []
    for clip, got in zip(clips, curves, strict=True):
        n = min(got.shape[1], clip.gt_curves.shape[1])
        truth, take = clip.gt_curves[:, :n], got[:, :n]
        audible = truth > AUDIBLE
        if audible.any():
            medians.append(np.median((take - truth)[audible]))
            pairs.append((take, truth))
    med = np.array(medians)
    print(f"{name}: signed level mean {med.mean():+.2f}, median {np.median(med):+.2f} LU, too quiet {(med < 0).mean():.2f}")
    for gain in (0.0, -1.0, -1.5, -2.0, -2.5, -3.0):
        errs = [curve_mae(c.gt_curves, k + gain) for c, k in zip(clips, curves, strict=True)]
        print(f"  gain {gain:+.1f} LU for every clip: raw {np.mean([np.nanmean(e) for e in errs if e is not None]):.2f}")
    take = np.concatenate([p[0][p[1] > AUDIBLE] for p in pairs])
    truth = np.concatenate([p[1][p[1] > AUDIBLE] for p in pairs])
    missed = take <= AUDIBLE
    print(
        f"  audible frames called silent {missed.mean():.3f} (error {np.abs(take - truth)[missed].mean():.1f}); "
        f"the others {np.abs(take - truth)[~missed].mean():.2f} LU, bias {(take - truth)[~missed].mean():+.2f}"
    )
