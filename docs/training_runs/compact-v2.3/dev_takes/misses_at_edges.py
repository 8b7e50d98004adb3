"""Where the shipped T_LUFS's missed audible dev frames lie: next to a frame it calls audible, before or after
one, and in events missed whole (misses_at_edges.txt)."""

from pathlib import Path

import numpy as np
import torch

from triergon_studio.engine.weights import load_model_dir
from triergon_studio.training.eval.dev_check import dev_pool, t_lufs_dev_curves

torch.set_num_threads(1)
pool = dev_pool(54)
pred = load_model_dir(Path("model_weights/compact")).eval().lufs_predictor
curves = t_lufs_dev_curves(pred, pool)
n_miss = 0
near = 0
after_loud = 0
before_loud = 0
lvl = []
run_len = []
for p, g in curves:
    for ch in range(2):
        aud = g[ch] > -60
        loud = p[ch] > -60
        for k in np.where(aud & ~loud)[0]:
            n_miss += 1
            lvl.append(g[ch, k])
            nb = [j for j in (k - 1, k + 1) if 0 <= j < len(aud)]
            near += any(loud[j] for j in nb)
            after_loud += k - 1 >= 0 and loud[k - 1]
            before_loud += k + 1 < len(aud) and loud[k + 1]
        # lengths of audible runs fully missed
        k = 0
        while k < len(aud):
            if aud[k]:
                e = k
                while e < len(aud) and aud[e]:
                    e += 1
                if not loud[k:e].any():
                    run_len.append(e - k)
                k = e
            else:
                k += 1
print(
    "missed",
    n_miss,
    "adjacent to a called-audible frame",
    near / n_miss,
    "right after one",
    after_loud / n_miss,
    "right before one",
    before_loud / n_miss,
)
print("missed true level mean", np.mean(lvl), "pct below -50", np.mean(np.array(lvl) < -50))
print(
    "fully missed audible runs",
    len(run_len),
    "frames in them",
    sum(run_len),
    "lengths",
    np.bincount(run_len)[:12],
)
