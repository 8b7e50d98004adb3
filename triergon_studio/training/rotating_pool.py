"""A rotating pool of whole corpus clips for T_LUFS, fed by a background generator process (issue 17).

Why: T_LUFS overfits a fixed pool of segments. Making a clip costs about 0.5 s of CPU, too slow to make a batch
of fresh clips per step, so each clip yields many distinct training windows instead:

- a window is ``(clip, offset, length, flip)``: ``length`` frames at 6 fps starting at any 1/6 s frame
  ``offset`` of the clip, optionally mirrored left-right with the L and R curves swapped. Each window is used
  at most once per run; a clip is retired after ``uses_per_clip`` windows, or when it has none left;
- every window gets its own brightness/contrast jitter (the same for all its frames, so motion is kept);
- fresh clips come from ``generator_main`` (one process, niced) that writes ``<clip_dir>/<seed>_<index>.npz``
  ahead of the trainer; an optional reservoir (the shared pool's segments, each a short clip of its own) fills
  a fixed share of the admissions so that training does not wait for the generator.

Deterministic for a seed: which source fills a freed slot follows a fixed pattern (``fresh_fraction``), fresh
clips are admitted in index order (the trainer waits for a file when the generator is behind, or makes the
clip itself when there is no generator), the reservoir in a seeded permutation, and every random choice uses
the generator passed to ``batch``. ``state()`` / ``restore()`` carry the counters and the live clips with their
used windows (clip contents are reloaded from their files or remade from (seed, index)), so a resumed run
continues the same stream with the trainer's restored random state.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.errors import StudioError
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.data import CURVE_RATE, SR, corpus_clip, normalise_curves

WindowKey = tuple[int, int, int]  # (offset, length, flip), lengths capped at the clip's own length


@dataclass(frozen=True)
class RotatingSpec:
    seed: int  # the corpus seed of the fresh clips
    size: int  # frame side (the T_LUFS input size)
    corpus: CorpusConfig
    clip_dir: Path
    window_frames: tuple[int, ...] = (18, 24, 36)
    live_clips: int = 48
    uses_per_clip: int = 12
    fresh_fraction: float = 1.0  # share of admissions that are fresh clips (the rest: the reservoir)
    prefetch: int = 32  # how many clips each generator process may run ahead of the trainer
    # generator processes: more where cores are spare, since making clips is what the trainer waits for
    processes: int = 1
    brightness: float = 0.1  # +- this fraction of full scale
    contrast: float = 0.2  # gain in 1 +- this
    per_frame: int = 1  # pictures per 1/6 s frame (the frame CNN's sub_frames)
    rank: int = 0  # fresh clip indices rank, rank + world_size, ... (DDP ranks draw disjoint clips)
    world_size: int = 1

    def validate(self, batch_size: int) -> None:
        bad = ""
        if not self.window_frames or min(self.window_frames) < 2:
            bad = f"window lengths must be at least 2 frames (1/3 s), got {self.window_frames}"
        elif self.live_clips < 2 * batch_size:
            bad = f"live_clips ({self.live_clips}) must be at least twice batch_size ({batch_size})"
        elif self.processes < 1:
            bad = f"generator processes must be >= 1, got {self.processes}"
        elif self.uses_per_clip < 1:
            bad = f"uses_per_clip must be >= 1, got {self.uses_per_clip}"
        elif not 0.0 <= self.fresh_fraction <= 1.0:
            bad = f"fresh_fraction must be in [0, 1], got {self.fresh_fraction}"
        elif not (0.0 <= self.brightness < 1.0 and 0.0 <= self.contrast < 1.0):
            bad = "brightness and contrast jitter must be in [0, 1)"
        if bad:
            raise StudioError(f"rotating T_LUFS pool: {bad}")


def window_frames_from_seconds(seconds: list[float]) -> tuple[int, ...]:
    out = []
    for s in seconds:
        f = s * CURVE_RATE
        if s <= 0 or abs(f - round(f)) > 1e-6:
            raise StudioError(f"window_seconds must be positive multiples of 1/6 s, got {s}")
        out.append(int(round(f)))
    return tuple(sorted(set(out)))


@dataclass
class LiveClip:
    key: str  # "fresh:<index>" or "pool:<index>"
    frames: np.ndarray  # [N * per_frame, S, S, 3] uint8: per_frame pictures per 1/6 s frame
    curves: np.ndarray  # [2, N] LUFS
    uses_left: int
    used: set[WindowKey] = field(default_factory=set)

    @property
    def n(self) -> int:
        return int(self.curves.shape[1])

    def free(self, length: int) -> list[tuple[int, int]]:
        """(offset, flip) of the unused windows of ``length`` (a shorter clip: the whole clip)."""
        w = min(length, self.n)
        return [(o, f) for o in range(self.n - w + 1) for f in (0, 1) if (o, w, f) not in self.used]

    def exhausted(self, lengths: tuple[int, ...]) -> bool:
        return self.uses_left <= 0 or not any(self.free(w) for w in lengths)


def clip_path(clip_dir: Path, seed: int, index: int) -> Path:
    return clip_dir / f"{seed}_{index:07d}.npz"


def write_clip(path: Path, clip: dict[str, Any]) -> None:
    tmp = path.with_name(path.name[:-4] + ".part.npz")
    np.savez(tmp, frames6=clip["frames6"], curves_lufs=clip["curves_lufs"])
    tmp.replace(path)  # atomic: the trainer never sees half a file


def read_clip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["frames6"], z["curves_lufs"]


def generator_main(
    clip_dir: str,
    seed: int,
    corpus: dict[str, Any],
    size: int,
    per_frame: int,
    start: int,
    stride: int,
    admitted: Any,
    prefetch: int,
    nice: int,
    parent: int,
) -> None:
    """The background generator: makes fresh clips start, start + stride, ... at most ``prefetch`` ahead of
    the trainer's next admission (``admitted``, a shared counter), and exits when its parent is gone."""
    if nice:
        os.nice(nice)
    import cv2

    cv2.setNumThreads(1)
    cfg = CorpusConfig(**corpus)
    d = Path(clip_dir)
    i = start
    while os.getppid() == parent:
        if i >= admitted.value + prefetch * stride:
            time.sleep(0.05)
            continue
        path = clip_path(d, seed, i)
        if not path.exists():
            write_clip(path, corpus_clip(seed, i, cfg, size, per_frame))
        i += stride


class Reservoir:
    """The shared pool's segments as short clips (frames6, curves_lufs, valid only: the audio stays on disk)."""

    def __init__(self, frames6: np.ndarray, curves_lufs: np.ndarray, valid: np.ndarray) -> None:
        self.frames6, self.curves, self.valid = frames6, curves_lufs, valid

    @classmethod
    def load(cls, path: Path) -> Reservoir:
        if not path.exists():
            raise StudioError(
                "the reservoir pool is missing: build it with `python -m triergon_studio.training.reproduce "
                "--steps pool`",
                path,
            )
        with np.load(path) as z:
            missing = [k for k in ("frames6", "curves_lufs", "valid") if k not in z.files]
            if missing:
                raise StudioError(f"pool has no {missing} arrays", path)
            return cls(z["frames6"], z["curves_lufs"], z["valid"])

    def __len__(self) -> int:
        return len(self.valid)

    def clip(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        n = min(self.frames6.shape[1], max(1, int(math.floor(int(self.valid[j]) / SR * CURVE_RATE + 1e-6))))
        return self.frames6[j, :n], np.asarray(self.curves[j, :, :n], np.float32)


class RotatingPool:
    def __init__(self, spec: RotatingSpec, batch_size: int, reservoir: Reservoir | None = None) -> None:
        spec.validate(batch_size)
        if spec.fresh_fraction < 1.0 and reservoir is None:
            raise StudioError(
                "rotating T_LUFS pool: fresh_fraction < 1 needs the reservoir (reservoir: true)"
            )
        if reservoir is not None and spec.per_frame > 1:
            raise StudioError(
                f"rotating T_LUFS pool: the reservoir holds one picture per frame, this T_LUFS reads "
                f"{spec.per_frame}; use fresh clips only (reservoir: false, fresh_fraction: 1)"
            )
        self.spec, self.batch_size, self.reservoir = spec, batch_size, reservoir
        perm_rng = np.random.default_rng([spec.seed, 0x5E5E])
        self.order = perm_rng.permutation(len(reservoir))[spec.rank :: spec.world_size] if reservoir else None
        self.live: list[LiveClip] = []
        self.next_fresh = 0  # k: the next fresh clip is index rank + world_size * k
        self.next_reservoir = 0
        self.admissions = 0
        self.issued = 0
        self.wait_s = 0.0
        self.fresh_admitted = 0
        self._procs: list[Any] = []
        self._admitted: Any = None

    # ---- the generator -------------------------------------------------------------------------------------

    def start_generator(self, nice: int = 10) -> None:
        """Start the background generators (``spec.processes`` spawned processes, process j making every
        n-th fresh clip from the j-th one not yet admitted), so the files appear in index order whatever n."""
        import multiprocessing as mp

        if self._procs:
            return
        processes = self.spec.processes
        self.spec.clip_dir.mkdir(parents=True, exist_ok=True)
        ctx = mp.get_context("spawn")
        self._admitted = ctx.Value("q", self._fresh_index(self.next_fresh))
        # one thread for the generator's numerical libraries (the environment is read when they load)
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        os.environ.update({k: "1" for k in saved})
        try:
            for j in range(processes):
                args = (
                    str(self.spec.clip_dir),
                    self.spec.seed,
                    _corpus_dict(self.spec.corpus),
                    self.spec.size,
                    self.spec.per_frame,
                    self._fresh_index(self.next_fresh + j),
                    self.spec.world_size * processes,
                    self._admitted,
                    self.spec.prefetch,
                    nice,
                    os.getpid(),
                )
                proc = ctx.Process(target=generator_main, args=args, daemon=True, name=f"t_lufs-clips-{j}")
                proc.start()
                self._procs.append(proc)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def stop_generator(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.join(5)
        self._procs = []

    # ---- admission -----------------------------------------------------------------------------------------

    def _fresh_index(self, k: int) -> int:
        return self.spec.rank + self.spec.world_size * k

    def _is_fresh_turn(self, a: int) -> bool:
        f = self.spec.fresh_fraction
        reservoir_left = self.order is not None and self.next_reservoir < len(self.order)
        return not reservoir_left or math.floor((a + 1) * f) > math.floor(a * f)

    def _load(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        kind, num = key.split(":")
        i = int(num)
        if kind == "pool":
            assert self.reservoir is not None
            return self.reservoir.clip(i)
        path = clip_path(self.spec.clip_dir, self.spec.seed, i)
        t0 = time.perf_counter()
        while not path.exists() and self._procs:
            stopped = [p for p in self._procs if not p.is_alive()]
            if stopped:
                raise StudioError(
                    f"the T_LUFS clip generator stopped (exit code {stopped[0].exitcode})", path
                )
            if time.perf_counter() - t0 > 900:
                raise StudioError("the T_LUFS clip generator made no clip for 15 minutes", path)
            time.sleep(0.02)
        self.wait_s += time.perf_counter() - t0
        if path.exists():
            try:
                frames, curves = read_clip(path)
                if frames.shape[0] == curves.shape[1] * self.spec.per_frame:
                    return frames, curves
            except (OSError, ValueError, KeyError):
                pass  # a damaged file (or one of another picture rate): remake the clip from (seed, index)
        clip = corpus_clip(self.spec.seed, i, self.spec.corpus, self.spec.size, self.spec.per_frame)
        return clip["frames6"], clip["curves_lufs"]

    def _admit(self) -> None:
        if self._is_fresh_turn(self.admissions):
            key = f"fresh:{self._fresh_index(self.next_fresh)}"
            self.next_fresh += 1
            self.fresh_admitted += 1
            if self._admitted is not None:
                self._admitted.value = self._fresh_index(self.next_fresh)
        else:
            assert self.order is not None
            key = f"pool:{int(self.order[self.next_reservoir])}"
            self.next_reservoir += 1
        self.admissions += 1
        frames, curves = self._load(key)
        self.live.append(LiveClip(key, frames, curves, self.spec.uses_per_clip))

    def _retire(self, clip: LiveClip) -> None:
        self.live.remove(clip)
        if clip.key.startswith("fresh:"):
            clip_path(self.spec.clip_dir, self.spec.seed, int(clip.key[6:])).unlink(missing_ok=True)

    def _fill(self) -> None:
        for c in [c for c in self.live if c.exhausted(self.spec.window_frames)]:
            self._retire(c)
        while len(self.live) < self.spec.live_clips:
            self._admit()

    # ---- batches -------------------------------------------------------------------------------------------

    def batch(self, rng: np.random.Generator) -> dict[str, Any]:
        """One batch of windows of one length: ``frames6`` [B, W * per_frame, S, S, 3] uint8, ``curves``
        (normalised) and ``curves_lufs`` [B, 2, W], ``n_frames`` [B] (real frames; the rest is padding),
        ``keys``."""
        self._fill()
        lengths = self.spec.window_frames
        while True:
            eligible = [w for w in lengths if sum(1 for c in self.live if c.free(w)) >= self.batch_size]
            if eligible:
                break
            self._admit()  # fresh clips have every window free; the pool shrinks back at the next fill
        w = int(eligible[int(rng.integers(len(eligible)))])
        cands = [c for c in self.live if c.free(w)]
        pick = rng.choice(len(cands), size=self.batch_size, replace=False)
        k = self.spec.per_frame
        frames = np.empty((self.batch_size, w * k, *cands[0].frames.shape[1:]), np.uint8)
        curves = np.full((self.batch_size, 2, w), -70.0, np.float32)
        n_frames = np.zeros(self.batch_size, np.int64)
        keys = []
        for b, ci in enumerate(pick):
            clip = cands[int(ci)]
            free = clip.free(w)
            off, flip = free[int(rng.integers(len(free)))]
            n = min(w, clip.n)
            clip.used.add((off, n, flip))
            clip.uses_left -= 1
            f = clip.frames[off * k : (off + n) * k]
            cv = clip.curves[:, off : off + n]
            if flip:  # mirror the picture and swap L/R with it
                f = f[:, :, ::-1]
                cv = cv[::-1]
            frames[b, : n * k] = jitter(f, rng, self.spec.brightness, self.spec.contrast)
            frames[b, n * k :] = frames[b, n * k - 1]  # pad by holding the last picture
            curves[b, :, :n] = cv
            n_frames[b] = n
            keys.append(f"{clip.key}/{off}/{n}/{flip}")
        self.issued += self.batch_size
        return {
            "frames6": frames,
            "curves_lufs": curves,
            "curves": normalise_curves(curves),
            "n_frames": n_frames,
            "keys": keys,
        }

    def stats(self) -> dict[str, float]:
        return {
            "pool_live": float(len(self.live)),
            "pool_fresh_clips": float(self.fresh_admitted),
            "pool_reservoir_clips": float(self.next_reservoir),
            "pool_wait_s": round(self.wait_s, 3),
        }

    # ---- resume --------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Counters and live clips with their used windows (plain ints and strings: a weights-only load)."""
        return {
            "next_fresh": self.next_fresh,
            "next_reservoir": self.next_reservoir,
            "admissions": self.admissions,
            "issued": self.issued,
            "fresh_admitted": self.fresh_admitted,
            "wait_s": self.wait_s,
            "live": [
                {"key": c.key, "uses_left": c.uses_left, "used": [list(k) for k in sorted(c.used)]}
                for c in self.live
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        if self._procs:
            raise RuntimeError("restore the pool before starting its generator")
        self.next_fresh = int(state["next_fresh"])
        self.next_reservoir = int(state["next_reservoir"])
        self.admissions = int(state["admissions"])
        self.issued = int(state["issued"])
        self.fresh_admitted = int(state["fresh_admitted"])
        self.wait_s = float(state["wait_s"])
        self.live = []
        for rec in state["live"]:
            frames, curves = self._load(str(rec["key"]))
            used = {(int(o), int(n), int(f)) for o, n, f in rec["used"]}
            self.live.append(LiveClip(str(rec["key"]), frames, curves, int(rec["uses_left"]), used))


def jitter(frames: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float) -> np.ndarray:
    """Brightness/contrast jitter, one draw for the whole window (frame differences scale, never flicker)."""
    c = 1.0 + rng.uniform(-contrast, contrast) if contrast > 0 else 1.0
    b = rng.uniform(-brightness, brightness) * 255.0 if brightness > 0 else 0.0
    if c == 1.0 and b == 0.0:
        return frames
    x = frames.astype(np.float32)
    m = float(x.mean())
    return np.clip((x - m) * c + m + b, 0, 255).round().astype(np.uint8)


def _corpus_dict(cfg: CorpusConfig) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)
