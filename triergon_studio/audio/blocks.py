"""Random-access audio sources, a block-by-block WAV writer and exact streaming loudness sums: the parts that
let conform, normalise and export run in memory bounded by a constant, whatever the length.

- ``AudioSource``: ``read(start, stop) -> [m, 2] float32`` (zeros outside the signal), ``n``, ``sr``. PCM and
  float WAV/AIFF/CAF files are read in place (soundfile seeks); anything else (FLAC, MP3, the sound of a
  video) is decoded once, block by block, into a float32 scratch file that is removed afterwards. The samples
  are those ``io.read_audio`` returns.
- ``WavBlockWriter``: the bytes ``io.write_wav`` writes, appended block by block; the ``bext`` chunk (whose
  loudness fields are known only at the end) is rewritten in place when the file is closed.
- ``ExactLoudness``: the K-weighted 1/6 s curve and 100 ms gating sums of a stream, reduced window by window
  with the same operations ``loudness.channel_curves`` and ``loudness.integrated_loudness`` apply to a whole
  array (the IIR state carries across blocks, which is bit-exact), so the curves and the integrated loudness
  are bit-identical to the whole-array figures where both windows are whole numbers of samples (44.1 and
  48 kHz) with the ITU filter; elsewhere it falls back to ``stream.StreamingAnalysis`` (equal within
  rounding).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio.io import (
    MAX_SAMPLE_RATE,
    BextInfo,
    _bext_bytes,
    _check_riff_header,
    _chunk,
    _one_line,
    _pcm_bytes,
    to_stereo,
)
from triergon_studio.core.curves import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.errors import AudioFileError, ExportError

BLOCK_FRAMES = 1 << 16
_IN_PLACE_FORMATS = ("WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF")  # uncompressed: seeks are exact


class AudioSource(Protocol):
    sr: int
    n: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """``[stop - start, 2]`` float32; zeros outside ``[0, n)``."""
        ...


def _zero_padded(start: int, stop: int, n: int, get: object) -> np.ndarray:
    out = np.zeros((max(0, stop - start), 2), np.float32)
    a, b = max(start, 0), min(stop, n)
    if b > a:
        out[a - start : b - start] = get(a, b)  # type: ignore[operator]
    return out


class ArraySource:
    """An in-memory ``[N, C]`` array as a source (tests, and the whole-array oracle)."""

    def __init__(self, audio: np.ndarray, sr: int) -> None:
        a = np.asarray(audio, np.float32)
        self.audio = to_stereo(a if a.ndim == 2 else a[:, None])
        self.sr, self.n = int(sr), int(self.audio.shape[0])

    def read(self, start: int, stop: int) -> np.ndarray:
        return _zero_padded(start, stop, self.n, lambda a, b: self.audio[a:b])


class SoundfileSource:
    """An uncompressed file read in place: every ``read`` seeks (exact for PCM and float data)."""

    def __init__(self, path: Path, fh: object) -> None:
        import soundfile as sf

        assert isinstance(fh, sf.SoundFile)
        self.path, self.fh = path, fh
        self.sr, self.n = int(fh.samplerate), int(fh.frames)

    def _get(self, a: int, b: int) -> np.ndarray:
        import soundfile as sf

        assert isinstance(self.fh, sf.SoundFile)
        try:
            self.fh.seek(a)
            data = self.fh.read(b - a, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"corrupt audio data ({_one_line(exc)})", self.path) from exc
        if data.shape[0] < b - a:
            raise AudioFileError(
                f"truncated file: header declares {self.n} frames but only {a + data.shape[0]} could be read",
                self.path,
            )
        if not np.all(np.isfinite(data)):
            raise AudioFileError("contains NaN or infinite samples", self.path)
        return to_stereo(data)

    def read(self, start: int, stop: int) -> np.ndarray:
        return _zero_padded(start, stop, self.n, self._get)

    def close(self) -> None:
        self.fh.close()


class RawSource:
    """Interleaved stereo float32 samples in a headerless scratch file."""

    def __init__(self, path: Path, n: int, sr: int) -> None:
        self.path, self.n, self.sr = path, int(n), int(sr)

    def _get(self, a: int, b: int) -> np.ndarray:
        data = np.fromfile(self.path, dtype="<f4", count=(b - a) * 2, offset=a * 8)
        return data.reshape(-1, 2)

    def read(self, start: int, stop: int) -> np.ndarray:
        return _zero_padded(start, stop, self.n, self._get)


class RawWriter:
    """Appends ``[B, 2]`` float32 blocks to a scratch file a ``RawSource`` reads back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.n = 0

    def write(self, block: np.ndarray) -> None:
        b = np.ascontiguousarray(block, dtype="<f4")
        self.fh.write(b.tobytes())
        self.n += b.shape[0]

    def close(self) -> None:
        self.fh.close()


@contextlib.contextmanager
def open_source(path: str | Path, scratch_dir: Path | None = None) -> Iterator[AudioSource]:
    """An ``AudioSource`` for an audio or video file, with ``io.read_audio``'s checks and samples."""
    from triergon_studio.audio.stream import _open_soundfile, open_stream

    p = Path(path)
    if not p.exists():
        raise AudioFileError("file not found", p)
    if p.is_dir():
        raise AudioFileError("is a folder, not an audio file", p)
    if p.stat().st_size == 0:
        raise AudioFileError("file is empty", p)
    _check_riff_header(p, p.stat().st_size)
    opened = _open_soundfile(p)
    if opened is not None and getattr(opened[1], "format", "") in _IN_PLACE_FORMATS and opened[2] > 0:
        src = SoundfileSource(p, opened[1])
        if src.sr <= 0 or src.sr > MAX_SAMPLE_RATE:
            src.close()
            raise AudioFileError(f"invalid sample rate {src.sr} Hz (must be 1..{MAX_SAMPLE_RATE})", p)
        try:
            yield src
        finally:
            src.close()
        return
    if opened is not None:
        opened[1].close()  # type: ignore[attr-defined]
    folder = scratch_dir if scratch_dir is not None else p.parent
    scratch = folder / f".{p.name}.decoded-{os.getpid()}.f32"
    try:
        sr, blocks = open_stream(p)
        writer = RawWriter(scratch)
        try:
            for b in blocks:
                writer.write(b)
        finally:
            writer.close()
        yield RawSource(scratch, writer.n, sr)
    finally:
        scratch.unlink(missing_ok=True)


def iter_blocks(src: AudioSource, block: int = BLOCK_FRAMES) -> Iterator[tuple[int, np.ndarray]]:
    """(start, ``[B, 2]`` float32) over the whole source."""
    for a in range(0, src.n, block):
        yield a, src.read(a, min(a + block, src.n))


# --------------------------------------------------------------------------------------------- writing
class WavBlockWriter:
    """``io.write_wav``'s file, written block by block (``n`` frames, known in advance) to ``path``.

    ``close(bext)`` checks that ``n`` frames arrived and rewrites the ``bext`` chunk with the final values
    (its size does not depend on them). The caller owns atomicity (``core.atomic.atomic_path`` or a staging
    folder)."""

    def __init__(
        self, path: Path, n: int, sr: int, bits: str = "24", bext: BextInfo | None = None, channels: int = 2
    ) -> None:
        if not 0 < int(sr) <= MAX_SAMPLE_RATE:
            raise ExportError(f"invalid sample rate {sr}", path)
        self.path, self.n, self.bits, self.channels = path, int(n), str(bits), channels
        _, tag, nbits = _pcm_bytes(np.zeros((0, channels)), self.bits)
        block_align = channels * nbits // 8
        fmt = struct.pack("<HHIIHH", tag, channels, int(sr), int(sr) * block_align, block_align, nbits)
        if tag == 3:
            fmt += struct.pack("<H", 0)
        self.bext = bext
        bext_chunk = _chunk(b"bext", _bext_bytes(bext)) if bext is not None else b""
        chunks = [bext_chunk, _chunk(b"fmt ", fmt)]
        if tag == 3:
            chunks.append(_chunk(b"fact", struct.pack("<I", self.n)))
        head = b"".join(chunks)
        self.data_len = self.n * block_align
        self.data_pad = b"\0" if self.data_len & 1 else b""
        riff_size = 4 + len(head) + 8 + self.data_len + len(self.data_pad)
        if riff_size >= 1 << 32:
            raise ExportError("audio too long for a WAV file (over 4 GiB)", path)
        self.bext_at = 12 + 8  # the bext body follows RIFF/WAVE and its own chunk header
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close()/abort()
        self.fh.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
        self.fh.write(head)
        self.fh.write(b"data" + struct.pack("<I", self.data_len))
        self.written = 0

    def write(self, block: np.ndarray) -> None:
        a = np.ascontiguousarray(block)  # interleaved frames (a product with a transposed envelope is not)
        if a.ndim == 1:
            a = a[:, None]
        if not np.all(np.isfinite(a)):
            raise ExportError("refusing to write NaN or infinite samples", self.path)
        if self.written + a.shape[0] > self.n:
            raise ValueError(f"more than the {self.n} frames announced for {self.path}")
        self.fh.write(_pcm_bytes(a, self.bits)[0])
        self.written += a.shape[0]

    def close(self, bext: BextInfo | None = None) -> None:
        try:
            if self.written != self.n:
                raise ValueError(f"{self.path}: {self.written} frames written, {self.n} announced")
            self.fh.write(self.data_pad)
            if bext is not None:
                if self.bext is None:
                    raise ValueError("a bext chunk can only be rewritten when one was announced")
                body = _bext_bytes(bext)
                if len(body) != len(_bext_bytes(self.bext)):
                    raise ValueError("the final bext chunk must keep the announced size")
                self.fh.seek(self.bext_at)
                self.fh.write(body)
            self.fh.flush()
        finally:
            self.fh.close()

    def abort(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------------------------- loudness
class _RowSums:
    """Sums of ``y**2`` over back-to-back windows of ``step`` samples, each reduced like
    ``loudness._window_sums`` reduces a whole array's regular windows (one einsum row per window)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.rows: list[np.ndarray] = []
        self.pending = np.zeros(0)

    def push(self, y: np.ndarray) -> None:
        buf = np.concatenate([self.pending, y]) if self.pending.size else y
        k = buf.size // self.step
        if k:
            rows = buf[: k * self.step].reshape(k, self.step)
            self.rows.append(np.einsum("ij,ij->i", rows, rows))
            if len(self.rows) >= 256:  # one array, not thousands of small ones
                self.rows = [np.concatenate(self.rows)]
        self.pending = buf[k * self.step :].copy()

    def full(self) -> np.ndarray:
        return np.concatenate(self.rows) if self.rows else np.zeros(0)


def _whole_step(window_s: float, sr: int) -> int | None:
    w = window_s * sr
    return int(round(w)) if abs(w - round(w)) < 1e-6 and round(w) > 0 else None


class ExactLoudness:
    """Per-channel 1/6 s curves and gated integrated loudness of a stream (see the module docstring)."""

    def __init__(self, sr: int, channels: int = 2, filter: str = "itu") -> None:
        from scipy.signal import lfilter_zi

        self.sr, self.channels, self.filter = int(sr), channels, filter
        _ld._k_sos(self.sr, filter)
        self.b, self.a = _ld._k_tf(self.sr, filter)
        self.curve_step = _whole_step(1.0 / CURVE_RATE_HZ, self.sr)
        self.block_step = _whole_step(_ld.SERIES_HOP_S, self.sr)
        self.exact = filter == "itu" and self.curve_step is not None and self.block_step is not None
        self.n = 0
        if self.exact:
            assert self.curve_step is not None and self.block_step is not None
            self.zi = [np.zeros(lfilter_zi(self.b, self.a).size) for _ in range(channels)]
            self.curve_sums = [_RowSums(self.curve_step) for _ in range(channels)]
            self.block_sums = [_RowSums(self.block_step) for _ in range(channels)]
        else:
            from triergon_studio.audio.stream import StreamingAnalysis

            self.fallback = StreamingAnalysis(self.sr, channels, filter, true_peak=False)
        self._done: _ld.LoudnessAnalysis | None = None

    def push(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        if x.shape[0] == 0:
            return
        self.n += x.shape[0]
        if not self.exact:
            self.fallback.push(x)
            return
        from scipy.signal import lfilter

        for c in range(self.channels):
            y, self.zi[c] = lfilter(self.b, self.a, np.ascontiguousarray(x[:, c]), zi=self.zi[c])
            self.curve_sums[c].push(y)
            self.block_sums[c].push(y)

    def _fallback(self) -> _ld.LoudnessAnalysis:
        if self._done is None:
            self._done = self.fallback.finish()
        return self._done

    def curves(self) -> np.ndarray:
        """``[C, F]`` LUFS, as ``loudness.channel_curves`` of the whole stream."""
        if self.n == 0:
            raise ValueError("cannot measure empty audio")
        if not self.exact:
            return self._fallback().curves
        hop = 1.0 / CURVE_RATE_HZ
        starts, ends = _ld._frame_bounds(self.n, self.sr, hop, hop, self.filter)
        rows = []
        for acc in self.curve_sums:
            head, tail = acc.full(), acc.pending
            if starts.size == 1 and tail.size:  # one short frame: one einsum row, as the whole array does
                rows.append(np.einsum("ij,ij->i", tail[None, :], tail[None, :]))
            elif tail.size:
                rows.append(np.append(head, float(np.dot(tail, tail))))
            else:
                rows.append(head)
        return _ld._curve_lufs(np.stack(rows), starts, ends, LUFS_FLOOR)

    def integrated(self) -> float:
        """Gated integrated loudness (LUFS), as ``loudness.integrated_loudness`` of the whole stream."""
        if self.n == 0:
            raise ValueError("cannot measure empty audio")
        if not self.exact:
            return self._fallback().integrated_lufs
        bounds = _ld._sub_block_bounds(self.n, self.sr)
        per = []
        for acc in self.block_sums:
            tail = float(np.dot(acc.pending, acc.pending))
            head = acc.full()
            per.append(np.append(head, tail) if head.size else np.array([tail]))
        blocks = _ld._Blocks.from_channel_sums(np.stack(per), bounds, self.sr, self.n, self.filter)
        return _ld._integrated_from_powers(_ld._gating_powers(blocks))
