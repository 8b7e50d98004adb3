"""A fixed pool of training segments, made once and shared by the stages (fast on CPUs, where making a
corpus example and rendering its frames costs more than a small model's training step).

Item i is a pure function of (seed, i), whatever the number of worker processes that build the pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.data import SegmentSpec, corpus_segment, load_manifest_records, manifest_segment

ARRAY_KEYS = (
    "audio",
    "valid",
    "curves",
    "curves_lufs",
    "seconds_start",
    "seconds_total",
    "label",
    "video",
    "frames6",
)


@dataclass
class Pool:
    arrays: dict[str, np.ndarray]
    captions: list[str]

    def __len__(self) -> int:
        return len(self.captions)

    def batch(self, idx: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {k: v[idx] for k, v in self.arrays.items()}
        out["caption"] = [self.captions[i] for i in idx]
        return out

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, **self.arrays)  # type: ignore[arg-type]  # numpy's stubs read **kwargs as allow_pickle
        tmp.replace(path)
        cap = path.with_suffix(".captions.json")
        cap.write_text(json.dumps(self.captions))

    @classmethod
    def load(cls, path: Path) -> Pool:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(arrays, json.loads(path.with_suffix(".captions.json").read_text()))


def _make_item(args: tuple[int, int, SegmentSpec, CorpusConfig, tuple[str, ...], float]) -> dict[str, Any]:
    seed, i, spec, corpus, manifests, weight = args
    rng = np.random.default_rng([seed, i, 0xB00])
    if manifests and rng.uniform() < weight:
        recs = load_manifest_records(manifests, ("train",))
        if recs:
            return manifest_segment(recs[int(rng.integers(len(recs)))], spec, rng)
    return corpus_segment(seed, i, spec, corpus, rng)


def build_pool(
    n: int,
    seed: int,
    spec: SegmentSpec,
    corpus: CorpusConfig,
    manifests: tuple[str, ...] = (),
    manifest_weight: float = 0.0,
    workers: int = 1,
) -> Pool:
    jobs = [(seed, i, spec, corpus, manifests, manifest_weight) for i in range(n)]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as p:
            items = p.map(_make_item, jobs, chunksize=8)
    else:
        items = [_make_item(j) for j in jobs]
    arrays: dict[str, np.ndarray] = {}
    for k in ARRAY_KEYS:
        if k not in items[0]:
            continue
        vals = [it[k] for it in items]
        arr = np.stack(vals) if isinstance(vals[0], np.ndarray) else np.asarray(vals)
        arrays[k] = arr.astype(np.float16) if k == "audio" else arr
    return Pool(arrays, [str(it["caption"]) for it in items])
