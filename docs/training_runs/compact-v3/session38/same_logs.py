"""Session 38: are the rebuilt second-round runs session 37's? Every logged step's loss and grad norm of
``runs/s37/NAME/log.csv`` against ``session37/NAME/log.csv`` (committed), to the printed digit.

    python same_logs.py s37_blk s37_blkw
"""

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def main() -> None:
    bad = 0
    for name in sys.argv[1:]:
        old = rows(HERE.parent / "session37" / name / "log.csv")
        new = rows(ROOT / "runs" / "s37" / name / "log.csv")
        diff = [
            (a["step"], a["loss"], b["loss"])
            for a, b in zip(old, new)
            if (a["step"], a["loss"], a["grad_norm"]) != (b["step"], b["loss"], b["grad_norm"])
        ]
        same = len(old) == len(new) and not diff
        bad += not same
        print(f"{name}: {len(new)} of {len(old)} logged steps; {'equal' if same else f'{len(diff)} differ, first {diff[:1]}'}")
    if bad:
        raise SystemExit("the rebuilt runs are not session 37's")


if __name__ == "__main__":
    main()
