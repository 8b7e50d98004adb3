"""Review video: the original picture, packet for packet (no re-encode), with the mix laid under it.

MP4 gets the mix as AAC; MOV gets it as 24-bit PCM. The picture packets keep their bytes and timestamps,
so what the reviewer sees is exactly the locked cut.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from triergon_studio.errors import ExportError, VideoFileError
from triergon_studio.video.probe import open_container

CONTAINERS = {"mp4": ("mp4", "aac"), "mov": ("mov", "pcm_s24le")}
_BLOCK = 1024


class BlockReader(Protocol):
    """Audio read by sample ranges (``audio.blocks.AudioSource``): the mix of a long export, kept on disk."""

    n: int

    def read(self, start: int, stop: int) -> np.ndarray: ...


def mux_review(
    video_path: str | Path,
    audio: np.ndarray | BlockReader,
    sr: int,
    out_path: str | Path,
    container: str = "mp4",
    aac_bitrate: int = 256_000,
) -> Path:
    """Write ``out_path`` (overwritten if present: callers write to a temp name and rename)."""
    import av

    if container not in CONTAINERS:
        raise ExportError(f"unknown review container {container!r} (use mp4 or mov)", out_path)
    fmt, acodec = CONTAINERS[container]
    if isinstance(audio, np.ndarray):
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[:, None]
        channels = audio.shape[1]
    else:
        channels = int(audio.read(0, 1).shape[1])
    if channels not in (1, 2):
        raise ExportError(f"the review mix must be mono or stereo, not {channels} channels", out_path)
    src = open_container(video_path)
    out_path = Path(out_path)
    try:
        if not src.streams.video:
            raise VideoFileError("has no video stream to copy", video_path)
        vin = src.streams.video[0]
        try:
            dst = av.open(str(out_path), "w", format=fmt)
        except av.FFmpegError as exc:
            raise ExportError(f"cannot be created: {exc.strerror or exc}", out_path) from exc
        try:
            vout = dst.add_stream_from_template(vin)
            layout = "stereo" if channels == 2 else "mono"
            # an audio codec name gives an audio stream (the stubs type a str codec as any stream kind)
            aout = cast(av.AudioStream, dst.add_stream(acodec, rate=sr, layout=layout))
            if acodec == "aac":
                aout.bit_rate = aac_bitrate
            _copy_video(src, vin, dst, vout)
            _encode_audio(dst, aout, audio, sr, layout)
        except av.FFmpegError as exc:
            raise ExportError(f"could not be written: {exc.strerror or exc}", out_path) from exc
        finally:
            dst.close()
    finally:
        src.close()
    return out_path


def _copy_video(src: object, vin: object, dst: object, vout: object) -> None:
    for packet in src.demux(vin):  # type: ignore[attr-defined]
        if packet.dts is None and packet.pts is None:
            continue  # demuxer flush packet
        packet.stream = vout
        dst.mux(packet)  # type: ignore[attr-defined]


def _encode_audio(dst: object, aout: object, audio: np.ndarray | BlockReader, sr: int, layout: str) -> None:
    import av

    total = audio.shape[0] if isinstance(audio, np.ndarray) else audio.n
    for start in range(0, total, _BLOCK):
        stop = min(start + _BLOCK, total)
        part = audio[start:stop] if isinstance(audio, np.ndarray) else audio.read(start, stop)
        chunk = np.ascontiguousarray(np.asarray(part, dtype=np.float32).T)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = start
        frame.time_base = Fraction(1, sr)
        for packet in aout.encode(frame):  # type: ignore[attr-defined]
            dst.mux(packet)  # type: ignore[attr-defined]
    for packet in aout.encode(None):  # type: ignore[attr-defined]
        dst.mux(packet)  # type: ignore[attr-defined]
