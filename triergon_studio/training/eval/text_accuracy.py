"""Text-only class accuracy of the prompt encoders, at the embedding level (issue 17):

each phrase is embedded with the text encoder and given the class whose centroid of audio embeddings (dev
clips, a seed that is neither training's nor the held-out set's) is nearest by cosine. Measured on the
hand-written held-out phrasings (``corpus/heldout_phrasings.py``), on the held-out caption templates of the
evaluation set and on the training templates, so the gap between them shows how far the text path
generalises.

    python -m triergon_studio.training.eval.text_accuracy model_weights/compact
    python -m triergon_studio.training.eval.text_accuracy --encoders-weights runs/compact/encoders/weights.safetensors
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.training.eval.dev_check import DEV_SEED


def dev_audio(n: int, seed: int = DEV_SEED, seconds: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Audio [n, 2, samples] (float32) and class labels of n fresh corpus segments."""
    from triergon_studio.training.corpus import CorpusConfig
    from triergon_studio.training.data import SegmentSpec
    from triergon_studio.training.pool import build_pool

    spec = SegmentSpec(seconds=seconds, with_video=False, with_frames6=False)
    pool = build_pool(n, seed, spec, CorpusConfig(min_seconds=1.5, max_seconds=10.0, mean_seconds=5.0))
    return pool.arrays["audio"].astype(np.float32), np.asarray(pool.arrays["label"])


def audio_centroids(encoders: Any, audio: np.ndarray, labels: np.ndarray, n_classes: int) -> Any:
    """Per-class mean of the L2-normalised audio embeddings, normalised again: [n_classes, d]."""
    import torch

    with torch.inference_mode():
        emb = torch.cat(
            [encoders.embed_audio(torch.from_numpy(audio[i : i + 8])) for i in range(0, len(audio), 8)]
        )
    lab = torch.from_numpy(labels).long()
    cent = torch.stack(
        [emb[lab == c].mean(0) if (lab == c).any() else torch.zeros(emb.shape[1]) for c in range(n_classes)]
    )
    return torch.nn.functional.normalize(cent, dim=1)


def text_accuracy(encoders: Any, phrases: dict[str, list[str]], centroids: Any) -> dict[str, Any]:
    """Accuracy of nearest-centroid classes for the phrases of each class (overall and per class)."""
    import torch

    from triergon_studio.training.corpus import CLASS_NAMES

    hits: dict[str, list[bool]] = {}
    with torch.inference_mode():
        for label, texts in phrases.items():
            if not texts:
                continue
            pred = (encoders.embed_text(list(texts)) @ centroids.t()).argmax(1)
            hits[label] = [bool(p == CLASS_NAMES.index(label)) for p in pred.tolist()]
    flat = list(itertools.chain.from_iterable(hits.values()))
    return {
        "accuracy": round(float(np.mean(flat)), 4),
        "phrases": len(flat),
        "per_class": {k: round(float(np.mean(v)), 3) for k, v in hits.items()},
    }


def template_phrases(which: str) -> dict[str, list[str]]:
    """Every caption the corpus's ``which`` ("train" or "heldout") templates make (all slot values)."""
    from triergon_studio.training.corpus.captions import enumerate_template_captions

    return {k: sorted(v) for k, v in enumerate_template_captions(which).items()}


def measure(encoders: Any, clips: int) -> dict[str, Any]:
    from triergon_studio.training.corpus import CLASS_NAMES
    from triergon_studio.training.corpus.heldout_phrasings import HELDOUT_PHRASINGS

    audio, labels = dev_audio(clips)
    cent = audio_centroids(encoders, audio, labels, len(CLASS_NAMES))
    return {
        "method": f"nearest class centroid of audio embeddings (dev clips, seed {DEV_SEED})",
        "centroid_clips": clips,
        "heldout_phrasings": text_accuracy(encoders, HELDOUT_PHRASINGS, cent),
        "heldout_templates": text_accuracy(encoders, template_phrases("heldout"), cent),
        "train_templates": text_accuracy(encoders, template_phrases("train"), cent),
    }


def load_encoders(model_dir: str | None, weights: str | None) -> Any:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.stages import load_stage_weights

    if weights:
        model = build_model(get_preset("compact"))
        load_stage_weights(model, [weights])
    else:
        model = load_model_dir(Path(str(model_dir)))
    return model.eval().encoders


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="a model folder (or give --encoders-weights)")
    ap.add_argument("--encoders-weights", help="an encoders stage's weights.safetensors (compact preset)")
    ap.add_argument("--clips", type=int, default=108, help="dev clips for the audio centroids")
    args = ap.parse_args(argv)
    if not args.model and not args.encoders_weights:
        ap.error("give a model folder or --encoders-weights")
    import torch

    torch.set_num_threads(1)
    out = measure(load_encoders(args.model, args.encoders_weights), args.clips)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
