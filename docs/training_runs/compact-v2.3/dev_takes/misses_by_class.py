"""Audible dev frames a T_LUFS calls silent, by class (misses_by_class.txt: the 700-step run, runs/s17/cand700).

.venv/bin/python docs/training_runs/compact-v2.3/dev_takes/misses_by_class.py MODEL_DIR
"""

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from triergon_studio.engine.weights import load_model_dir
from triergon_studio.training.corpus import CLASS_NAMES
from triergon_studio.training.eval.dev_check import dev_pool, t_lufs_dev_curves

torch.set_num_threads(1)
pool = dev_pool(54)
pred = load_model_dir(Path(sys.argv[1])).eval().lufs_predictor
curves = t_lufs_dev_curves(pred, pool)
agg = defaultdict(lambda: [0, 0, 0.0, 0, 0.0])
for i, (p, g) in enumerate(curves):
    lab = CLASS_NAMES[int(pool.arrays["label"][i])] if "label" in pool.arrays else "?"
    aud = g > -60
    miss = aud & (p <= -60)
    hit = aud & (p > -60)
    a = agg[lab]
    a[0] += aud.sum()
    a[1] += miss.sum()
    a[2] += np.abs(p - g)[hit].sum()
    a[3] += hit.sum()
    a[4] += np.abs(p - g)[aud].sum()
for k, (n, m, he, h, tot) in sorted(agg.items(), key=lambda kv: -kv[1][4]):
    print(
        f"{k:18s} aud {n:4d} miss {m / max(n, 1):.2f} hitMAE {he / max(h, 1):5.2f} MAE {tot / max(n, 1):5.2f} share {tot:7.0f}"
    )
