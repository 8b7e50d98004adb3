"""How far apart two equally valid sound tracks of the same picture are: a lower bound under T_LUFS's error.

The corpus draws part of a clip's sound from things its picture does not show: the level jitter (+-2 dB), the
room (rt60, wet) and the noise floor (``generator._spatialise``). ``make_example(..., sound_redraw=k)`` makes
the same video with those draws taken afresh. For each clip this makes ``--redraws`` such tracks and measures,
as ``dev_check`` measures T_LUFS (audible frames of the clip's own track, mean over clips):

- ``two_track_mae_lu``: the clip's own curves against each re-drawn track's;
- three guesses of a predictor that knew the clip's whole script (every visible thing and more), each against
  the clip's own curves: ``audible_median_predictor_mae_lu`` (per frame, the median of the re-drawn tracks'
  audible values, ``audible_median``: only frames audible in the clip's own track count),
  ``median_predictor_mae_lu`` and ``mean_predictor_mae_lu`` (the plain per-frame median and mean; the mean is
  what a squared-error fit aims at);
- ``floor_mae_lu``: the least of the three. A predictor that reads only the picture knows less than the
  script, so this estimates a lower bound set by these draws alone (an estimate: 16 redraws, three guesses);
  the draws inside each scene's builder (per-hit strength jitter, a clip's object size against its level)
  would add to it and are not counted.

A property of the data alone: no model is run or chosen here, so it may read the held-out set.

    python tools/t_lufs_floor.py dev|devvideos|heldout [--clips N] [--redraws 8] [--out FILE.json]

``dev``: the dev seed's corpus clips (``dev_check``'s segments are cut from them); ``devvideos``: the clips of
``runs/devclips36``; ``heldout``: the held-out set's clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 44100


def _example(which: str, i: int, redraw: int | None) -> Any:
    from triergon_studio.training.corpus import make_example
    from triergon_studio.training.corpus.heldout import HELDOUT_SEED, heldout_example
    from triergon_studio.training.eval.dev_check import DEV_SEED, dev_corpus

    if which == "dev":  # as dev_pool's clips
        return make_example(DEV_SEED, i, dev_corpus(), sound_redraw=redraw)
    return heldout_example(i, HELDOUT_SEED if which == "heldout" else DEV_SEED, sound_redraw=redraw)


def audible_median(tracks: np.ndarray, audible: float) -> np.ndarray:
    """[R, C, F] curves -> [C, F]: per frame, the median of the values above ``audible`` (``audible`` itself
    where none is). The error counts only frames audible in the clip's own track, so the best guess for a
    frame is the median of its audible outcomes: the quiet ones cost nothing whatever is predicted."""
    masked = np.where(tracks > audible, tracks, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames: no audible outcome
        med = np.nanmedian(masked, axis=0)
    return np.where(np.isnan(med), audible, med)


def measure(which: str, clips: int, redraws: int) -> dict[str, Any]:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.dev_check import AUDIBLE

    def curves(audio: np.ndarray) -> np.ndarray:
        return np.asarray(channel_curves(audio, SR), np.float64)

    two: dict[str, list[float]] = {}
    med: dict[str, list[float]] = {}
    mean_errs: list[float] = []
    floor_errs: list[float] = []
    loud: list[np.ndarray] = []
    quiet: list[np.ndarray] = []
    for i in range(clips):
        ex = _example(which, i, None)
        own = curves(ex.audio)
        audible = own > AUDIBLE
        if not audible.any():
            continue
        others = [curves(_example(which, i, r).audio) for r in range(redraws)]
        for o in others:
            d = np.abs(own - o)
            two.setdefault(ex.label, []).append(float(d[audible].mean()))
            loud.append(d[own > -40.0])
            quiet.append(d[audible & (own <= -40.0)])
        tracks = np.stack(others)
        med.setdefault(ex.label, []).append(float(np.abs(own - np.median(tracks, axis=0))[audible].mean()))
        mean_errs.append(float(np.abs(own - tracks.mean(axis=0))[audible].mean()))
        floor_errs.append(float(np.abs(own - audible_median(tracks, AUDIBLE))[audible].mean()))
    n_loud, n_quiet = sum(len(x) for x in loud), sum(len(x) for x in quiet)

    def r(x: float) -> float:
        return round(float(x), 3)

    return {
        "set": which,
        "clips": clips,
        "redraws_per_clip": redraws,
        "two_track_mae_lu": r(np.mean([e for v in two.values() for e in v])),
        "audible_median_predictor_mae_lu": r(np.mean(floor_errs)),
        "median_predictor_mae_lu": r(np.mean([e for v in med.values() for e in v])),
        # the same with the mean of the re-drawn curves: what a squared-error fit aims at
        "mean_predictor_mae_lu": r(np.mean(mean_errs)),
        "floor_mae_lu": r(
            min(np.mean(floor_errs), np.mean([e for v in med.values() for e in v]), np.mean(mean_errs))
        ),
        "two_track_frames_above_-40_lufs": {
            "share": r(n_loud / (n_loud + n_quiet)),
            "mae_lu": r(np.concatenate(loud).mean()),
        },
        "two_track_frames_-60_to_-40_lufs": {
            "share": r(n_quiet / (n_loud + n_quiet)),
            "mae_lu": r(np.concatenate(quiet).mean()),
        },
        "median_predictor_by_class": {
            k: round(float(np.mean(v)), 2) for k, v in sorted(med.items(), key=lambda kv: -np.mean(kv[1]))
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", choices=("dev", "devvideos", "heldout"))
    ap.add_argument("--clips", type=int, help="default: 54 for dev, 36 otherwise")
    ap.add_argument("--redraws", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    clips = args.clips if args.clips is not None else (54 if args.set == "dev" else 36)
    if clips < 1 or args.redraws < 2:
        ap.error("--clips must be at least 1 and --redraws at least 2")
    out = measure(args.set, clips, args.redraws)
    text = json.dumps(out, indent=1)
    if args.out is not None:
        from triergon_studio.training.fileio import atomic_write_json

        atomic_write_json(args.out, out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
