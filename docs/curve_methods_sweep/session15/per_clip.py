import sys
from pathlib import Path

import numpy as np

from triergon_studio.training.eval.classifier import load_classifier, predict_proba
from triergon_studio.training.eval.report import load_clips

clf, meta = load_classifier(Path("model_weights/compact/eval_classifier.safetensors"))
classes = meta["classes"]
clips = load_clips(Path("runs/devclips36"), 36)
names = sys.argv[1:]
P = {}
for n in names:
    d = np.load(f"runs/guide_dev/{n}.npz")
    P[n] = predict_proba(clf, [d[f"arr_{i}"] for i in range(36)])
gt = predict_proba(clf, [c.gt_audio for c in clips])
truth = np.array([classes.index(c.meta["label"]) for c in clips])
print("gt acc", np.mean(gt.argmax(1) == truth))
for i, c in enumerate(clips):
    row = [f"{i:2d} {c.meta['label'][:10]:10s} gt:{classes[gt[i].argmax()][:8]:8s}"]
    for n in names:
        p = P[n][i]
        row.append(f"{n[:10]}:{classes[p.argmax()][:8]:8s}{p[truth[i]]:.2f}")
    print("  ".join(row))
