"""Session 33 scratch: per-clip T_LUFS error of the bundle read once and read with ``flip_average``, on the
same dev segments and dev videos, with the paired differences (session 32's ``paired_t_lufs.py`` does the
measuring).

    VIDEOS=runs/devclips108 VIDEO_CLIPS=108 python docs/training_runs/compact-v3/session33/paired_flip.py OUT.json
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("paired_t_lufs", HERE.parent / "session32" / "paired_t_lufs.py")
assert spec is not None and spec.loader is not None
paired = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paired)


def main() -> None:
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    once = paired.load("bundle")
    both = paired.load("bundle")
    both.cfg = dataclasses.replace(both.cfg, flip_average=True)
    errs = {"bundle": paired.per_clip(once), "bundle+flip": paired.per_clip(both)}
    summary = {}
    for part in ("segments", "videos"):
        a, b = np.array(errs["bundle+flip"][part]), np.array(errs["bundle"][part])
        ok = np.isfinite(a) & np.isfinite(b)
        d = a[ok] - b[ok]
        summary[part] = {
            "bundle": round(float(b[ok].mean()), 3),
            "bundle+flip": round(float(a[ok].mean()), 3),
            "flip_minus_bundle": round(float(d.mean()), 3),
            "paired_se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 3),
            "clips_better": int((d < 0).sum()),
            "clips_worse": int((d > 0).sum()),
        }
    out.write_text(json.dumps({"summary": summary, "per_clip": errs}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
