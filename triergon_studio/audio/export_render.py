"""The lanes of a project rendered by output blocks: each block reads only the part of each take it needs.

``LaneRenderer.block(start, stop)`` returns every lane's ``[B, 2]`` float32 samples and the mix for that range of
the picture, the same values ``export.render_lanes`` computes on whole arrays (same float32 operations in the
same order): takes are read by seeking (soundfile), a take at another rate is resampled in chunks aligned to
the resampler's period with real samples as context on both sides (bit-identical to resampling it whole),
trims and fades are evaluated per sample, and lane and item gains are applied in item order.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.audio.blocks import AudioSource, open_source
from triergon_studio.core.project import Project
from triergon_studio.core.timecode import seconds_to_samples
from triergon_studio.errors import ExportError

_CHUNK = 1 << 16  # input samples per resampled chunk (rounded to the resampler's period)


class ResampledSource:
    """``io.resample`` of a whole source, computed chunk by chunk on demand (sequential reads are cheap)."""

    def __init__(self, src: AudioSource, sr_to: int) -> None:
        self.src, self.sr_from, self.sr = src, src.sr, int(sr_to)
        g = math.gcd(self.sr_from, self.sr)
        self.up, self.down = self.sr // g, self.sr_from // g
        total = src.n * self.up
        self.n = total // self.down + bool(total % self.down)
        # Chunk starts and context are multiples of `down`, so a chunk's outputs fall on the whole signal's.
        self.lin = self.down * max(1, _CHUNK // self.down)
        self.lout = self.lin * self.up // self.down
        self.ctx = self.down * max(1, math.ceil(64 / self.down))  # the filter reaches ~11 input samples
        self._cache: tuple[int, np.ndarray] | None = None

    def _chunk(self, j: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == j:
            return self._cache[1]
        from triergon_studio.audio.io import resample

        s0 = max(0, j * self.lin - self.ctx)
        s1 = min(self.src.n, (j + 1) * self.lin + self.ctx)
        ys = resample(self.src.read(s0, s1), self.sr_from, self.sr)
        off = j * self.lout - s0 * self.up // self.down
        out = ys[off : off + self.lout]
        self._cache = (j, out)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros((max(0, stop - start), 2), np.float32)
        a, b = max(start, 0), min(stop, self.n)
        pos = a
        while pos < b:
            j = pos // self.lout
            chunk = self._chunk(j)
            c0 = pos - j * self.lout
            take = min(b - pos, chunk.shape[0] - c0)
            out[pos - start : pos - start + take] = chunk[c0 : c0 + take]
            pos += take
        return out


def fade_gain_range(n: int, fade_in: int, fade_out: int, k0: int, k1: int) -> np.ndarray:
    """``export.fade_gain(n, fade_in, fade_out)[k0:k1]``, computed for that range only (value for value)."""
    g = np.ones(max(0, k1 - k0), np.float32)
    if fade_in > 0:
        k = min(fade_in, n)
        idx = np.arange(k0, min(k1, k))
        if idx.size:
            g[idx - k0] *= np.sin(0.5 * np.pi * (idx + 0.5) / fade_in).astype(np.float32)
    if fade_out > 0:
        k = min(fade_out, n)
        idx = np.arange(max(k0, n - k), k1)
        if idx.size:
            vals = idx - (n - k) + (fade_out - k)  # the fade's own sample index, as in fade_gain
            g[idx - k0] *= np.cos(0.5 * np.pi * (vals + 0.5) / fade_out).astype(np.float32)
    return g


class _Item:
    """One placed take: where its samples land and how they are shaped."""

    def __init__(self, item: Any, take: AudioSource, lane_gain_db: float, sr: int) -> None:
        self.take = take
        length = take.n
        t_in = getattr(item, "trim_in_s", 0.0) or 0.0
        t_out = getattr(item, "trim_out_s", None)
        f_in = getattr(item, "fade_in_s", 0.0) or 0.0
        f_out = getattr(item, "fade_out_s", 0.0) or 0.0
        self.shaped = not (t_in <= 0 and t_out is None and f_in <= 0 and f_out <= 0)
        self.a = min(length, seconds_to_samples(t_in, sr)) if self.shaped else 0
        self.b = (
            (length if t_out is None else min(length, seconds_to_samples(t_out, sr)))
            if self.shaped
            else length
        )
        self.fi, self.fo = seconds_to_samples(f_in, sr), seconds_to_samples(f_out, sr)
        self.start = seconds_to_samples(item.offset_s, sr)
        self.length = length
        self.gain = np.float32(10 ** ((lane_gain_db + item.gain_db) / 20))

    def add_to(self, buf: np.ndarray, o0: int, o1: int, n: int) -> None:
        """Add this item's part of the picture samples ``[o0, o1)`` (of ``n``) to ``buf``."""
        a0, b0 = max(0, -self.start), min(self.length, n - self.start)  # the take's part inside the picture
        t0, t1 = max(a0, o0 - self.start), min(b0, o1 - self.start)
        if t1 <= t0 or b0 <= a0:
            return
        audio = self.take.read(t0, t1)
        if self.shaped:  # silent outside the trims, faded at their edges (export.item_audio)
            out = np.zeros_like(audio)
            s0, s1 = max(t0, self.a), min(t1, self.b)
            if self.b > self.a and s1 > s0:
                g = fade_gain_range(self.b - self.a, self.fi, self.fo, s0 - self.a, s1 - self.a)
                out[s0 - t0 : s1 - t0] = audio[s0 - t0 : s1 - t0] * g[:, None]
            audio = out
        buf[self.start + t0 - o0 : self.start + t1 - o0] += audio * self.gain


class LaneRenderer:
    """Every lane of ``project`` at ``sr``, ``n`` samples long, by blocks. Use as a context manager (it holds
    the take files open)."""

    def __init__(self, project: Project, sr: int, n: int, scratch_dir: Path) -> None:
        self.project, self.sr, self.n, self.scratch = project, sr, n, scratch_dir
        self._stack = ExitStack()
        self.lanes: list[tuple[str, list[_Item]]] = []

    def __enter__(self) -> LaneRenderer:
        sources: dict[str, AudioSource] = {}
        try:
            for lane in self.project.lanes:
                items = []
                for item in lane.items:
                    take = self.project.take(item.take_id)
                    if take.id not in sources:
                        path = self.project.take_path(take)
                        if not path.is_file():
                            raise ExportError(f"take {take.name!r} is missing its audio file", path)
                        src = self._stack.enter_context(open_source(path, self.scratch))
                        sources[take.id] = src if src.sr == self.sr else ResampledSource(src, self.sr)
                    items.append(_Item(item, sources[take.id], lane.gain_db, self.sr))
                self.lanes.append((lane.name, items))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def block(self, o0: int, o1: int, audible: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(lane name -> ``[o1 - o0, 2]`` float32, the mix of the ``audible`` lanes) for picture samples
        ``[o0, o1)``."""
        out: dict[str, np.ndarray] = {}
        for name, items in self.lanes:
            buf = np.zeros((o1 - o0, 2), np.float32)
            for it in items:
                it.add_to(buf, o0, o1, self.n)
            out[name] = buf
        mix = np.zeros((o1 - o0, 2), np.float32)
        for name in audible:
            mix += out[name]
        return out, mix
