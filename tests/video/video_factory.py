"""Synthetic test videos made with PyAV (and the ffmpeg CLI only for container-level tweaks).

Every frame carries its own index as 10 black/white stripes, so a test can read back which frame it got.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

STRIPES = 10


def index_image(index: int, width: int = 80, height: int = 48) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    sw = width // STRIPES
    for b in range(STRIPES):
        if (index >> b) & 1:
            img[:, b * sw : (b + 1) * sw] = 255
    return img


def read_index(image: np.ndarray) -> int:
    sw = image.shape[1] // STRIPES
    return sum(1 << b for b in range(STRIPES) if image[:, b * sw : (b + 1) * sw].mean() > 127)


def make_video(
    path: Path,
    n_frames: int,
    fps: Fraction | int = 25,
    size: tuple[int, int] = (80, 48),
    codec: str = "libx264",
    audio: tuple[int, int] | None = None,
    pts_ms: list[int] | None = None,
    gop: int = 12,
    bframes: bool = True,
) -> Path:
    """Write ``n_frames`` index-striped frames. ``audio`` = (sample_rate, channels) adds a 440 Hz tone
    as long as the picture; ``pts_ms`` gives each frame's own time in ms (variable frame rate)."""
    fps = Fraction(fps)
    w, h = size
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.codec_context.gop_size = gop
    if codec == "libx264":
        stream.codec_context.options = {"preset": "ultrafast", "bf": "2" if bframes else "0"}
    if pts_ms is not None:
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
    astream = None
    if audio is not None:
        sr, ch = audio
        astream = container.add_stream("aac", rate=sr, layout="stereo" if ch == 2 else "mono")
    for i in range(n_frames):
        frame = av.VideoFrame.from_ndarray(index_image(i, w, h), format="rgb24")
        if pts_ms is not None:
            frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    if astream is not None:
        sr, ch = audio  # type: ignore[misc]
        total = int(round(n_frames / fps * sr))
        t = np.arange(total) / sr
        tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        data = np.stack([tone] * ch, axis=0) if ch == 2 else tone[None, :]
        block = 1024
        for start in range(0, total, block):
            chunk = np.ascontiguousarray(data[:, start : start + block])
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo" if ch == 2 else "mono")
            af.sample_rate, af.pts = sr, start
            for packet in astream.encode(af):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    container.close()
    return path


def make_audio_only(path: Path, seconds: float = 1.0, sr: int = 48000) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=sr, layout="stereo")
    n = int(seconds * sr)
    data = np.zeros((2, n), np.float32)
    for start in range(0, n, 1024):
        af = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data[:, start : start + 1024]), format="fltp", layout="stereo"
        )
        af.sample_rate, af.pts = sr, start
        for packet in stream.encode(af):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def rotated_copy(src: Path, dst: Path, degrees: int) -> Path:
    """Same stream, with a display-matrix rotation written by the ffmpeg CLI (a phone video)."""
    ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(dst))
    return dst


def faststart_copy(src: Path, dst: Path) -> Path:
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(dst))
    return dst


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst
