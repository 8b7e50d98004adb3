"""Training data: the procedural corpus mixed with manifests of real clips, cut into random segments.

Each item is one segment of ``seconds`` with ``seconds_start`` (offset in its clip) and ``seconds_total`` (the
clip's length), as Stable Audio and the paper train: the model learns where in a clip a window sits and how
long the whole clip is. Shorter clips are zero-padded and ``valid`` says how many samples are real.

The stream is deterministic for (seed, rank, worker): rank r of W takes corpus indices r, r+W, ...; each
DataLoader worker takes every n-th of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.training.corpus import CorpusConfig, make_example

SR = 44100
CURVE_RATE = 6.0


@dataclass(frozen=True)
class SegmentSpec:
    seconds: float = 5.0
    video_frames: int = 8  # frames for the prompt video encoder, spread over the segment
    video_size: int = 64
    lufs_size: int = 64  # the T_LUFS frames (6 fps over the segment)
    lufs_per_frame: int = 1  # T_LUFS pictures per curve frame (its frame CNN's sub_frames)
    with_video: bool = True
    with_frames6: bool = True

    @property
    def samples(self) -> int:
        return int(round(self.seconds * SR))

    @property
    def curve_frames(self) -> int:
        return int(round(self.seconds * CURVE_RATE))


@dataclass(frozen=True)
class MixSpec:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    manifests: tuple[str, ...] = ()
    manifest_weight: float = 0.0  # probability of drawing a real clip when manifests are given
    splits: tuple[str, ...] = ("train",)


def normalise_curves(lufs: np.ndarray) -> np.ndarray:
    """(L + 70) / 70 clipped to [0, 1] (SPEC section 1)."""
    return np.clip((np.asarray(lufs, dtype=np.float64) + 70.0) / 70.0, 0.0, 1.0).astype(np.float32)


def segment_curves(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """LUFS curves of a segment [2, n_frames], floor-padded where the audio runs out."""
    from triergon_studio.audio.loudness import channel_curves

    c = np.asarray(channel_curves(audio, SR), dtype=np.float64) if len(audio) >= SR // 6 else np.zeros((2, 0))
    out = np.full((2, n_frames), -70.0)
    m = min(n_frames, c.shape[1])
    out[:, :m] = c[:, :m]
    return out


def _pick_start(rng: np.random.Generator, total: float, seconds: float) -> float:
    if total <= seconds:
        return 0.0
    # start on a curve frame boundary so the segment's curve is the clip's curve, shifted
    slots = int(math.floor((total - seconds) * CURVE_RATE))
    return int(rng.integers(0, slots + 1)) / CURVE_RATE


def corpus_segment(
    seed: int, index: int, spec: SegmentSpec, cfg: CorpusConfig, rng: np.random.Generator
) -> dict[str, Any]:
    ex = make_example(seed, index, cfg)
    total = ex.duration_s
    start = _pick_start(rng, total, spec.seconds)
    i0 = int(round(start * SR))
    audio = ex.audio[i0 : i0 + spec.samples]
    item = _finish(audio, spec, start, total)
    times_v = (
        start + (np.arange(spec.video_frames) + 0.5) * min(spec.seconds, total - start) / spec.video_frames
    )
    # frames are rendered at the clip's own size and scaled down, as decoded videos are at inference
    if spec.with_video:
        item["video"] = _resize_frames(ex.video.frames_at(times_v), spec.video_size)
    if spec.with_frames6:
        n6 = min(spec.curve_frames, max(1, int(math.floor((total - start) * CURVE_RATE + 1e-6))))
        k = spec.lufs_per_frame
        f6 = ex.video.frames_at(start + np.arange(n6 * k) / (CURVE_RATE * k))
        item["frames6"] = _pad_frames(_resize_frames(f6, spec.lufs_size), spec.curve_frames * k)
    item.update(caption=ex.caption, label=ex.class_id, source="corpus", clip=f"corpus:{seed}:{index}")
    return item


def corpus_clip(seed: int, index: int, cfg: CorpusConfig, size: int, per_frame: int = 1) -> dict[str, Any]:
    """A whole corpus clip for T_LUFS: its 6 fps frames [N, size, size, 3] uint8 (rendered at the clip's own
    size and scaled down, as decoded videos are at inference) and its L/R LUFS curves [2, N] over the same
    1/6 s frames; N counts the whole frames inside the clip. With ``per_frame`` > 1 the frames are the
    pictures shown ``per_frame`` times per 1/6 s, [N * per_frame, ...]. A pure function of (seed, index)."""
    from triergon_studio.audio.loudness import channel_curves

    ex = make_example(seed, index, cfg)
    n = max(1, int(math.floor(ex.duration_s * CURVE_RATE + 1e-6)))
    times = np.arange(n * per_frame) / (CURVE_RATE * per_frame)
    frames = _resize_frames(ex.video.frames_at(times), size)
    curves = np.full((2, n), -70.0, np.float32)
    c = np.asarray(channel_curves(ex.audio, SR), dtype=np.float32)
    m = min(n, c.shape[1])
    curves[:, :m] = c[:, :m]
    return {"frames6": frames, "curves_lufs": curves, "label": ex.class_id}


def _pad_frames(frames: np.ndarray, n: int) -> np.ndarray:
    if len(frames) >= n:
        return frames[:n]
    pad = np.repeat(frames[-1:], n - len(frames), axis=0) if len(frames) else np.zeros((n, 1, 1, 3), np.uint8)
    return np.concatenate([frames, pad]) if len(frames) else pad


def _finish(audio: np.ndarray, spec: SegmentSpec, start: float, total: float) -> dict[str, Any]:
    valid = len(audio)
    padded = np.zeros((spec.samples, 2), np.float32)
    padded[:valid] = audio[: spec.samples]
    curves = segment_curves(audio, spec.curve_frames)
    return {
        "audio": padded.T.copy(),
        "valid": valid,
        "curves_lufs": curves.astype(np.float32),
        "curves": normalise_curves(curves),
        "seconds_start": float(start),
        "seconds_total": float(total),
    }


def manifest_segment(rec: dict[str, Any], spec: SegmentSpec, rng: np.random.Generator) -> dict[str, Any]:
    """A random segment of a real clip listed in a manifest (its audio track decoded with PyAV)."""
    from scipy.signal import resample_poly

    from triergon_studio.training.manifest import decode_audio

    path = Path(str(rec["video"]))
    audio, sr = decode_audio(path)
    if sr != SR:
        g = math.gcd(sr, SR)
        audio = resample_poly(audio, SR // g, sr // g, axis=0).astype(np.float32)
    total = len(audio) / SR
    start = _pick_start(rng, total, spec.seconds)
    i0 = int(round(start * SR))
    item = _finish(audio[i0 : i0 + spec.samples], spec, start, total)
    frames = np.load(str(rec["features"]["path"]))["frames_6fps"]
    k0 = int(round(start * CURVE_RATE))
    seg = frames[k0 : k0 + spec.curve_frames]
    if spec.with_frames6:
        item["frames6"] = _resize_frames(_pad_frames(seg, spec.curve_frames), spec.lufs_size)
    if spec.with_video:
        pick = np.linspace(0, max(len(seg) - 1, 0), spec.video_frames).round().astype(int)
        item["video"] = _resize_frames(
            seg[pick] if len(seg) else _pad_frames(seg, spec.video_frames), spec.video_size
        )
    item.update(caption=str(rec.get("caption", "")), label=-1, source="manifest", clip=str(rec["id"]))
    return item


def _resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if frames.shape[1:3] == (size, size):
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def load_manifest_records(paths: tuple[str, ...], splits: tuple[str, ...]) -> list[dict[str, Any]]:
    from triergon_studio.training.manifest import read_manifest

    recs: list[dict[str, Any]] = []
    for p in paths:
        for r in read_manifest(p):
            usable = r.get("curves_status") == "measured" and r.get("split") in splits
            if usable:
                recs.append(r)
    return recs


def _torch_iterable_base() -> type:
    import torch.utils.data

    return torch.utils.data.IterableDataset


class SegmentStream:
    """Endless deterministic segments; wrap with ``as_iterable_dataset`` for a torch DataLoader."""

    def __init__(
        self, seed: int, spec: SegmentSpec, mix: MixSpec | None = None, rank: int = 0, world_size: int = 1
    ) -> None:
        self.seed, self.spec, self.mix = seed, spec, mix or MixSpec()
        self.rank, self.world_size = rank, world_size
        self.records = (
            load_manifest_records(self.mix.manifests, self.mix.splits) if self.mix.manifests else []
        )

    def iterate(self, worker: int = 0, n_workers: int = 1) -> Any:
        rng = np.random.default_rng([self.seed, self.rank, worker, 0xDA7A])
        k = 0
        while True:
            index = self.rank + self.world_size * (worker + n_workers * k)
            k += 1
            if self.records and rng.uniform() < self.mix.manifest_weight:
                rec = self.records[int(rng.integers(len(self.records)))]
                yield manifest_segment(rec, self.spec, rng)
            else:
                yield corpus_segment(self.seed, index, self.spec, self.mix.corpus, rng)

    def __iter__(self) -> Any:
        return self.iterate()

    def take(self, n: int) -> list[dict[str, Any]]:
        it = self.iterate()
        return [next(it) for _ in range(n)]


def as_iterable_dataset(stream: SegmentStream) -> Any:
    """A ``torch.utils.data.IterableDataset`` over the stream that splits work between DataLoader workers."""
    base = _torch_iterable_base()

    class _Dataset(base):  # type: ignore[misc, valid-type]
        def __iter__(self) -> Any:
            import torch.utils.data

            info = torch.utils.data.get_worker_info()
            if info is None:
                return stream.iterate()
            return stream.iterate(info.id, info.num_workers)

    return _Dataset()


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of segments into torch tensors (strings and ids stay lists)."""
    import torch

    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if isinstance(vals[0], np.ndarray):
            out[key] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool):
            out[key] = torch.tensor(vals)
        else:
            out[key] = vals
    return out
