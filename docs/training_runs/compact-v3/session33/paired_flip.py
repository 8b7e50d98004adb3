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
        pair = paired.paired(errs["bundle+flip"][part], errs["bundle"][part])
        summary[part] = {
            "bundle": round(float(np.nanmean(errs["bundle"][part])), 3),
            "bundle+flip": round(float(np.nanmean(errs["bundle+flip"][part])), 3),
            "flip_minus_bundle": pair.pop("minus"),
            **pair,
        }
    out.write_text(json.dumps({"summary": summary, "per_clip": errs}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
