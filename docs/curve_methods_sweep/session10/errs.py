"""Where the residual curve error lies on dev takes: by target level, by measured level, and an oracle DTW warp."""
import sys
from pathlib import Path
import numpy as np
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.training.eval.report import load_clips, AUDIBLE

clips = load_clips(Path("runs/devclips36"), 36)
for name in sys.argv[1:]:
    d = np.load(f"runs/guide_dev/{name}.npz")
    rows = []
    warp_errs, base_errs, off_errs = [], [], []
    for i, c in enumerate(clips):
        a = d[f"arr_{i}"]
        m = np.asarray(channel_curves(a, 44100))
        t = np.asarray(c.gt_curves)
        n = min(t.shape[1], m.shape[1]); t, m = t[:, :n], m[:, :n]
        for ch in range(2):
            sel = t[ch] > AUDIBLE
            rows += [(t[ch, j], m[ch, j]) for j in np.flatnonzero(sel)]
        sel = t > AUDIBLE
        base = np.abs(t - m)[sel].mean()
        # best global offset per channel (median of the signed error over audible frames)
        mo = m.copy()
        for ch in range(2):
            s = t[ch] > AUDIBLE
            if s.any(): mo[ch] += np.median(t[ch, s] - m[ch, s])
        off = np.abs(t - mo)[sel].mean()
        # oracle DTW warp (band 3 frames = 0.5 s) of the offset curve onto the target
        K = 3
        cost = np.abs(t[:, :, None] - np.stack([np.roll(mo, -k, axis=1) for k in range(-K, K + 1)], 2)).sum(0)  # [n, 2K+1]
        # monotone path: shift k_j with |k_j - k_{j-1}| <= 1 (DP)
        D = cost.copy()
        for j in range(1, n):
            prev = D[j - 1]
            best = np.minimum(prev, np.minimum(np.r_[np.inf, prev[:-1]], np.r_[prev[1:], np.inf]))
            D[j] += best
        # backtrack
        ks = [int(np.argmin(D[-1]))]
        for j in range(n - 1, 0, -1):
            k = ks[-1]
            cand = [kk for kk in (k - 1, k, k + 1) if 0 <= kk <= 2 * K]
            ks.append(min(cand, key=lambda kk: D[j - 1, kk]))
        ks = ks[::-1]
        mw = np.stack([mo[:, min(n - 1, max(0, j + ks[j] - K))] for j in range(n)], 1)
        warp = np.abs(t - mw)[sel].mean()
        base_errs.append(base); off_errs.append(off); warp_errs.append(warp)
    r = np.array(rows)
    err = r[:, 1] - r[:, 0]
    print(f"== {name}: raw {np.mean(base_errs):.2f}  after best offset {np.mean(off_errs):.2f}  offset+oracle warp(0.5s) {np.mean(warp_errs):.2f}")
    for lo, hi in [(-60, -45), (-45, -30), (-30, 0)]:
        s = (r[:, 0] > lo) & (r[:, 0] <= hi)
        print(f"  target {lo}..{hi}: {s.mean()*100:4.1f}% of frames  |err| {np.abs(err[s]).mean():5.2f}  signed {err[s].mean():+5.2f}")
    for lo, hi in [(-200, -60), (-60, -45), (-45, -30), (-30, 0)]:
        s = (r[:, 1] > lo) & (r[:, 1] <= hi)
        if s.any(): print(f"  measured {lo}..{hi}: {s.mean()*100:4.1f}% |err| {np.abs(err[s]).mean():5.2f} signed {err[s].mean():+5.2f}")
