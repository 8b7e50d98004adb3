import sys
from pathlib import Path
import numpy as np
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.training.eval.report import load_clips, AUDIBLE
clips = load_clips(Path("runs/devclips36"), 36)
name = sys.argv[1]
d = np.load(f"runs/guide_dev/{name}.npz")
for i, c in enumerate(clips):
    a = d[f"arr_{i}"]; m = np.asarray(channel_curves(a, 44100)); t = np.asarray(c.gt_curves)
    n = min(t.shape[1], m.shape[1]); t, m = t[:, :n], m[:, :n]
    sel = t > AUDIBLE
    med = [np.median(t[ch, sel[ch]] - m[ch, sel[ch]]) if sel[ch].any() else 0 for ch in range(2)]
    print(f"{i:2d} {c.meta['label']:14s} raw {np.abs(t-m)[sel].mean():5.2f} offL {med[0]:+6.2f} offR {med[1]:+6.2f} audible {sel.mean():.2f} n {n}")
