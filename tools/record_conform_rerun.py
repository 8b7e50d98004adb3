"""Write a re-measured conform into the bundle's manifest (session 26: the conform's floor).

    .venv/bin/python tools/record_conform_rerun.py docs/conform_floor/table3.json [model_weights/compact]

The report must come from the same bundle, clips and seeds as the manifest's: every row's class accuracy and
KL must be equal and its raw LUFS figures within 0.005 LU (the held-out videos written on another machine can
move a video-only row in the third decimal), or nothing is written. Only the after-conform figures are copied (the
takes are the same; the conform changed), the targets are computed again from the rows, and
``compact_eval.md`` beside the bundle folder is written again from the result. AV-Align keeps the manifest's
reference: a machine whose held-out videos give another ground-truth AV-Align would shift every ratio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from triergon_studio.training.eval.results import EvalReport, compute_targets, to_markdown
from triergon_studio.training.fileio import atomic_write_json, atomic_write_text

SAME = ("class_acc", "kl_ref_gen")
CLOSE = ("lufs_mae_vs_gt", "lufs_mae_raw")


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 0.005 for k in a)
    return a == b


def main() -> None:
    new_path = Path(sys.argv[1])
    model_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "model_weights/compact")
    man_path = model_dir / "manifest.json"
    manifest = json.loads(man_path.read_text())
    old = manifest["eval"]
    new = json.loads(new_path.read_text())
    if set(old["rows"]) != set(new["rows"]) or old["clips"] != new["clips"]:
        raise SystemExit(f"{new_path}: not the manifest's rows and clips")
    for row, r in old["rows"].items():
        for key in SAME + CLOSE:
            if not _close(r.get(key), new["rows"][row].get(key)):
                raise SystemExit(f"{new_path}: row {row} differs in {key}; not the same takes")
        if "lufs_mae_conform" in r:
            r["lufs_mae_conform"] = new["rows"][row]["lufs_mae_conform"]
    report = EvalReport.from_dict(old, man_path)
    report.targets = compute_targets(report)
    manifest["eval"] = report.to_dict()
    atomic_write_json(man_path, manifest)
    atomic_write_text(model_dir.parent / f"{model_dir.name}_eval.md", to_markdown(report) + "\n")
    gt = report.targets["lufs_mae_conform_gt"]
    print(f"{man_path}: after conform, V+T+GT {gt.measured} LU (target {gt.target}, met: {gt.met})")


if __name__ == "__main__":
    main()
