"""Transport: the play position, play/stop, J/K/L shuttle, frame steps and loop.

At normal speed the audio clock is the master: a QTimer reads ``Player.position_s`` (DESIGN seam 5) and the
picture follows. Without an audio device, or while shuttling at another speed, a monotonic wall clock
stands in.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

SHUTTLE_RATES = (1.0, 2.0, 4.0, 8.0)
TICK_MS = 8  # well under one frame at 60 fps, so the picture never lags by more than a tick


class Transport(QObject):
    position_changed = Signal(float)
    playing_changed = Signal(int)  # 1 playing, 0 stopped (int: PySide6 6.12 mis-counts emitted bools)
    tick = Signal(float)  # every timer tick while playing (meters read audio up to here)

    def __init__(
        self, fps: Fraction | float = Fraction(25), duration_s: float = 0.0, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.fps = Fraction(fps).limit_denominator(100000) if not isinstance(fps, Fraction) else fps
        self.duration_s = float(duration_s)
        self.player: Any | None = None  # audio.playback.Player when a device exists
        self._position = 0.0
        self._playing = False
        self._rate = 1.0
        self._loop: tuple[float, float] | None = None
        self._looping = False
        self._wall_t0 = 0.0
        self._wall_pos0 = 0.0
        self._audio_last_pos = -1.0
        self._audio_last_t = 0.0
        self._audio_block = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_tick)

    # ---- state ----------------------------------------------------------------------------------------
    @property
    def position_s(self) -> float:
        return self._position

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def frame_duration(self) -> float:
        return float(1 / self.fps) if self.fps else 1 / 25

    @property
    def frame_index(self) -> int:
        return self.frame_at(self._position)

    def frame_at(self, t: float) -> int:
        # A small epsilon keeps exact frame starts from rounding down a frame.
        return max(0, int(t * float(self.fps) + 1e-6))

    @property
    def last_frame_time(self) -> float:
        n = int(round(self.duration_s * float(self.fps)))
        return max(0.0, (n - 1) / float(self.fps)) if n else 0.0

    def set_media(self, fps: Fraction | float, duration_s: float) -> None:
        self.stop()
        self.fps = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)
        self.duration_s = float(duration_s)
        self.seek(0.0)

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self._loop = None if start_s is None or end_s is None or end_s <= start_s else (start_s, end_s)

    @property
    def loop(self) -> tuple[float, float] | None:
        return self._loop

    def set_looping(self, on: bool) -> None:
        self._looping = bool(on)

    @property
    def looping(self) -> bool:
        return self._looping

    # ---- commands -------------------------------------------------------------------------------------
    def play(self, rate: float = 1.0) -> None:
        if self.duration_s <= 0:
            return
        if self._position >= self.last_frame_time and rate > 0:
            self._set_position(0.0)
        self._rate = rate
        self._wall_t0, self._wall_pos0 = time.monotonic(), self._position
        self._audio_last_pos, self._audio_last_t, self._audio_block = -1.0, time.monotonic(), 0.0
        if self._audio_master() and self.player is not None:
            self.player.seek(self._position)
            self.player.play()
        elif self.player is not None:
            self.player.stop()
        self._timer.start()
        if not self._playing:
            self._playing = True
            self.playing_changed.emit(1)

    def stop(self) -> None:
        self._timer.stop()
        if self.player is not None:
            try:
                self.player.stop()
            except Exception:  # noqa: BLE001 - a vanished device must not block the transport
                pass
        self._rate = 1.0
        if self._playing:
            self._playing = False
            self.playing_changed.emit(0)

    def toggle(self) -> None:
        if self._playing:
            self.stop()
        else:
            self.play()

    def seek(self, t: float) -> None:
        t = min(max(0.0, float(t)), max(self.duration_s, 0.0))
        self._set_position(t)
        self._wall_t0, self._wall_pos0 = time.monotonic(), t
        if self.player is not None:
            try:
                self.player.seek(t)
            except Exception:  # noqa: BLE001
                pass

    def step(self, frames: int) -> None:
        self.stop()
        target = (self.frame_index + frames) / float(self.fps)
        self.seek(min(max(0.0, target), self.last_frame_time))

    def home(self) -> None:
        self.seek(0.0)

    def end(self) -> None:
        self.stop()
        self.seek(self.last_frame_time)

    def shuttle_forward(self) -> None:
        """L: play, and each further press doubles the speed."""
        if self._playing and self._rate > 0:
            faster = [r for r in SHUTTLE_RATES if r > self._rate]
            self.play(faster[0] if faster else self._rate)
        else:
            self.play(1.0)

    def shuttle_back(self) -> None:
        """J: play backwards (picture only), each further press doubles the speed."""
        if self._playing and self._rate < 0:
            faster = [r for r in SHUTTLE_RATES if r > -self._rate]
            self.play(-(faster[0] if faster else -self._rate))
        else:
            self.play(-1.0)

    def pause(self) -> None:
        """K."""
        self.stop()

    # ---- clock ----------------------------------------------------------------------------------------
    def _audio_master(self) -> bool:
        return self.player is not None and self._rate == 1.0

    def _clock(self) -> float:
        if self._audio_master():
            return self._audio_clock()
        return self._wall_pos0 + (time.monotonic() - self._wall_t0) * self._rate

    def _audio_clock(self) -> float:
        """What is being heard now: the device position, less the output latency, smoothed between the
        callback's block-sized steps with the monotonic clock."""
        now = time.monotonic()
        assert self.player is not None  # only called while the audio clock is the master
        pos = float(self.player.position_s)
        if not getattr(self.player, "is_playing", True) and now - self._wall_t0 > 0.5:
            return pos  # the device has played the buffer to its end (or was stopped under us)
        if pos != self._audio_last_pos:
            step = pos - self._audio_last_pos
            if self._audio_last_pos >= 0 and 0 < step < 0.5:
                self._audio_block = step  # the callback hands over one block at a time
            self._audio_last_pos, self._audio_last_t = pos, now
            since = 0.0
        else:
            # Between callbacks the device plays on; never run ahead by more than a block if it stalls.
            since = min(now - self._audio_last_t, self._audio_block)
        # ``position_s`` is the end of the block just handed over: its first sample is heard after the
        # output latency, so the sound at the speaker now is one block and one latency behind.
        latency = float(getattr(self.player, "latency_s", 0.0) or 0.0)
        pos -= self._audio_block
        # Until the first samples reach the speaker the picture holds at the start point.
        return max(self._wall_pos0, pos + since - latency)

    def _on_tick(self) -> None:
        t = self._clock()
        if self._looping and self._loop is not None and self._rate > 0 and t >= self._loop[1]:
            self.seek(self._loop[0])
            t = self._loop[0]
        elif t >= self.duration_s and self._rate > 0:
            self._set_position(self.last_frame_time)
            self.stop()
            return
        elif t <= 0 and self._rate < 0:
            self._set_position(0.0)
            self.stop()
            return
        self._set_position(t)
        self.tick.emit(t)

    def _set_position(self, t: float) -> None:
        self._position = t
        self.position_changed.emit(t)
