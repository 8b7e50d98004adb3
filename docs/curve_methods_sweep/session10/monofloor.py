"""The least raw curve error a take whose L and R levels are equal can reach (in every frame the midpoint of the
two targets, or the one audible target), measured as the evaluation measures raw adherence."""
import sys
from pathlib import Path
import numpy as np
from triergon_studio.training.eval.report import curve_mae, load_clips, AUDIBLE
for d in sys.argv[1:]:
    errs, bal = [], []
    for c in load_clips(Path(d), 36):
        t = np.asarray(c.gt_curves, dtype=float)
        aud = t > AUDIBLE
        mid = np.where(aud.all(0), t.mean(0), np.where(aud[0], t[0], t[1]))
        e = curve_mae(t, np.stack([mid, mid]))
        if e is not None: errs.append(np.nanmean(e))
        if aud.all(0).any(): bal.append(np.abs(t[0] - t[1])[aud.all(0)].mean())
    print(d, f"{len(errs)} clips: mono floor {np.mean(errs):.2f} LU raw; mean |L-R| on frames audible in both {np.mean(bal):.2f} LU")
