"""Scratch: paste the unguided take's first event within 10 LU of its loudest frame (audio) into curve
frames where the target is loud and the take silent, then conform to the ground-truth curves; judge with the evaluation classifier."""

from pathlib import Path

import numpy as np

from triergon_studio.audio.conform import conform_to_curve
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.core.curves import CurveSource, LoudnessCurve
from triergon_studio.training.eval.classifier import load_classifier, predict_proba
from triergon_studio.training.eval.report import curve_mae, load_clips

clf, meta = load_classifier(Path("model_weights/compact/eval_classifier.safetensors"))
classes = meta["classes"]
clips = load_clips(Path("runs/devclips36"), 36)
d = np.load("runs/guide_dev/nl_none.npz")
SR, HOP = 44100, 44100 // 6
out, outc = [], []
for i, c in enumerate(clips):
    a = d[f"arr_{i}"].copy()  # [N, 2]
    m = np.asarray(channel_curves(a, SR)).max(0)
    t = np.asarray(c.gt_curves).max(0)
    F = min(len(m), len(t))
    hole = (t[:F] > -50) & (m[:F] < t[:F] - 12)
    donor = m[:F] > m[:F].max() - 10
    b = a.copy()
    if hole.any() and donor.any():
        k0 = int(np.flatnonzero(donor)[0])
        k1 = k0
        while k1 < F and m[k1] > m[k0 : k1 + 1].max() - 20:
            k1 += 1
        src = a[k0 * HOP : k1 * HOP]
        f = 0
        while f < F:
            if hole[f]:
                g = f
                while g < F and hole[g]:
                    g += 1
                n = (g - f) * HOP
                rep = np.tile(src, (n // len(src) + 1, 1))[:n]
                b[f * HOP : f * HOP + n] = rep[: len(b) - f * HOP]
                f = g
            else:
                f += 1
    out.append(b)
    curve = LoudnessCurve(c.gt_curves[0], c.gt_curves[1], len(b) / SR, 6.0, CurveSource.DRAWN)
    outc.append(np.asarray(conform_to_curve(b, SR, curve).audio, np.float32))
truth = np.array([classes.index(c.meta["label"]) for c in clips])
for name, aud in (("none", [d[f"arr_{i}"] for i in range(36)]), ("pasted", out), ("pasted+conform", outc)):
    p = predict_proba(clf, aud)
    errs = [
        curve_mae(c.gt_curves, np.asarray(channel_curves(x, SR))) for c, x in zip(clips, aud, strict=True)
    ]
    raw = np.nanmean([np.mean(e) if e is not None else np.nan for e in errs])
    print(
        f"{name:16s} acc {100 * np.mean(p.argmax(1) == truth):5.1f} %  p(right) {p[np.arange(36), truth].mean():.3f}  raw {raw:.2f} LU"
    )
    if name == "pasted+conform":
        for j in (7, 9, 17, 25, 33):
            print("  ", j, clips[j].meta["label"], classes[p[j].argmax()], f"{p[j, truth[j]]:.2f}")
