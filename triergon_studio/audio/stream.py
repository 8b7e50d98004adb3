"""Block-wise reading and loudness analysis, so memory stays flat however long the file is.

``iter_blocks(path)`` yields ``[B, 2]`` float32 blocks with the same checks and channel handling as
``io.read_audio`` (through libsndfile, else PyAV for the audio track of a video). ``StreamingAnalysis``
consumes blocks and gives the same ``LoudnessAnalysis`` as ``loudness.analyze`` on the whole array:

- the K-weighting IIR carries its state from block to block (``lfilter`` with ``zi``);
- curve frames (1/6 s) and 100 ms sub-blocks are accumulated as running sums over their fixed sample
  boundaries, so a window that spans two blocks is summed exactly once;
- the true peak of each block is computed with the real neighbouring samples as context (one block of
  look-ahead), so it equals the whole-signal 4x oversampled peak.

Memory: one block of audio and its filtered copy (64 Ki frames, about 3 MB with temporaries) plus 8 bytes per
channel per 1/6 s frame and per 100 ms sub-block (about 2.3 MB for 2 h of stereo). Everything is measured
in ``benchmarks/bench_streaming_memory.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio.io import MAX_SAMPLE_RATE, _check_riff_header, _one_line, to_stereo
from triergon_studio.audio.truepeak import TAPS, _channel_peaks
from triergon_studio.core.curves import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.errors import AudioFileError

BLOCK_FRAMES = 1 << 16
_PEAK_CONTEXT = 2 * TAPS + 4 * 64  # samples of real context each side (covers _channel_peaks' block padding)


# --------------------------------------------------------------------------------------------- reading
def open_stream(path: str | Path, block_frames: int = BLOCK_FRAMES) -> tuple[int, Iterator[np.ndarray]]:
    """(sample rate, iterator of ``[B, 2]`` float32 blocks). Errors are ``AudioFileError`` naming the file;
    the header is checked here, the samples as they are read."""
    p = Path(path)
    if not p.exists():
        raise AudioFileError("file not found", p)
    if p.is_dir():
        raise AudioFileError("is a folder, not an audio file", p)
    size = p.stat().st_size
    if size == 0:
        raise AudioFileError("file is empty", p)
    _check_riff_header(p, size)
    opened = _open_soundfile(p)
    if opened is not None:
        sr, blocks = opened[0], _soundfile_blocks(p, opened[1], opened[2], block_frames)
    else:
        sr, blocks = _pyav_blocks(p, block_frames)
    if sr <= 0 or sr > MAX_SAMPLE_RATE:
        raise AudioFileError(f"invalid sample rate {sr} Hz (must be 1..{MAX_SAMPLE_RATE})", p)
    return sr, _checked(p, blocks)


def _checked(p: Path, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    total = 0
    for b in blocks:
        if not np.all(np.isfinite(b)):
            raise AudioFileError("contains NaN or infinite samples", p)
        total += b.shape[0]
        yield np.ascontiguousarray(to_stereo(b), dtype=np.float32)
    if total == 0:
        raise AudioFileError("contains no audio samples", p)


def _open_soundfile(p: Path) -> tuple[int, object, int] | None:
    import soundfile as sf

    try:
        fh = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if p.suffix.lower() in (".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac"):
            raise AudioFileError(f"corrupt or unsupported audio file ({_one_line(exc)})", p) from exc
        return None
    return int(fh.samplerate), fh, int(fh.frames)


def _soundfile_blocks(p: Path, fh: object, declared: int, block: int) -> Iterator[np.ndarray]:
    import soundfile as sf

    assert isinstance(fh, sf.SoundFile)
    got = 0
    with fh:
        while True:
            try:
                data = fh.read(block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioFileError(f"corrupt audio data ({_one_line(exc)})", p) from exc
            if data.shape[0] == 0:
                break
            got += data.shape[0]
            yield data
    if 0 < declared < (1 << 62) and got < declared:
        raise AudioFileError(
            f"truncated file: header declares {declared} frames but only {got} could be read", p
        )


def _pyav_blocks(p: Path, block: int) -> tuple[int, Iterator[np.ndarray]]:
    import av

    try:
        container = av.open(str(p))
    except Exception as exc:  # PyAV raises many error types for non-media input
        raise AudioFileError(f"not a readable audio or video file ({_one_line(exc)})", p) from exc
    if not container.streams.audio:
        kind = "video without sound" if container.streams.video else "not audio"
        fmt_name = container.format.name if container.format else "unknown"
        container.close()
        raise AudioFileError(f"has no audio stream ({kind}, detected format {fmt_name})", p)
    stream = container.streams.audio[0]
    sr = int(stream.rate or stream.codec_context.sample_rate or 0)

    def gen() -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="fltp")
        pending: list[np.ndarray] = []
        count = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().T)
                    count += pending[-1].shape[0]
                    if count >= block:
                        yield np.concatenate(pending).astype(np.float32)
                        pending, count = [], 0
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().T)
            if pending:
                yield np.concatenate(pending).astype(np.float32)
        except av.FFmpegError as exc:
            raise AudioFileError(f"corrupt audio stream ({_one_line(exc)})", p) from exc
        finally:
            container.close()

    return sr, gen()


# --------------------------------------------------------------------------------------------- analysis
class _SegmentSums:
    """Running sums of a signal over back-to-back segments ``[edge(k), edge(k+1))``, fed block by block."""

    def __init__(self, edge: Callable[[np.ndarray], np.ndarray], hop: float) -> None:
        self.edge = edge
        self.hop = hop  # approximate segment length in samples (for the look-ahead of edges)
        self.closed: list[np.ndarray] = []
        self.k = 0  # the open segment
        self.open = 0.0
        self.pos = 0

    def push(self, sq: np.ndarray) -> None:
        n = sq.size
        if n == 0:
            return
        b0, b1 = self.pos, self.pos + n
        count = int(n / max(self.hop, 1e-9)) + 3
        ks = np.arange(self.k + 1, self.k + 1 + count, dtype=np.float64)
        edges = self.edge(ks)
        while edges.size and edges[-1] < b1:  # too few edges (tiny hops): extend
            ks = np.arange(self.k + 1, self.k + 1 + 2 * ks.size, dtype=np.float64)
            edges = self.edge(ks)
        local = (edges[edges < b1] - b0).astype(np.int64)
        if local.size == 0:
            self.open += float(sq.sum())
        else:
            starts = np.concatenate(([0], local))
            ends = np.concatenate((local, [n]))
            sums = np.zeros(starts.size)
            keep = ends > starts
            if keep.any():
                sums[keep] = np.add.reduceat(sq, starts[keep])
            sums[0] += self.open
            self.closed.append(sums[:-1])
            if len(self.closed) >= 256:  # one array, not thousands of small ones (Python overhead per object)
                self.closed = [np.concatenate(self.closed)]
            self.open = float(sums[-1])
            self.k += int(local.size)
        self.pos = b1

    def result(self) -> tuple[np.ndarray, float, bool]:
        """(closed sums, sum of the open segment, whether the open segment is complete at the end)."""
        closed = np.concatenate(self.closed) if self.closed else np.zeros(0)
        complete = bool(self.edge(np.array([self.k + 1.0]))[0] <= self.pos)
        return closed, self.open, complete


class StreamingAnalysis:
    """Feed ``[B, C]`` blocks with ``push``; ``finish()`` returns the ``LoudnessAnalysis`` of all of them."""

    def __init__(self, sr: int, channels: int = 2, filter: str = "itu", true_peak: bool = True) -> None:
        from scipy.signal import lfilter_zi

        self.sr, self.channels, self.filter, self.do_tp = int(sr), channels, filter, true_peak
        _ld._k_sos(self.sr, filter)  # validates the rate and the mode
        self.b, self.a = _ld._k_tf(self.sr, filter)
        self.zi = [np.zeros(lfilter_zi(self.b, self.a).size) for _ in range(channels)]
        hop_s = 1.0 / CURVE_RATE_HZ
        if filter == "pyloudnorm":

            def curve_edge(k: np.ndarray) -> np.ndarray:  # pyloudnorm's truncating float edges
                return np.floor(hop_s * (k * 1.0) * self.sr)
        else:
            hop = hop_s * self.sr

            def curve_edge(k: np.ndarray) -> np.ndarray:
                return np.round(k * hop)

        def sub_edge(k: np.ndarray) -> np.ndarray:
            return np.round(k * _ld.SERIES_HOP_S * self.sr)

        self.curves = [_SegmentSums(curve_edge, hop_s * self.sr) for _ in range(channels)]
        self.subs = [_SegmentSums(sub_edge, _ld.SERIES_HOP_S * self.sr) for _ in range(channels)]
        self.n = 0
        self.tp = np.zeros(channels)
        self.sp = np.zeros(channels)
        self._prev: np.ndarray | None = None  # the block waiting for its right-hand context
        self._left = np.zeros((0, channels))  # real samples before it

    def push(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {x.shape[1]}")
        if x.shape[0] == 0:
            return
        from scipy.signal import lfilter

        for c in range(self.channels):
            y, self.zi[c] = lfilter(self.b, self.a, x[:, c], zi=self.zi[c])
            sq = y * y
            self.curves[c].push(sq)
            self.subs[c].push(sq)
        self.n += x.shape[0]
        if self.do_tp:
            self._peaks(x)
        else:
            np.maximum(self.sp, np.abs(x).max(axis=0), out=self.sp)

    def _peaks(self, nxt: np.ndarray | None) -> None:
        """True and sample peak of the waiting block, now that the samples after it are known."""
        cur = self._prev
        if cur is not None:
            right = nxt[:_PEAK_CONTEXT] if nxt is not None else np.zeros((0, self.channels))
            for c in range(self.channels):
                tp, sp = _channel_peaks_in_context(self._left[:, c], cur[:, c], right[:, c])
                self.tp[c] = max(self.tp[c], tp)
                self.sp[c] = max(self.sp[c], sp)
            self._left = np.concatenate([self._left, cur])[-_PEAK_CONTEXT:]
        self._prev = nxt

    def finish(self) -> _ld.LoudnessAnalysis:
        if self.n == 0:
            raise ValueError("cannot measure empty audio")
        if self.do_tp:
            self._peaks(None)
        sr, n = self.sr, self.n
        starts, ends = _ld._frame_bounds(n, sr, 1.0 / CURVE_RATE_HZ, 1.0 / CURVE_RATE_HZ, self.filter)
        frames = starts.size
        rows = []
        for seg in self.curves:
            closed, open_sum, _ = seg.result()
            allsums = np.append(closed, open_sum)
            if allsums.size < frames:
                allsums = np.pad(allsums, (0, frames - allsums.size))
            rows.append(allsums[:frames])
        curves = _ld._curve_lufs(np.stack(rows), starts, ends, LUFS_FLOOR)
        bounds = _ld._sub_block_bounds(n, sr)
        complete = max(bounds.size - 1, 0) if bounds.size >= 2 and bounds[-1] > 0 else 0
        per = []
        for seg in self.subs:
            closed, open_sum, open_done = seg.result()
            allsums = np.append(closed, open_sum) if open_done else closed
            head = allsums[:complete]
            if head.size < complete:
                head = np.pad(head, (0, complete - head.size))
            tail = float(allsums[complete:].sum()) + (0.0 if open_done else open_sum)
            per.append(np.append(head, tail))
        blocks = _ld._Blocks.from_channel_sums(
            np.stack(per), bounds if complete else bounds[:1], sr, n, self.filter
        )
        m_t, m_v = _ld._series(blocks, _ld.MOMENTARY_S)
        s_t, s_v = _ld._series(blocks, _ld.SHORT_TERM_S)
        integrated = _ld._integrated_from_powers(_ld._gating_powers(blocks))
        lra = _ld._lra_from_short_term(_ld._lufs(_ld._window_powers(blocks, 30, pad_start=False)))
        tp = _ld._dbfs(self.tp) if self.do_tp else np.full(self.channels, math.nan)
        return _ld.LoudnessAnalysis(
            curves, m_t, m_v, s_t, s_v, integrated, lra, tp, _ld._dbfs(self.sp), sr, n, self.filter
        )


def _channel_peaks_in_context(left: np.ndarray, x: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """(true peak, sample peak) over ``x`` with its real neighbours as context: every interpolated value near
    ``x`` then uses true samples, and values computed in the context are true values of the signal too."""
    half = TAPS // 2
    seg = np.concatenate([left, x, right])
    # Positions outside the signal (before its start, after its end) are valid where zeros are the truth.
    lo = -half if left.size == 0 else left.size
    hi = left.size + x.size + (half if right.size == 0 else 0)
    return _channel_peaks(seg, lo, hi)


def analyze_file(
    path: str | Path, filter: str = "itu", block_frames: int = BLOCK_FRAMES
) -> _ld.LoudnessAnalysis:
    """``loudness.analyze`` of a file, read and measured block by block (bounded memory)."""
    sr, blocks = open_stream(path, block_frames)
    analysis = StreamingAnalysis(sr, 2, filter)
    for b in blocks:
        analysis.push(b)
    return analysis.finish()
