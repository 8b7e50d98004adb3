"""The autoencoder part of ``dev_check`` for a vae stage's weights put into a model folder (dev seed 4242,
never the held-out set): how many reconstructions the evaluation classifier still recognises, and the
mel-shape error. Used for the autoencoder continuation runs (docs/training_runs/compact-v2/vae_continuation).

    python tools/vae_dev_check.py [runs/compact/vae_cont/weights.safetensors] [--model model_weights/compact]

Without weights it measures the model folder's own autoencoder (the baseline, in the same conditions).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    import torch
    from safetensors.torch import load_file

    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.eval.classifier import load_classifier
    from triergon_studio.training.eval.dev_check import dev_check, dev_pool
    from triergon_studio.training.eval.report import bundled_classifier

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="?", help="a vae stage's weights.safetensors (keys vae.*)")
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--clips", type=int, default=54)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_model_dir(Path(args.model)).eval()
    if args.weights:
        sd = load_file(args.weights)
        if not sd or not all(k.startswith("vae.") for k in sd):
            raise SystemExit(f"{args.weights}: not a vae stage's weights (keys vae.*)")
        unexpected = model.load_state_dict(sd, strict=False).unexpected_keys
        if unexpected:
            raise SystemExit(f"{args.weights}: weights do not fit the model (first: {unexpected[0]})")
    classifier, _ = load_classifier(bundled_classifier(Path(args.model)))
    out = dev_check(model, classifier, dev_pool(args.clips))
    print(json.dumps({k: v for k, v in out.items() if "lufs" not in k}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
