"""Frame-accurate video access: by index, by time, or sequentially for playback.

Each frame's index comes from its presentation timestamp (matched against the packet index built by
``probe``), never from counting decoded frames after a seek, so a seek that lands on an earlier keyframe
still yields exactly the requested frame. Variable-frame-rate files therefore use their real timestamps.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.errors import VideoFileError
from triergon_studio.video.probe import VideoInfo, open_container, probe

# Decode forward instead of seeking when the wanted frame is at most this many frames ahead.
_FORWARD_DECODE_LIMIT = 48


@dataclass(frozen=True)
class Frame:
    index: int
    pts_s: float  # seconds from the first frame
    image: np.ndarray  # H x W x 3 uint8 RGB, turned upright when the file carries a rotation


def rotate_image(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded picture upright for a display-matrix rotation of ``rotation`` degrees (ffmpeg's sense)."""
    r = rotation % 360
    if r == 0:
        return image
    # The display matrix angle is counter-clockwise (av_display_rotation_get); the ffmpeg CLI's autorotate
    # turns the picture the same way, and tests/video check that we match it.
    return np.ascontiguousarray(np.rot90(image, k=r // 90))


class VideoReader:
    """Random and sequential access to one video file's frames (RGB uint8)."""

    def __init__(self, path: str | Path, apply_rotation: bool = True, cache_frames: int = 16) -> None:
        self.path = Path(path)
        self.info: VideoInfo = probe(self.path)
        self.apply_rotation = apply_rotation
        self._tb = self.info.time_base
        self._ticks = self.info.pts_ticks
        self._index_of = {t: i for i, t in enumerate(self._ticks)}
        self._pts_exact = tuple((t - self._ticks[0]) * self._tb for t in self._ticks)
        self._container: Any = None
        self._decoder: Iterator[Any] | None = None
        self._next_index: int | None = None
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        self._cache_frames = cache_frames

    # --- lifecycle
    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._decoder = None
        self._next_index = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    def pts_of(self, index: int) -> Fraction:
        """Exact presentation time of frame ``index`` in seconds from the first frame."""
        return self._pts_exact[index]

    def index_at_time(self, t: float | Fraction) -> int:
        """Index of the frame on screen at time ``t`` (the last frame whose pts <= t), clamped to the file."""
        tf = Fraction(t) + (Fraction(1, 10**9) if isinstance(t, float) else 0)
        i = bisect.bisect_right(self._pts_exact, tf) - 1
        return min(max(i, 0), self.info.frame_count - 1)

    # --- decoding
    def _open(self) -> Any:
        container = open_container(self.path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container

    def _to_frame(self, av_frame: Any, index: int) -> Frame:
        image = av_frame.to_ndarray(format="rgb24")
        if self.apply_rotation and self.info.rotation:
            image = rotate_image(image, self.info.rotation)
        return Frame(index, float(self._pts_exact[index]), image)

    def _frame_index(self, av_frame: Any) -> int | None:
        ts = av_frame.pts if av_frame.pts is not None else av_frame.dts
        if ts is None:
            return None
        i = self._index_of.get(ts)
        if i is None:  # a timestamp that is not in the packet index: take the nearest
            j = bisect.bisect_left(self._ticks, ts)
            cands = [k for k in (j - 1, j) if 0 <= k < len(self._ticks)]
            i = min(cands, key=lambda k: abs(self._ticks[k] - ts)) if cands else None
        return i

    def _seek(self, index: int) -> None:
        import av

        if self._container is None:
            self._container = self._open()
        stream = self._container.streams.video[0]
        try:
            self._container.seek(self._ticks[index], stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise VideoFileError(f"cannot seek to frame {index}: {exc.strerror or exc}", self.path) from exc
        self._decoder = self._container.decode(stream)
        self._next_index = None

    def _decode_next(self) -> Frame | None:
        import av

        assert self._decoder is not None
        while True:
            try:
                av_frame = next(self._decoder)
            except StopIteration:
                return None
            except av.FFmpegError as exc:
                raise VideoFileError(
                    f"cannot decode the video (corrupt data): {exc.strerror or exc}", self.path
                ) from exc
            i = self._frame_index(av_frame)
            if i is not None:
                self._next_index = i + 1
                return self._to_frame(av_frame, i)

    def frame_at_index(self, index: int) -> Frame:
        n = self.info.frame_count
        if not 0 <= index < n:
            raise IndexError(f"frame {index} is outside 0..{n - 1}")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        near = (
            self._next_index is not None
            and self._next_index <= index <= self._next_index + _FORWARD_DECODE_LIMIT
        )
        if not near:
            self._seek(index)
        for attempt in range(4):
            frame = self._decode_until(index)
            if frame is not None:
                return frame
            # The seek landed after the wanted frame (odd keyframe index); seek further back and retry.
            self._seek(max(0, index - _FORWARD_DECODE_LIMIT * (2**attempt)))
        raise VideoFileError(f"frame {index} cannot be decoded", self.path)

    def _decode_until(self, index: int) -> Frame | None:
        while True:
            frame = self._decode_next()
            if frame is None or frame.index > index:
                return None
            self._remember(frame)
            if frame.index == index:
                return frame

    def _remember(self, frame: Frame) -> None:
        self._cache[frame.index] = frame
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def frame_at_time(self, t: float | Fraction) -> Frame:
        """The frame shown at ``t`` seconds after the first frame."""
        return self.frame_at_index(self.index_at_time(t))

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames ``start``..``stop-1`` in order, decoded sequentially on a container of their own."""
        import av

        n = self.info.frame_count
        stop = n if stop is None else min(stop, n)
        if start >= stop:
            return
        container = self._open()
        try:
            stream = container.streams.video[0]
            if start > 0:
                container.seek(self._ticks[start], stream=stream, backward=True, any_frame=False)
            try:
                for av_frame in container.decode(stream):
                    i = self._frame_index(av_frame)
                    if i is None or i < start:
                        continue
                    if i >= stop:
                        break
                    yield self._to_frame(av_frame, i)
            except av.FFmpegError as exc:
                raise VideoFileError(
                    f"cannot decode the video (corrupt data): {exc.strerror or exc}", self.path
                ) from exc
        finally:
            container.close()
