"""Scratch (session 31): version 3.1's T_LUFS and the small-width run read every frame together (mean normalised
level, mean audibility logit, the hard gate on that mean), on the dev segments and the dev videos.
Run from the repository root: python docs/training_runs/compact-v3/session31/t_lufs_pair.py [WEIGHTS ...]
(default: the small-width run; each WEIGHTS is a 64 px lufs stage's weights.safetensors, read beside 3.1's)."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from triergon_studio.core.constants import LUFS_FLOOR
from triergon_studio.engine.models.triergon import build_model
from triergon_studio.engine.weights import load_model_dir
from triergon_studio.training.eval.dev_check import (
    dev_pool, put_stage_weights, stage_model_config, t_lufs_heldout, t_lufs_report,
)

torch.set_num_threads(2)
members = [load_model_dir(Path("model_weights/compact")).eval().lufs_predictor]
for w in [Path(a) for a in sys.argv[1:]] or [Path("runs/s31/lufs_wide/weights.safetensors")]:
    m = build_model(stage_model_config(w))
    put_stage_weights(m, str(w), "lufs_predictor.", "lufs")
    members.append(m.eval().lufs_predictor)


class Pair:
    cfg = SimpleNamespace(features="frame-cnn", frame_cnn=SimpleNamespace(image_size=64))

    def stage_weights(self):
        return members[0].stage_weights()

    @torch.no_grad()
    def predict_curves(self, frames, progress=None):
        levels, gates = [], []
        for p in members:
            f = p.frame_features(frames)[None]
            lv, g = p.forward_parts(f)  # clips here are under one 60 s window
            levels.append(lv)
            gates.append(g)
        lv, g = torch.stack(levels).mean(0), torch.stack(gates).mean(0)
        y = torch.where(g >= 0, lv, torch.zeros_like(lv))[0]
        return (y * -LUFS_FLOOR + LUFS_FLOOR).float()


pair = Pair()
rep = t_lufs_report(pair, dev_pool(54))
out = {"dev_segments": rep["t_lufs_mae_lu"], "breakdown": rep["t_lufs_breakdown"],
       "dev_videos": t_lufs_heldout(pair, Path("runs/devclips36"), 36)}
print(json.dumps(out, indent=1))
