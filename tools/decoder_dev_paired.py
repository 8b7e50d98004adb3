"""Paired dev check of an autoencoder decoder on generated audio (issue 17; never the held-out set).

    .venv/bin/python tools/decoder_dev_paired.py VAE_WEIGHTS [--model model_weights/compact] \
        [--dev-dir runs/devclips36] [--clips 36] [--threads 1]

Generates the same takes (V+T+GT prompts: each dev clip's video, caption and ground-truth curves; the same
seed per clip) with the model as it is and with ``VAE_WEIGHTS`` (a vae stage's weights, e.g. a decoder-only
run) in place of its autoencoder. With a frozen encoder the sampled latents are identical, so the two columns
differ only by the decoder. Prints the evaluation classifier's accuracy and its mean probability of the
right class for each. Dev clips: ``triergon-studio corpus write-heldout runs/devclips36 -n 36 --seed 4242``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    from triergon_studio.takes import generate_takes, load_model, run_to_end
    from triergon_studio.training.corpus import CLASS_NAMES
    from triergon_studio.training.eval.classifier import load_classifier, predict_proba
    from triergon_studio.training.eval.curve_methods import _spec
    from triergon_studio.training.eval.dev_check import put_stage_weights
    from triergon_studio.training.eval.report import bundled_classifier, load_clips

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vae_weights")
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--dev-dir", default="runs/devclips36")
    ap.add_argument("--clips", type=int, default=36)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clips = load_clips(Path(args.dev_dir), args.clips)
    labels = np.array([CLASS_NAMES.index(c.meta["label"]) for c in clips])
    classifier = load_classifier(bundled_classifier(Path(args.model)))[0]
    out: dict[str, dict[str, float]] = {}
    own = "the model's own decoder"
    for name in (own, args.vae_weights):
        model = load_model(args.model)
        if name != own:
            put_stage_weights(model.net, name, "vae.", "vae")  # type: ignore[attr-defined]
        audio = []
        with torch.inference_mode():
            for i, c in enumerate(clips):
                (take,) = run_to_end(generate_takes(_spec(c, "off", 1234 + i, None, {}), model))
                audio.append(np.asarray(take.audio, np.float32))
        p = predict_proba(classifier, audio)
        out[name] = {
            "class_acc": round(float((p.argmax(1) == labels).mean()), 4),
            "p_right_class": round(float(p[np.arange(len(clips)), labels].mean()), 4),
        }
    report = {"model": args.model, "clips": len(clips), "dev_dir": args.dev_dir, "decoders": out}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
