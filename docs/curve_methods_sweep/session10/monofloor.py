"""The least raw curve error a take whose L and R are equally loud can reach, per set (``report.mono_floor``,
which ``eval --methods`` reports as ``floors.mono_lu``), and the targets' mean |L - R|."""
import sys
from pathlib import Path
import numpy as np
from triergon_studio.training.eval.report import AUDIBLE, load_clips, mono_floor
for d in sys.argv[1:]:
    clips = load_clips(Path(d), 36)
    floors = [f for f in (mono_floor(c.gt_curves) for c in clips) if f is not None]
    bal = [np.abs(t[0] - t[1])[(t > AUDIBLE).all(0)].mean() for t in (np.asarray(c.gt_curves) for c in clips) if (t > AUDIBLE).all(0).any()]
    print(d, f"{len(floors)} clips: mono floor {np.mean(floors):.2f} LU raw; mean |L-R| on frames audible in both {np.mean(bal):.2f} LU")
