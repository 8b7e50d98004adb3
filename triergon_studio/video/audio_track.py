"""The video's own audio (production sound or a reference), decoded by PyAV at its native rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triergon_studio.errors import VideoFileError
from triergon_studio.video.probe import open_container


def extract_audio(path: str | Path, stream: int = 0) -> tuple[np.ndarray, int]:
    """Audio stream number ``stream`` of the file as ([N, C] float32 in [-1, 1], native sample rate)."""
    import av

    p = Path(path)
    container = open_container(p)
    try:
        if len(container.streams.audio) <= stream:
            raise VideoFileError(
                "has no audio track"
                if not container.streams.audio
                else f"has no audio stream number {stream}",
                p,
            )
        astream = container.streams.audio[stream]
        rate = int(astream.rate or astream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise VideoFileError("has an audio track without a sample rate", p)
        channels = int(astream.channels or 0) or 1
        layout = astream.layout.name if astream.layout else ("mono" if channels == 1 else "stereo")
        # Packed float at the native rate and layout: conversion only, no resampling.
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        chunks: list[np.ndarray] = []

        def take(frames: list) -> None:
            for f in frames:
                chunks.append(f.to_ndarray().reshape(-1, channels))

        try:
            for frame in container.decode(astream):
                take(resampler.resample(frame))
            take(resampler.resample(None))
        except av.FFmpegError as exc:
            raise VideoFileError(
                f"has an audio track that cannot be decoded: {exc.strerror or exc}", p
            ) from exc
        if not chunks:
            return np.zeros((0, channels), np.float32), rate
        return np.ascontiguousarray(np.concatenate(chunks).astype(np.float32, copy=False)), rate
    finally:
        container.close()
