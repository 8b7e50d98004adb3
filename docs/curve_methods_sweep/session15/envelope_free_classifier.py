"""Scratch diagnostic (session 15): is the accuracy guidance loses the sound, or the envelope?

Trains two classifiers with the evaluation's own recipe (``train_classifier``: the shared pool that
``reproduce`` builds, seed 21, 400 steps): A as shipped, B with one more augmentation, a random gain per
1/6 s curve frame (0 to -30 dB, one frame in four muted to -60 dB, linear between frame centres), so B
cannot use the level contour. Then judges dev take sets (``runs/guide_dev``) with A, B and the bundle's.
Not the evaluation's measure; it only says which of the two the loss is.

    .venv/bin/python docs/curve_methods_sweep/session15/envelope_free_classifier.py nl_none nl_none_c nl_guide
"""

import sys
from pathlib import Path

import numpy as np
import torch

from triergon_studio.training.eval import classifier as C
from triergon_studio.training.eval.report import load_clips
from triergon_studio.training.reproduce import build_shared_pool

WORK = Path("runs/pool15")
HOP = 44100 // 6


def _envelope(wave: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b, _, n = wave.shape
    frames = n // HOP + 2
    db = torch.empty(b, frames).uniform_(-30, 0, generator=gen)
    mute = torch.rand(b, frames, generator=gen) < 0.25
    db = torch.where(mute, torch.full_like(db, -60.0), db)
    g = 10 ** (db / 20)
    env = torch.nn.functional.interpolate(g[:, None], size=n, mode="linear", align_corners=False)
    return wave * env


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    print(build_shared_pool(WORK))
    torch.set_num_threads(2)
    a, b = WORK / "clf_a.safetensors", WORK / "clf_b.safetensors"
    if not a.exists():
        print("A", C.train_classifier(a, WORK / "pool.npz"))
    if not b.exists():
        plain = C._augment
        C._augment = lambda w, g: _envelope(plain(w, g), g)  # type: ignore[assignment]
        print("B", C.train_classifier(b, WORK / "pool.npz"))
        C._augment = plain
    judges = {"bundle": Path("model_weights/compact/eval_classifier.safetensors"), "A": a, "B": b}
    clips = load_clips(Path("runs/devclips36"), 36)
    sets = {"ground truth": [c.gt_audio for c in clips]}
    for name in sys.argv[1:]:
        d = np.load(f"runs/guide_dev/{name}.npz")
        sets[name] = [d[f"arr_{i}"] for i in range(len(clips))]
    for jn, path in judges.items():
        clf, meta = C.load_classifier(path)
        classes = meta["classes"]
        truth = np.array([classes.index(c.meta["label"]) for c in clips])
        for sn, audio in sets.items():
            p = C.predict_proba(clf, audio)
            acc = 100 * np.mean(p.argmax(1) == truth)
            print(f"{jn:6s} {sn:14s} acc {acc:5.1f} %  p(right) {p[np.arange(len(clips)), truth].mean():.3f}")


if __name__ == "__main__":
    main()
