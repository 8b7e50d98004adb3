"""T_LUFS of the bundle on the 54 dev clips, its gate read hard and soft (gate_hard_soft_t_lufs.txt)."""

from pathlib import Path

import numpy as np
import torch

from triergon_studio.engine.weights import load_model_dir
from triergon_studio.training.eval.dev_check import clip_mean_mae, dev_pool, t_lufs_breakdown

torch.set_num_threads(2)
pool = dev_pool(54)
m = load_model_dir(Path("model_weights/compact")).eval()
lp = m.lufs_predictor
hard, soft = [], []
with torch.inference_mode():
    for i in range(len(pool)):
        nf = int(np.ceil(int(pool.arrays["valid"][i]) / 44100 * 6))
        fr = torch.from_numpy(pool.arrays["frames6"][i][:nf])
        feats = lp.frame_features(fr)[None]
        level, gate = lp.forward_parts(feats)
        gt = np.asarray(pool.arrays["curves_lufs"][i])[:, :nf].astype(np.float64)
        h = torch.where(gate >= 0, level, torch.zeros_like(level))[0].double().numpy() * 70 - 70
        s = (torch.sigmoid(gate) * level)[0].double().numpy() * 70 - 70
        hard.append((h, gt))
        soft.append((s, gt))
for name, c in (("hard", hard), ("soft", soft)):
    b = t_lufs_breakdown(c)
    # total-variation per frame: how jumpy the curve is
    tv = np.mean([np.abs(np.diff(p, axis=1)).mean() for p, _ in c])
    tvg = np.mean([np.abs(np.diff(g, axis=1)).mean() for _, g in c])
    allf = np.mean([np.abs(p - g).mean() for p, g in c])
    print(
        name,
        clip_mean_mae(c),
        "all-frames MAE",
        round(allf, 2),
        "TV/frame",
        round(tv, 2),
        "gt TV",
        round(tvg, 2),
        b,
    )
