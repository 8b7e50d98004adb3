"""Recreate, from a bundle, the run folders that later recipe steps start from, on a machine that holds the
bundle but not the runs that made it (the runs of versions 2 to 2.5 were on earlier machines):

    python -m tools.bundle_runs [--model model_weights/compact] [--work runs/compact]

Each folder gets the bundle's tensors under the stage's prefixes, and the run's recorded config and summary
from ``docs/training_runs`` (so ``reproduce``'s manifest reports their steps and times), with the bundle's hash
added to the summary. An existing folder is left as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

# stage -> (tensor prefixes in the bundle, the folder in docs/training_runs that recorded the run)
STAGES = {
    "encoders": (("encoders.",), "compact-v2/encoders"),
    "lufs": (("lufs_predictor.",), "compact-v2.5/lufs_next"),
    "dit_v24": (("dit.", "conditioner."), "compact-v2.4/dit_v24"),
}


def main() -> None:
    from tools.stage_weights_from_bundle import write_stage_weights

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--work", default="runs/compact")
    args = ap.parse_args()
    weights = Path(args.model) / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    docs = Path(__file__).resolve().parent.parent / "docs" / "training_runs"
    for stage, (prefixes, record) in STAGES.items():
        out = Path(args.work) / stage
        if (out / "weights.safetensors").exists():
            print(f"{stage}: exists, left as it is")
            continue
        count = write_stage_weights(weights, out / "weights.safetensors", list(prefixes))
        (out / "config.json").write_text((docs / record / "config.json").read_text())
        summary = json.loads((docs / record / "summary.json").read_text())
        summary["weights_from_bundle"] = {"file": str(weights), "sha256": digest}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        print(f"{stage}: {count} tensors from {weights}")


if __name__ == "__main__":
    main()
