"""Audio file reading and WAV writing (with an optional Broadcast WAV ``bext`` chunk).

Reading returns ``[frames, 2]`` float32 and the sample rate:

- WAV, FLAC, OGG, AIFF and MP3 go through libsndfile (soundfile); anything libsndfile cannot open (the audio
  track of a video, AAC, ...) goes through PyAV.
- Mono becomes dual-mono. More than two channels are downmixed ITU-R BS.775 style, assuming the WAV
  channel order (3: L R C; 4: L R Ls Rs; 5: L R C Ls Rs; 6: L R C LFE Ls Rs; 8: L R C LFE Lb Rb Ls Rs):
  ``Lo = L + 0.7071 C + 0.7071 (each left surround)``, likewise for Ro; LFE is dropped. Counts without a standard layout (7, or more than 8) alternate channels to left
  and right and average each side. The downmix is not normalised (float output may exceed 1.0), so
  loudness stays comparable with the source.
- Bad input (missing, empty, truncated, corrupt, non-audio, NaN/inf samples, sample rate 0 or above
  768 kHz) raises ``AudioFileError`` with a one-line message naming the file.

Writing is atomic and never replaces an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triergon_studio.core.atomic import atomic_path
from triergon_studio.errors import AudioFileError, ExportError

MAX_SAMPLE_RATE = 768_000
_M3DB = 0.7071067811865476  # -3 dB
_BEXT_FIXED = 602  # bytes before CodingHistory (EBU Tech 3285 v2)
_VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi", ".m4a", ".aac", ".mxf", ".ts", ".opus"}


@dataclass
class BextInfo:
    """Broadcast WAV description (EBU Tech 3285). ``time_reference`` is samples since midnight."""

    description: str = ""
    originator: str = "Tri-Ergon Studio"
    origination_date: str = ""  # yyyy-mm-dd
    origination_time: str = ""  # hh:mm:ss
    time_reference: int = 0
    originator_reference: str = ""
    coding_history: str = ""
    # Loudness metadata (bext version 2); None leaves the field unset (0x7fff).
    loudness_value: float | None = None
    loudness_range: float | None = None
    max_true_peak_level: float | None = None
    max_momentary_loudness: float | None = None
    max_short_term_loudness: float | None = None


# --------------------------------------------------------------------------------------------- reading
def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read any supported file as ``([N, 2] float32, sr)``; resample to ``sample_rate`` when given."""
    p = Path(path)
    if not p.exists():
        raise AudioFileError("file not found", p)
    if p.is_dir():
        raise AudioFileError("is a folder, not an audio file", p)
    size = p.stat().st_size
    if size == 0:
        raise AudioFileError("file is empty", p)
    _check_riff_header(p, size)
    data, sr = _read_soundfile(p)
    if data is None:
        data, sr = _read_pyav(p)
    if sr <= 0 or sr > MAX_SAMPLE_RATE:
        raise AudioFileError(f"invalid sample rate {sr} Hz (must be 1..{MAX_SAMPLE_RATE})", p)
    if data.shape[0] == 0:
        raise AudioFileError("contains no audio samples", p)
    if not np.all(np.isfinite(data)):
        raise AudioFileError("contains NaN or infinite samples", p)
    out = to_stereo(data)
    if sample_rate is not None and int(sample_rate) != sr:
        if sample_rate <= 0 or sample_rate > MAX_SAMPLE_RATE:
            raise AudioFileError(f"cannot resample to {sample_rate} Hz", p)
        out = resample(out, sr, int(sample_rate))
        sr = int(sample_rate)
    return np.ascontiguousarray(out, dtype=np.float32), int(sr)


def to_stereo(data: np.ndarray) -> np.ndarray:
    """``[N, C]`` -> ``[N, 2]`` (mono duplicated, surround downmixed; see module docstring)."""
    a = np.asarray(data, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    c = a.shape[1]
    if c == 1:
        return np.repeat(a, 2, axis=1)
    if c == 2:
        return a
    left_w = np.zeros(c, dtype=np.float32)
    right_w = np.zeros(c, dtype=np.float32)
    layouts = {
        3: ([0, 2], [1, 2]),  # L R C
        4: ([0, 2], [1, 3]),  # L R Ls Rs (quad)
        5: ([0, 2, 3], [1, 2, 4]),  # L R C Ls Rs
        6: ([0, 2, 4], [1, 2, 5]),  # L R C LFE Ls Rs
        8: ([0, 2, 4, 6], [1, 2, 5, 7]),  # L R C LFE Lb Rb Ls Rs
    }
    if c in layouts:
        lidx, ridx = layouts[c]
        left_w[lidx] = _M3DB
        right_w[ridx] = _M3DB
        left_w[0] = 1.0
        right_w[1] = 1.0
    else:
        left_w[0::2] = 1.0 / len(range(0, c, 2))
        right_w[1::2] = 1.0 / len(range(1, c, 2))
    return np.stack([a @ left_w, a @ right_w], axis=1)


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``) along axis 0."""
    from math import gcd

    from scipy.signal import resample_poly

    sr_from, sr_to = int(sr_from), int(sr_to)
    if sr_from == sr_to:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(sr_from, sr_to)
    out = resample_poly(np.asarray(audio, dtype=np.float64), sr_to // g, sr_from // g, axis=0)
    return out.astype(np.float32)


def _check_riff_header(p: Path, size: int) -> None:
    """Catch WAV problems libsndfile would read past silently: truncated data, absurd sample rates."""
    with open(p, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, clen = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt ":
                fmt = fh.read(min(clen, 16))
                if len(fmt) < 16:
                    raise AudioFileError("truncated WAV header", p)
                _tag, channels, rate = struct.unpack("<HHI", fmt[:8])
                if channels == 0:
                    raise AudioFileError("WAV header declares 0 channels", p)
                if rate == 0 or rate > MAX_SAMPLE_RATE:
                    raise AudioFileError(f"invalid sample rate {rate} Hz (must be 1..{MAX_SAMPLE_RATE})", p)
            elif cid == b"data":
                # 0xFFFFFFFF marks a streamed/RF64-style unknown length; anything else must fit.
                if clen != 0xFFFFFFFF and pos + 8 + clen > size:
                    have = size - pos - 8
                    raise AudioFileError(
                        f"truncated file: data chunk declares {clen} bytes but only {have} are present", p
                    )
                return
            pos += 8 + clen + (clen & 1)
        raise AudioFileError("truncated or corrupt WAV: no data chunk", p)


def _read_soundfile(p: Path) -> tuple[np.ndarray | None, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(str(p)) as fh:
            sr = int(fh.samplerate)
            declared = int(fh.frames)
            data = fh.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if p.suffix.lower() in (".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac"):
            raise AudioFileError(f"corrupt or unsupported audio file ({_one_line(exc)})", p) from exc
        return None, 0
    if 0 < declared < (1 << 62) and data.shape[0] < declared:
        raise AudioFileError(
            f"truncated file: header declares {declared} frames but only {data.shape[0]} could be read", p
        )
    return data, sr


def _read_pyav(p: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(str(p))
    except Exception as exc:  # PyAV raises many error types for non-media input
        raise AudioFileError(f"not a readable audio or video file ({_one_line(exc)})", p) from exc
    try:
        if not container.streams.audio:
            kind = "video without sound" if container.streams.video else "not audio"
            fmt_name = container.format.name if container.format else "unknown"
            raise AudioFileError(f"has no audio stream ({kind}, detected format {fmt_name})", p)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        sr = int(stream.rate or stream.codec_context.sample_rate or 0)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    sr = int(out.sample_rate)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.FFmpegError as exc:
            raise AudioFileError(f"corrupt audio stream ({_one_line(exc)})", p) from exc
    finally:
        container.close()
    if not chunks:
        raise AudioFileError("contains no audio samples", p)
    data = np.concatenate(chunks, axis=1).T.astype(np.float32)
    return data, sr


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else exc.__class__.__name__


# --------------------------------------------------------------------------------------------- writing
def _pcm_bytes(audio: np.ndarray, bits: str) -> tuple[bytes, int, int]:
    """Interleaved sample bytes, WAVE format tag and bits per sample."""
    a = np.asarray(audio, dtype=np.float64)
    if bits == "32f":
        return a.astype("<f4").tobytes(), 3, 32
    if bits == "16":
        q = np.clip(np.round(a * 32768.0), -32768, 32767).astype("<i2")
        return q.tobytes(), 1, 16
    if bits == "24":
        q = np.clip(np.round(a * 8388608.0), -8388608, 8388607).astype("<i4")
        # Keep the three low bytes of each little-endian int32.
        return q.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), 1, 24
    raise ValueError(f"bits must be '16', '24' or '32f', got {bits!r}")


def _fixed(text: str, n: int) -> bytes:
    return text.encode("ascii", "replace")[:n].ljust(n, b"\0")


def _bext_bytes(info: BextInfo) -> bytes:
    loud = [
        info.loudness_value,
        info.loudness_range,
        info.max_true_peak_level,
        info.max_momentary_loudness,
        info.max_short_term_loudness,
    ]
    version = 2 if any(v is not None for v in loud) else 1
    loud_i = [0x7FFF if v is None else int(round(max(-327.67, min(327.67, v)) * 100)) for v in loud]
    tr = int(info.time_reference)
    if tr < 0:
        raise ValueError("time_reference must be >= 0")
    body = b"".join(
        [
            _fixed(info.description, 256),
            _fixed(info.originator, 32),
            _fixed(info.originator_reference, 32),
            _fixed(info.origination_date, 10),
            _fixed(info.origination_time, 8),
            struct.pack("<IIH", tr & 0xFFFFFFFF, (tr >> 32) & 0xFFFFFFFF, version),
            b"\0" * 64,  # UMID
            struct.pack("<5h", *loud_i),
            b"\0" * 180,
            info.coding_history.encode("ascii", "replace"),
        ]
    )
    assert len(body) >= _BEXT_FIXED
    return body


def _chunk(cid: bytes, body: bytes) -> bytes:
    pad = b"\0" if len(body) & 1 else b""
    return cid + struct.pack("<I", len(body)) + body + pad


def write_wav(
    path: str | Path,
    audio: np.ndarray,
    sr: int,
    bits: str = "24",
    bext: BextInfo | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``[N, C]`` float audio as a (Broadcast) WAV file, atomically.

    PCM is rounded without dither and clipped to full scale; ``"32f"`` stores float samples unchanged.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise ExportError("file already exists (use overwrite/--force to replace it)", p)
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"audio must be [frames, channels], got shape {np.shape(audio)}")
    if not np.all(np.isfinite(a)):
        raise ExportError("refusing to write NaN or infinite samples", p)
    if not 0 < int(sr) <= MAX_SAMPLE_RATE:
        raise ExportError(f"invalid sample rate {sr}", p)
    data, tag, nbits = _pcm_bytes(a, str(bits))
    channels = a.shape[1]
    block_align = channels * nbits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, int(sr), int(sr) * block_align, block_align, nbits)
    if tag == 3:
        fmt += struct.pack("<H", 0)  # cbSize for non-PCM formats
    chunks = []
    if bext is not None:
        chunks.append(_chunk(b"bext", _bext_bytes(bext)))
    chunks.append(_chunk(b"fmt ", fmt))
    if tag == 3:
        chunks.append(_chunk(b"fact", struct.pack("<I", a.shape[0])))
    head = b"".join(chunks)
    data_pad = b"\0" if len(data) & 1 else b""
    riff_size = 4 + len(head) + 8 + len(data) + len(data_pad)
    if riff_size >= 1 << 32:
        raise ExportError("audio too long for a WAV file (over 4 GiB)", p)
    try:
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
                fh.write(head)
                fh.write(b"data" + struct.pack("<I", len(data)))
                fh.write(data)
                fh.write(data_pad)
    except OSError as exc:
        raise ExportError(f"cannot write WAV ({_one_line(exc)})", p) from exc
    return p


def read_bext(path: str | Path) -> BextInfo | None:
    """Parse the ``bext`` chunk of a WAV file, or None when it has none (reads the chunk headers only, so a
    long file costs no memory)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise AudioFileError("not a WAV file", p)
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                cid, clen = struct.unpack("<4sI", fh.read(8))
                if cid == b"bext":
                    body = fh.read(clen)
                    if len(body) < 348:  # up to and including Version
                        raise AudioFileError("truncated bext chunk", p)
                    return _parse_bext(body)
                pos += 8 + clen + (clen & 1)
    except OSError as exc:
        raise AudioFileError(f"cannot read file ({_one_line(exc)})", p) from exc
    return None


def _parse_bext(body: bytes) -> BextInfo:
    def text(a: int, b: int) -> str:
        return body[a:b].split(b"\0", 1)[0].decode("ascii", "replace")

    lo, hi, version = struct.unpack_from("<IIH", body, 338)
    info = BextInfo(
        description=text(0, 256),
        originator=text(256, 288),
        originator_reference=text(288, 320),
        origination_date=text(320, 330),
        origination_time=text(330, 338),
        time_reference=lo | (hi << 32),
        coding_history=body[_BEXT_FIXED:].split(b"\0", 1)[0].decode("ascii", "replace"),
    )
    if version >= 2 and len(body) >= 422:
        vals = struct.unpack_from("<5h", body, 412)
        conv = [None if v == 0x7FFF else v / 100.0 for v in vals]
        (
            info.loudness_value,
            info.loudness_range,
            info.max_true_peak_level,
            info.max_momentary_loudness,
            info.max_short_term_loudness,
        ) = conv
    return info
