"""Session 32 scratch: where in the dev segments two T_LUFS differ (the first frames, which a 6 fps reader sees
with no motion before them, against the rest), on audible frames.

    python docs/training_runs/compact-v3/session32/error_by_position.py A/weights.safetensors B/weights.safetensors
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_t_lufs import load  # noqa: E402

from triergon_studio.training.eval.dev_check import AUDIBLE, dev_pool_for, t_lufs_dev_curves  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    out = {}
    for name in sys.argv[1:]:
        pred = load(name)
        first, rest = [], []
        for p, g in t_lufs_dev_curves(pred, dev_pool_for(pred, 54)):
            e = np.abs(p - g)
            aud = g > AUDIBLE
            first.append(e[:, :2][aud[:, :2]])
            rest.append(e[:, 2:][aud[:, 2:]])
        f, r = np.concatenate(first), np.concatenate(rest)
        out[name] = {
            "first_two_frames": {"frames": len(f), "mae_lu": round(float(f.mean()), 3)},
            "later_frames": {"frames": len(r), "mae_lu": round(float(r.mean()), 3)},
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
