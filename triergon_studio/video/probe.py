"""What a video file holds: exact frame rate, frame count, size, rotation, codec, audio streams.

The frame rate is the stream's own rational (average rate, else guessed rate), so 30000/1001 stays exact
and an odd rate such as 179/6 (29.833) is kept as the container says. The frame count and the per-frame
timestamps come from demuxing every video packet (no decoding): that is exact even where the header has
no count, gives variable-frame-rate files their real timestamps, and exposes truncated files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from triergon_studio.errors import VideoFileError


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    sample_rate: int
    channels: int
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: Fraction
    frame_count: int
    duration_s: float
    width: int  # coded size; see display_size for the rotated picture
    height: int
    rotation: int  # degrees the picture is turned for display (0, 90, 180, 270), as ffprobe reports it
    codec: str
    audio_streams: list[AudioStreamInfo] = field(default_factory=list)
    start_time_s: float = 0.0
    is_vfr: bool = False
    pts_s: tuple[float, ...] = field(
        default=(), repr=False
    )  # presentation time of each frame, from the first frame (0.0)
    pts_ticks: tuple[int, ...] = field(
        default=(), repr=False
    )  # the same in stream time-base ticks (exact), sorted
    time_base: Fraction = Fraction(1)

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.rotation % 180 == 90 else (self.width, self.height)

    def picture_samples(self, sample_rate: int) -> int:
        """The picture's length in samples (``core.timecode.picture_length_samples``, VFR included)."""
        from triergon_studio.core.timecode import picture_length_samples

        return picture_length_samples(
            self.frame_count, self.fps, sample_rate, is_vfr=self.is_vfr, duration_s=self.duration_s
        )

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_streams)

    def to_json_dict(self) -> dict[str, Any]:
        a = self.audio_streams[0] if self.audio_streams else None
        dw, dh = self.display_size
        return {
            "path": str(self.path),
            "fps_num": self.fps.numerator,
            "fps_den": self.fps.denominator,
            "fps": float(self.fps),
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "width": self.width,
            "height": self.height,
            "display_width": dw,
            "display_height": dh,
            "rotation": self.rotation,
            "codec": self.codec,
            "is_vfr": self.is_vfr,
            "start_time_s": self.start_time_s,
            "has_audio": a is not None,
            "picture_samples": {str(sr): self.picture_samples(sr) for sr in (44100, 48000)},
            "audio_sample_rate": a.sample_rate if a else None,
            "audio_channels": a.channels if a else None,
            "audio_streams": [
                {"index": s.index, "sample_rate": s.sample_rate, "channels": s.channels, "codec": s.codec}
                for s in self.audio_streams
            ],
        }


def open_container(path: str | Path) -> Any:
    """``av.open`` with the failures turned into one-line VideoFileErrors."""
    import av

    p = Path(path)
    if not p.exists():
        raise VideoFileError("does not exist", p)
    if not p.is_file():
        raise VideoFileError("is not a file", p)
    if p.stat().st_size == 0:
        raise VideoFileError("is empty", p)
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoFileError(
            f"cannot be opened as a video (truncated or corrupt?): {exc.strerror or exc}", p
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VideoFileError(f"cannot be opened as a video: {exc}", p) from exc


def _rate_of(stream: Any) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate.numerator, rate.denominator)
    return None


def _rotation_of(stream: Any, first_frame: Any) -> int:
    rot = getattr(first_frame, "rotation", 0) if first_frame is not None else 0
    if not rot:
        try:
            rot = int(float(stream.metadata.get("rotate", 0)))
        except ValueError:
            rot = 0
    return int(round(rot / 90.0) * 90) % 360


def probe(path: str | Path) -> VideoInfo:
    """Inspect a video file. Raises VideoFileError (one line) for anything that is not a readable video."""
    import av

    p = Path(path)
    container = open_container(p)
    try:
        if not container.streams.video:
            kind = "an audio-only file" if container.streams.audio else "a file without a video stream"
            raise VideoFileError(f"is {kind}, not a video", p)
        stream = container.streams.video[0]
        fmt = container.format.name or ""
        if (
            fmt == "image2"
            or fmt.endswith("_pipe")
            or stream.codec_context.name in ("png", "bmp", "tiff", "webp")
        ):
            raise VideoFileError("is a still image, not a video", p)
        tb = stream.time_base
        if tb is None:
            raise VideoFileError("has a video stream without a time base", p)
        audio = [
            AudioStreamInfo(s.index, int(s.rate or 0), int(s.channels or 0), s.codec_context.name)
            for s in container.streams.audio
        ]
        pts: list[int] = []
        durations: list[int] = []
        packets = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or (packet.pts is None and packet.dts is None):
                    continue  # the flush packet
                packets += 1
                if packet.is_discard:
                    continue  # outside the container's edit list: never shown
                pts.append(packet.pts if packet.pts is not None else packet.dts)
                durations.append(packet.duration or 0)
        except av.FFmpegError as exc:
            if not pts:
                raise VideoFileError(f"has no readable video packets: {exc.strerror or exc}", p) from exc
            raise VideoFileError(
                f"is truncated or corrupt after {len(pts)} frames: {exc.strerror or exc}", p
            ) from exc
        if not pts:
            raise VideoFileError("holds no video frames (truncated or empty file?)", p)
        declared = int(stream.frames or 0)
        if declared and packets < declared:
            raise VideoFileError(
                f"is truncated: the header lists {declared} frames but only {packets} are present", p
            )
        first_frame = _decode_first(container, stream, p)
        pts.sort()
        rate = _rate_of(stream)
        deltas = [b - a for a, b in zip(pts, pts[1:], strict=False)]
        is_vfr = bool(deltas) and (max(deltas) - min(deltas)) > max(1, min(deltas) // 20)
        if rate is None:
            if not deltas:
                raise VideoFileError("has no frame rate", p)
            rate = Fraction(len(deltas), 1) / ((pts[-1] - pts[0]) * Fraction(tb.numerator, tb.denominator))
        t0 = pts[0]
        tbf = Fraction(tb.numerator, tb.denominator)
        pts_s = tuple(float((x - t0) * tbf) for x in pts)
        if is_vfr:
            last_dur = durations[-1] if durations and durations[-1] else (deltas[-1] if deltas else 0)
            duration = float((pts[-1] - t0 + last_dur) * tbf)
        else:
            duration = float(Fraction(len(pts)) / rate)
        return VideoInfo(
            path=p,
            fps=rate,
            frame_count=len(pts),
            duration_s=duration,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            rotation=_rotation_of(stream, first_frame),
            codec=stream.codec_context.name,
            audio_streams=audio,
            start_time_s=float(t0 * tbf),
            is_vfr=is_vfr,
            pts_s=pts_s,
            pts_ticks=tuple(pts),
            time_base=tbf,
        )
    finally:
        container.close()


def _decode_first(container: Any, stream: Any, p: Path) -> Any:
    """Decode one frame so that a file whose packets are garbage fails here and not during playback."""
    import av

    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            if frame.width <= 0 or not math.isfinite(frame.time or 0.0):
                break
            return frame
    except av.FFmpegError as exc:
        raise VideoFileError(f"cannot be decoded (corrupt video data): {exc.strerror or exc}", p) from exc
    raise VideoFileError("cannot be decoded (no picture in the video stream)", p)
