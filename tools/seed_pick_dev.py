"""Would picking the seed help guidance keep the prompt? An oracle on the dev takes (issue 13; never the
held-out set).

    .venv/bin/python tools/seed_pick_dev.py UNGUIDED:GUIDED [UNGUIDED:GUIDED ...]

Each pair names two take sets of ``tools/guide_dev_takes.py gen`` made with the same ``--seed``: the unguided
takes and the guided ones. Per clip it picks the seed whose unguided take is closest to the clip's curves
(raw error, and the shape error left after each channel's median offset) and prints the class accuracy of the
picked seeds' unguided and guided takes, against the mean over seeds and the worst pick. It reads finished
takes, so it is an upper bound on a picker that has to judge a seed from an early step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path("runs/guide_dev")


def _errors(audio: list[np.ndarray], clips: list) -> tuple[np.ndarray, np.ndarray]:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.report import curve_mae

    raw, shape = [], []
    for a, c in zip(audio, clips, strict=True):
        m = np.asarray(channel_curves(a, 44100))
        e = curve_mae(c.gt_curves, m)
        raw.append(float(np.nanmean(e)) if e is not None else np.inf)
        f = min(m.shape[1], c.gt_curves.shape[1])
        t = c.gt_curves[:, :f]
        d = (m[:, :f] - t)[t > -60]
        shape.append(float(np.abs(d - np.median(d)).mean()) if d.size else np.inf)
    return np.array(raw), np.array(shape)


def main() -> None:
    from triergon_studio.training.eval.classifier import load_classifier, predict_proba
    from triergon_studio.training.eval.report import load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="+", help="UNGUIDED:GUIDED take set names, one pair per seed")
    ap.add_argument("--classifier", default="model_weights/compact/eval_classifier.safetensors")
    ap.add_argument("--dev-dir", default="runs/devclips36")
    ap.add_argument("--clips", type=int, default=36)
    args = ap.parse_args()
    clips = load_clips(Path(args.dev_dir), args.clips)
    clf, meta = load_classifier(Path(args.classifier))
    truth = np.array([meta["classes"].index(c.meta["label"]) for c in clips])
    hit_u, hit_g, err = [], [], {"raw": [], "shape": []}
    for pair in args.pairs:
        u, g = pair.split(":")
        takes = []
        for name in (u, g):
            d = np.load(OUT / f"{name}.npz")
            takes.append([d[f"arr_{i}"] for i in range(len(clips))])
        hit_u.append(predict_proba(clf, takes[0]).argmax(1) == truth)
        hit_g.append(predict_proba(clf, takes[1]).argmax(1) == truth)
        raw, shape = _errors(takes[0], clips)
        err["raw"].append(raw)
        err["shape"].append(shape)
        print(
            f"{pair}: unguided {100 * hit_u[-1].mean():.1f} %, guided {100 * hit_g[-1].mean():.1f} %, raw {raw.mean():.2f} LU"
        )
    hu, hg = np.stack(hit_u), np.stack(hit_g)
    print(f"mean over seeds: unguided {100 * hu.mean():.1f} %, guided {100 * hg.mean():.1f} %")
    rows = np.arange(len(clips))
    for name, e in err.items():
        for how, pick in (("best", np.stack(e).argmin(0)), ("worst", np.stack(e).argmax(0))):
            a, b = 100 * hu[pick, rows].mean(), 100 * hg[pick, rows].mean()
            print(
                f"{how} seed by unguided {name} error: unguided {a:.1f} %, guided {b:.1f} % (drop {a - b:.1f} points)"
            )


if __name__ == "__main__":
    main()
