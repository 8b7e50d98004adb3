"""Audio playback through PortAudio (sounddevice).

The audio callback only copies frames from a buffer prepared beforehand into the device buffer and advances
an integer position: no array allocation, no locks, no logging, no Qt. Everything else (loading, seeking,
A/B swaps, loops) happens on the caller's thread by replacing plain attributes, which the callback picks up
at its next block. The UI polls ``position_s`` on a timer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triergon_studio.errors import StudioError


class NoAudioDevice(StudioError):  # noqa: N818 - name fixed by docs/CONTRACTS.md
    """No usable audio output device (or PortAudio itself is missing)."""


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio shared library is not installed
        raise NoAudioDevice(f"PortAudio is not available ({exc}); install libportaudio2") from exc
    return sd


def list_output_devices() -> list[dict[str, Any]]:
    """Output devices as ``{"index", "name", "channels", "default_samplerate", "hostapi", "default"}``."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_out = sd.default.device[1]
    except sd.PortAudioError as exc:
        raise NoAudioDevice(f"cannot list audio devices ({exc})") from exc
    apis = sd.query_hostapis()
    out = []
    for dev in devices:
        if dev["max_output_channels"] > 0:
            out.append(
                {
                    "index": int(dev["index"]),
                    "name": str(dev["name"]),
                    "channels": int(dev["max_output_channels"]),
                    "default_samplerate": float(dev["default_samplerate"]),
                    "hostapi": str(apis[dev["hostapi"]]["name"]),
                    "default": int(dev["index"]) == default_out,
                }
            )
    return out


class Player:
    """Plays a ``[frames, channels]`` float32 buffer; see the module docstring for the threading rules.

    ``keep_open=True`` (the app's mode) keeps the stream running from ``prime()`` until ``close()``, playing
    silence while stopped: ``play()`` then only sets a flag that the callback reads at its next block, so
    sound starts within one block plus the device latency instead of after a stream start.
    """

    def __init__(
        self,
        device: int | str | None = None,
        latency: str | float = 0.1,
        sample_rate: int = 48000,
        keep_open: bool = False,
    ) -> None:
        self._device = device
        self._latency = latency
        self._keep_open = keep_open
        self._running = False  # keep_open mode: the callback plays (True) or writes silence (False)
        self._stream: Any = None
        self._buf = np.zeros((1, 2), dtype=np.float32)
        self._sr = int(sample_rate)
        self._pos = 0
        self._loop: tuple[int, int] = (0, 0)  # (start, end); end 0 means no loop
        self._seek_req: tuple[int, int] = (0, 0)  # (serial, frame) read by the callback
        self._seek_seen = 0
        self._stop_signal: BaseException = StopIteration()  # replaced by sd.CallbackStop on open

    # ------------------------------------------------------------------------------------------ setup
    def load(self, buffer: np.ndarray, sr: int) -> None:
        """Prepare ``buffer`` for playback from the start (stops playback; reopens if the rate changes)."""
        buf = np.asarray(buffer, dtype=np.float32)
        if buf.ndim == 1:
            buf = buf[:, None]
        if buf.ndim != 2 or buf.shape[0] == 0:
            raise ValueError(f"buffer must be non-empty [frames, channels], got shape {np.shape(buffer)}")
        if buf.shape[1] == 1:
            buf = np.repeat(buf, 2, axis=1)
        self.stop()
        if self._stream is not None and (int(sr) != self._sr or buf.shape[1] != self._buf.shape[1]):
            self.close()
        self._buf = np.ascontiguousarray(buf)
        self._sr = int(sr)
        self._pos = 0
        self._loop = (0, 0)

    def _open(self) -> None:
        if self._stream is not None:
            return
        sd = _sounddevice()
        self._stop_signal = sd.CallbackStop()
        name = "the default device" if self._device is None else f"device {self._device!r}"
        try:
            if not any(d["max_output_channels"] > 0 for d in sd.query_devices()):
                raise NoAudioDevice(f"no audio output device found (wanted {name})")
            self._stream = sd.OutputStream(
                samplerate=self._sr,
                channels=self._buf.shape[1],
                dtype="float32",
                device=self._device,
                latency=self._latency,
                callback=self._callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise NoAudioDevice(f"cannot open {name} for output ({' '.join(str(exc).split())})") from exc

    def prime(self) -> None:
        """keep_open mode: open and start the stream now, playing silence, so ``play`` starts at once."""
        self._open()
        if not self._stream.active:
            if self._stream.stopped is False:
                self._stream.stop()
            self._stream.start()

    def close(self) -> None:
        """Release the device (``play`` reopens it)."""
        self._running = False
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()

    # ------------------------------------------------------------------------------------------ transport
    def play(self) -> None:
        self._open()
        if self._pos >= self._loop_end():
            self._pos = self._loop[0] if self._loop[1] else 0
        if self._keep_open:
            self._running = True  # the running stream's next block plays
            self.prime()
            return
        if not self._stream.active:
            if self._stream.stopped is False:  # finished by CallbackStop: must be stopped before restart
                self._stream.stop()
            self._stream.start()

    def stop(self) -> None:
        """Pause: the position stays where playback stopped."""
        if self._keep_open:
            self._running = False  # the stream runs on, silent
            self._apply_pending_seek()
            return
        if self._stream is not None and not self._stream.stopped:
            self._stream.stop()
        self._apply_pending_seek()

    @property
    def is_playing(self) -> bool:
        if self._keep_open:
            return self._running and self._stream is not None
        return self._stream is not None and bool(self._stream.active)

    def seek(self, seconds: float) -> None:
        frame = int(min(max(round(seconds * self._sr), 0), self._buf.shape[0]))
        # One tuple assignment is atomic for the callback, which applies it at its next block.
        self._seek_req = (self._seek_req[0] + 1, frame)
        if not self.is_playing:
            self._apply_pending_seek()

    def _apply_pending_seek(self) -> None:
        serial, frame = self._seek_req
        if serial != self._seek_seen:
            self._seek_seen = serial
            self._pos = frame

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Loop ``[start_s, end_s)`` while playing; ``clear_loop`` ends it."""
        start = int(min(max(round(start_s * self._sr), 0), self._buf.shape[0]))
        end = int(min(max(round(end_s * self._sr), 0), self._buf.shape[0]))
        if end <= start:
            raise ValueError(f"loop end ({end_s} s) must be after its start ({start_s} s)")
        self._loop = (start, end)

    def clear_loop(self) -> None:
        self._loop = (0, 0)

    def swap_buffer(self, buffer: np.ndarray) -> None:
        """Replace what is playing by a buffer of the same shape without stopping (A/B comparison)."""
        buf = np.asarray(buffer, dtype=np.float32)
        if buf.ndim == 1:
            buf = buf[:, None]
        if buf.shape[1] == 1 and self._buf.shape[1] == 2:
            buf = np.repeat(buf, 2, axis=1)
        if buf.shape != self._buf.shape:
            raise ValueError(f"swap_buffer needs shape {self._buf.shape}, got {buf.shape}")
        self._buf = np.ascontiguousarray(buf)  # the callback reads the new reference at its next block

    # ------------------------------------------------------------------------------------------ state
    @property
    def sample_rate(self) -> int:
        return self._sr

    @property
    def duration_s(self) -> float:
        return self._buf.shape[0] / self._sr

    @property
    def position_s(self) -> float:
        """Position of the next frame handed to the device (seconds)."""
        return self._pos / self._sr

    @property
    def latency_s(self) -> float:
        """Output latency reported by the device (to align the picture with what is heard)."""
        return float(self._stream.latency) if self._stream is not None else 0.0

    def _loop_end(self) -> int:
        return self._loop[1] if self._loop[1] else self._buf.shape[0]

    # ------------------------------------------------------------------------------------------ callback
    def _callback(self, outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        # Real-time thread: copy and count only.
        if self._keep_open and not self._running:
            outdata.fill(0.0)
            return
        buf = self._buf
        pos = self._pos
        serial, frame = self._seek_req
        if serial != self._seek_seen:
            self._seek_seen = serial
            pos = frame
        loop_start, loop_end = self._loop
        end = loop_end if loop_end else buf.shape[0]
        written = 0
        while written < frames:
            if pos >= end:
                if loop_end:
                    pos = loop_start
                    continue
                outdata[written:].fill(0.0)
                self._pos = pos
                if self._keep_open:
                    self._running = False  # end of buffer: silence until the next play
                    return
                raise self._stop_signal  # end of buffer: PortAudio drains and stops the stream
            k = min(frames - written, end - pos)
            outdata[written : written + k] = buf[pos : pos + k]
            written += k
            pos += k
        self._pos = pos
