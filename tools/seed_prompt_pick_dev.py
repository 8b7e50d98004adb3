"""Would the prompt help pick the seed? Seed pickers judged on dev takes (issue 13; never the held-out set).

    .venv/bin/python -m tools.seed_prompt_pick_dev SEED [SEED ...] --dev-dir runs/devclips108 --clips 108

For each seed S it reads two take sets of ``tools/guide_dev_takes.py gen`` (no-LUFS variant): ``d108_u5_sS``,
unguided at 5 steps (what the seed search sees of a candidate), and ``d108_g_sS``, the bundle's default
guidance at full steps. Per clip and seed it measures the 5-step take's raw curve error and its prompt cosine
in the bundle's own joint audio-text space (``embed_audio`` against ``embed_text`` of the caption), and
whether the evaluation classifier recognises the guided take. It prints the guided class accuracy of each
picker: the first seed, the lowest curve error (the package's ``guide_seeds``), the highest prompt cosine,
and the best summed rank of the two; each picker's clips gained and lost against the first seed; the bound
of a perfect picker; and how the prompt cosine correlates with a recognised take, over all takes and within a
clip.
"""

from __future__ import annotations

import argparse
from math import comb
from pathlib import Path

import numpy as np

OUT = Path("runs/guide_dev")


def _sign_p(gained: int, lost: int) -> float:
    n, k = gained + lost, min(gained, lost)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def main() -> None:
    import torch

    from tools.guide_dev_takes import caption_cosines
    from tools.seed_pick_dev import _errors
    from triergon_studio.training.eval.classifier import load_classifier, predict_proba
    from triergon_studio.training.eval.report import load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("seeds", nargs="+")
    ap.add_argument("--prefix", default="d108")
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--dev-dir", default="runs/devclips108")
    ap.add_argument("--clips", type=int, default=108)
    args = ap.parse_args()
    torch.set_num_threads(2)
    clips = load_clips(Path(args.dev_dir), args.clips)
    clf, meta = load_classifier(Path(args.model) / "eval_classifier.safetensors")
    truth = np.array([meta["classes"].index(c.meta["label"]) for c in clips])
    cosines = caption_cosines(args.model, clips)
    err, cos, hit, gcos = [], [], [], []
    for s in args.seeds:
        d5 = np.load(OUT / f"{args.prefix}_u5_s{s}.npz")
        dg = np.load(OUT / f"{args.prefix}_g_s{s}.npz")
        u5 = [d5[f"arr_{i}"] for i in range(len(clips))]
        g = [dg[f"arr_{i}"] for i in range(len(clips))]
        err.append(_errors(u5, clips)[0])
        cos.append(np.diag(cosines(u5)))
        gcos.append(np.diag(cosines(g)))
        hit.append(predict_proba(clf, g).argmax(1) == truth)
    E, C, H, GC = np.array(err), np.array(cos), np.array(hit), np.array(gcos)
    cols = np.arange(len(clips))
    rank = E.argsort(0).argsort(0) + (-C).argsort(0).argsort(0)
    pickers = {
        "first seed": np.zeros(len(clips), int),
        "lowest curve error (guide_seeds)": E.argmin(0),
        "highest prompt cosine": C.argmax(0),
        "best summed rank": np.lexsort((E, rank), axis=0)[0],
        "oracle: guided take's prompt cosine": GC.argmax(0),
    }
    print(
        f"{len(clips)} clips, seeds {' '.join(args.seeds)}; guided class accuracy per seed: "
        + " ".join(f"{100 * h.mean():.1f}" for h in H)
        + f" (mean {100 * H.mean():.1f} %)"
    )
    base = H[0]
    for name, pick in pickers.items():
        h = H[pick, cols]
        gained, lost = int((h & ~base).sum()), int((~h & base).sum())
        print(
            f"{name:38s} {100 * h.mean():5.1f} %  (+{gained} -{lost} against the first seed, "
            f"sign test p {_sign_p(gained, lost):.3f})"
        )
    print(f"{'bound: any seed recognised':38s} {100 * H.any(0).mean():5.1f} %")
    r = np.corrcoef(C.ravel(), H.ravel())[0, 1]
    within = np.corrcoef((C - C.mean(0)).ravel(), (H - H.mean(0)).ravel())[0, 1]
    print(
        f"correlation of the 5-step prompt cosine with a recognised guided take: {r:.3f} over all takes, "
        f"{within:.3f} within a clip (each clip's mean over seeds removed)"
    )


if __name__ == "__main__":
    main()
