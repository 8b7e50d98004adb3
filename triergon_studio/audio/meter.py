"""Streaming EBU R128 meter: feed blocks of any size, read M, S, I, LRA and true peak at any time.

After pushing samples 0..N-1 its readings equal the offline functions in ``audio.loudness`` for those N
samples: ``momentary``/``short_term`` are the last values of ``momentary_series``/``short_term_series``
(the window ending at the last complete 100 ms boundary), ``integrated`` equals ``integrated_loudness``,
``loudness_range`` equals ``loudness_range`` and ``true_peak`` equals ``true_peak_dbtp`` (the filter tail
after the last sample is included on reading, as the offline function pads with zeros).

Not thread-safe: push and read from the same thread (the UI reads it on a timer, never in the audio
callback).
"""

from __future__ import annotations

import math

import numpy as np

from triergon_studio.audio import loudness as _ld
from triergon_studio.audio import truepeak as _tp


class StreamingMeter:
    def __init__(self, sr: int, channels: int = 2, filter: str = "itu") -> None:
        if sr <= 0:
            raise ValueError(f"sample rate must be positive, got {sr}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.sr = int(sr)
        self.channels = int(channels)
        self.filter = filter
        self._b, self._a = _ld._k_tf(self.sr, filter)
        self._gains = _ld._channel_gains(self.channels)
        self._half = _tp.TAPS // 2
        self._kern = _tp.true_peak_kernel()
        self.reset()

    def reset(self) -> None:
        """Forget everything pushed so far."""
        # Zero initial filter state, exactly as the offline functions start.
        self._zi = np.zeros((self.channels, len(self._a) - 1))
        self._n = 0
        self._pending: list[np.ndarray] = []  # squared K-weighted samples of the open sub-block
        self._pending_len = 0
        self._sub_sums: list[float] = []
        self._sub_lens: list[int] = []
        self._next_bound = self._bound(1)
        self._tp_buf = np.zeros((self.channels, 2 * self._half))
        self._tp = np.zeros(self.channels)
        self._sample_peak = np.zeros(self.channels)

    def _bound(self, k: int) -> int:
        return int(round(k * _ld.SERIES_HOP_S * self.sr))

    # ------------------------------------------------------------------------------------------ feeding
    def push(self, block: np.ndarray) -> None:
        """Add ``[frames, channels]`` (or ``[frames]`` for one channel) samples."""
        from scipy.signal import lfilter

        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected [frames, {self.channels}] samples, got shape {np.shape(block)}")
        if x.shape[0] == 0:
            return
        xt = x.T
        y, self._zi = lfilter(self._b, self._a, xt, axis=1, zi=self._zi)
        self._sample_peak = np.maximum(self._sample_peak, np.abs(xt).max(axis=1))
        self._push_true_peak(xt)
        self._push_energy(y * y)

    def _push_energy(self, sq: np.ndarray) -> None:
        pos = 0
        total = sq.shape[1]
        while pos < total:
            need = self._next_bound - (self._n + pos)
            take = min(need, total - pos)
            self._pending.append(sq[:, pos : pos + take])
            self._pending_len += take
            pos += take
            if take == need:  # a 100 ms sub-block is complete
                joined = np.concatenate(self._pending, axis=1)
                self._sub_sums.append(float(self._gains @ np.add.reduce(joined, axis=1)))
                self._sub_lens.append(self._pending_len)
                self._pending, self._pending_len = [], 0
                self._next_bound = self._bound(len(self._sub_sums) + 1)
        self._n += total

    def _push_true_peak(self, xt: np.ndarray) -> None:
        buf = np.concatenate([self._tp_buf, xt], axis=1)
        for c in range(self.channels):
            self._tp[c] = max(self._tp[c], _tp._phase_peak(buf[c], self._kern))
        self._tp_buf = buf[:, -2 * self._half :].copy()

    # ------------------------------------------------------------------------------------------ readings
    def _blocks(self) -> _ld._Blocks:
        tail = sum(float(self._gains @ np.add.reduce(p, axis=1)) for p in self._pending)
        return _ld._Blocks(
            np.asarray(self._sub_sums),
            np.asarray(self._sub_lens, dtype=np.int64),
            self.sr,
            tail,
            self._n,
            self.filter == "pyloudnorm",
        )

    def _last_window(self, width: int) -> float:
        if not self._sub_sums:
            return -math.inf
        energy = sum(self._sub_sums[-width:])
        return float(_ld._lufs(max(energy, 0.0) / (width * self.sr * _ld.SERIES_HOP_S)))

    @property
    def duration_s(self) -> float:
        return self._n / self.sr

    @property
    def momentary(self) -> float:
        """Loudness of the 400 ms ending at the last complete 100 ms boundary (LUFS)."""
        return self._last_window(int(round(_ld.MOMENTARY_S / _ld.SERIES_HOP_S)))

    @property
    def short_term(self) -> float:
        """Loudness of the 3 s ending at the last complete 100 ms boundary (LUFS)."""
        return self._last_window(int(round(_ld.SHORT_TERM_S / _ld.SERIES_HOP_S)))

    @property
    def integrated(self) -> float:
        return _ld._integrated_from_powers(_ld._gating_powers(self._blocks()))

    @property
    def loudness_range(self) -> float:
        return _ld._lra_from_short_term(_ld._lufs(_ld._window_powers(self._blocks(), 30, pad_start=False)))

    @property
    def true_peak_per_channel(self) -> np.ndarray:
        """dBTP per channel, including the interpolation tail after the last sample."""
        tail = np.concatenate([self._tp_buf, np.zeros((self.channels, 2 * self._half))], axis=1)
        peaks = [max(self._tp[c], _tp._phase_peak(tail[c], self._kern)) for c in range(self.channels)]
        return _ld._dbfs(np.array(peaks))

    @property
    def true_peak(self) -> float:
        """Highest true peak over the channels (dBTP)."""
        return float(self.true_peak_per_channel.max())

    @property
    def sample_peak(self) -> float:
        return float(_ld._dbfs(self._sample_peak.max()))
