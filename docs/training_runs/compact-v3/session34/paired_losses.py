"""Session 34: the tokens-only dit_mel run against version 3's dit_mel run, step by step. Both saw the same
batches (same pool, seed and schedule), so the logged losses pair up; split by whether the logged step's
batch carried the curves (``with_curve``)."""

import csv
import statistics
import sys


def rows(path: str) -> dict[int, dict[str, float]]:
    return {int(r["step"]): {k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))}


frame, tokens = rows(sys.argv[1]), rows(sys.argv[2])
steps = sorted(set(frame) & set(tokens))
for lo, hi in ((0, 1000), (1000, 3000), (3000, 6000)):
    for curve in (1.0, 0.0):
        d = [
            tokens[s]["loss"] - frame[s]["loss"]
            for s in steps
            if lo <= s < hi and frame[s]["with_curve"] == curve == tokens[s]["with_curve"]
        ]
        if len(d) > 1:
            se = statistics.stdev(d) / len(d) ** 0.5
            print(
                f"steps {lo}-{hi} with_curve={int(curve)}: n={len(d)} tokens - frame = "
                f"{statistics.mean(d):+.4f} +- {se:.4f} (frame mean "
                f"{statistics.mean(frame[s]['loss'] for s in steps if lo <= s < hi and frame[s]['with_curve'] == curve):.4f})"
            )
