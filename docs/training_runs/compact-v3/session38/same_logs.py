"""Session 38: are the rebuilt second-round runs session 37's? Every logged step of ``runs/s37/NAME/log.csv``
against ``session37/NAME/log.csv`` (committed): how many rows are equal to the printed digit, and the largest
loss and grad-norm differences. The curve-term run's grad norm already differs in the sixth digit at step 0
(float rounding in its backward pass, same loss), so the check fails only when the steps differ or a loss is
more than 1e-3 off (a batch's loss varies by about 0.05 from step to step).

    python same_logs.py s37_blk s37_blkw
"""

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
LOSS_TOL = 1e-3


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def main() -> None:
    bad = 0
    for name in sys.argv[1:]:
        old = rows(HERE.parent / "session37" / name / "log.csv")
        new = rows(ROOT / "runs" / "s37" / name / "log.csv")
        pairs = list(zip(old, new, strict=False))
        steps_same = len(old) == len(new) and all(a["step"] == b["step"] for a, b in pairs)
        equal = sum((a["loss"], a["grad_norm"]) == (b["loss"], b["grad_norm"]) for a, b in pairs)
        dloss = max(abs(float(a["loss"]) - float(b["loss"])) for a, b in pairs)
        dgrad = max(abs(float(a["grad_norm"]) / float(b["grad_norm"]) - 1) for a, b in pairs)
        ok = steps_same and dloss <= LOSS_TOL
        bad += not ok
        print(
            f"{name}: {len(new)} of {len(old)} logged steps, {equal} equal to the printed digit; "
            f"largest loss difference {dloss:.6f}, grad norm {dgrad:.2e} relative; {'same run' if ok else 'DIFFERENT'}"
        )
    if bad:
        raise SystemExit("the rebuilt runs are not session 37's")


if __name__ == "__main__":
    main()
