"""Playback wiring: the audio device (``audio.playback.Player``), what it plays (the lane mix or the take
being auditioned, plus the picture's own audio as a guide), and the live meter.

The player's callback only copies from the prepared buffer (DESIGN seam 5). Buffers are built off the UI
thread; switching the auditioned take while playing uses ``Player.swap_buffer`` so playback never stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from triergon_studio.ui.background import run_async

PLAYBACK_SR = 48000
OUTPUT_LATENCY_S = (
    0.04  # PortAudio's suggested output latency: low enough for instant play, no underruns here
)


def read_take_audio(path: Path, sr: int) -> np.ndarray:
    from triergon_studio.audio.io import read_audio

    audio, _ = read_audio(path, sample_rate=sr)
    return np.ascontiguousarray(audio, dtype=np.float32)


def monitor_mix(project: Any, sr: int, length: int) -> np.ndarray:
    """The lane mix as delivered (``audio.export``'s lanes, mute and solo), for monitoring."""
    from triergon_studio.audio.export import audible_lanes, render_lanes

    lanes = render_lanes(project, sr, length)
    mix = np.zeros((length, 2), dtype=np.float32)
    for name in audible_lanes(project):
        mix += lanes[name]
    return mix


class PlaybackController(QObject):
    """Owns the Player (or reports that there is no device) and the buffer it plays."""

    device_status = Signal(str)  # one line for the banner / status bar; "" when a device is open
    buffer_ready = Signal()
    error = Signal(str)

    def __init__(self, transport: Any, meter: Any | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.transport = transport
        self.meter = meter
        self.sr = PLAYBACK_SR
        self.player: Any | None = None
        self.device: Any | None = None
        self.status = ""
        self.project: Any | None = None
        self.audition_take: str | None = None
        self.guide_on = False
        self.guide_gain_db = -12.0
        self._takes: dict[str, np.ndarray] = {}
        self._guide: np.ndarray | None = None
        self.buffer = np.zeros((0, 2), dtype=np.float32)
        self._meter_pos = 0
        self._generation = 0
        transport.tick.connect(self._on_tick)
        transport.position_changed.connect(self._on_seek_like)

    # ---- device -------------------------------------------------------------------------------------
    def open_device(self, device: Any | None = None) -> bool:
        """Open the output; on failure the app keeps working without sound (and says so)."""
        self.close_device()
        try:
            from triergon_studio.audio.playback import Player

            # Kept open and primed: Space only flips a flag the callback reads (no stream start, no decode).
            self.player = Player(device=device, sample_rate=self.sr, keep_open=True, latency=OUTPUT_LATENCY_S)
            self.device = device
            if self.buffer.shape[0]:
                self.player.load(self.buffer, self.sr)
            self.player.prime()
            self.status = ""
        except Exception as exc:  # noqa: BLE001 - NoAudioDevice or a PortAudio failure: shown in the banner
            from triergon_studio.ui.worker import describe_error

            self.player = None
            self.status = f"No audio device: {describe_error(exc)}. Playback is silent; export still works."
        self.transport.player = self.player
        self.device_status.emit(self.status)
        return self.player is not None

    def close_device(self) -> None:
        if self.player is not None:
            try:
                self.player.stop()
                close = getattr(self.player, "close", None)
                if close is not None:
                    close()
            except Exception:  # noqa: BLE001
                pass
        self.player = None
        self.transport.player = None

    @staticmethod
    def output_devices() -> list[Any]:
        try:
            from triergon_studio.audio.playback import list_output_devices

            return list(list_output_devices())
        except Exception:  # noqa: BLE001 - no PortAudio at all: no devices to choose
            return []

    # ---- content ------------------------------------------------------------------------------------
    def set_project(self, project: Any) -> None:
        self.project = project
        self._takes.clear()
        self._guide = None
        self.audition_take = None
        self.rebuild()

    def set_audition(self, take_id: str | None) -> None:
        """A/B: the selected take replaces what is playing, without stopping."""
        self.audition_take = take_id
        self.rebuild()

    def set_guide(self, on: bool, gain_db: float) -> None:
        self.guide_on, self.guide_gain_db = bool(on), float(gain_db)
        self.rebuild()

    def forget_take(self, take_id: str) -> None:
        self._takes.pop(take_id, None)

    def length(self) -> int:
        p = self.project
        if p is None or not p.duration_s:
            return 0
        from triergon_studio.core.timecode import picture_samples

        return (
            int(picture_samples(int(p.frame_count), p.fps, self.sr))
            if p.frame_count
            else int(round(p.duration_s * self.sr))
        )

    def rebuild(self) -> None:
        """Rebuild the buffer in the background (reading and resampling take files can take a while)."""
        p = self.project
        if p is None:
            return
        self._generation += 1
        gen = self._generation
        length = self.length()
        audition = self.audition_take
        wanted = {audition} if audition else set()
        paths = {}
        for take in p.takes:
            if take.id in wanted and take.id not in self._takes:
                paths[take.id] = p.take_path(take)
        guide_path = p.video_abspath() if self.guide_on and self._guide is None else None
        sr = self.sr
        cache = dict(self._takes)
        snapshot = _Snapshot(p)  # immutable records only: the worker never reads the live project
        audition_start = take_start(p, audition) if audition else 0.0

        def build() -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray]:
            loaded = {tid: read_take_audio(path, sr) for tid, path in paths.items() if Path(path).is_file()}
            cache.update(loaded)
            guide = None
            if guide_path is not None:
                guide = _read_guide(guide_path, sr)
            if audition:
                buf = np.zeros((length, 2), dtype=np.float32)
                a = cache.get(audition)
                if a is not None:
                    start = int(round(audition_start * sr))
                    n = max(0, min(a.shape[0], length - start))
                    buf[start : start + n] = a[:n]
            else:
                buf = (
                    monitor_mix(snapshot, sr, length)
                    if snapshot.has_items
                    else np.zeros((length, 2), np.float32)
                )
            return loaded, guide, buf

        def done(result: tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray]) -> None:
            loaded, guide, buf = result
            self._takes.update(loaded)
            if guide is not None:
                self._guide = guide
            if gen != self._generation:
                return  # a newer request is on its way
            if self.guide_on and self._guide is not None:
                g = self._guide[: buf.shape[0]] * float(10.0 ** (self.guide_gain_db / 20.0))
                buf = buf.copy()
                buf[: g.shape[0]] += g
            self._install(buf)

        run_async(build, done, self.error.emit, context=self)

    def _install(self, buf: np.ndarray) -> None:
        self.buffer = np.ascontiguousarray(buf, dtype=np.float32)
        if self.player is not None and self.buffer.shape[0]:  # no picture yet: nothing to play
            try:
                if self.transport.playing:
                    self.player.swap_buffer(self.buffer)
                else:
                    self.player.load(self.buffer, self.sr)
                    self.player.seek(self.transport.position_s)
            except Exception as exc:  # noqa: BLE001
                from triergon_studio.ui.worker import describe_error

                self.error.emit(describe_error(exc))
        self.buffer_ready.emit()

    # ---- meter --------------------------------------------------------------------------------------
    def _on_seek_like(self, t: float) -> None:
        if not self.transport.playing:
            self._meter_pos = int(t * self.sr)

    def _on_tick(self, t: float) -> None:
        if self.meter is None or self.transport.rate != 1.0:
            return
        pos = int(t * self.sr)
        if pos < self._meter_pos or pos - self._meter_pos > self.sr:  # a jump (loop, seek): start over
            self.meter.reset(self.sr)
            self._meter_pos = pos
            return
        block = self.buffer[self._meter_pos : pos]
        self._meter_pos = pos
        if block.shape[0]:
            self.meter.push(block)


class _Snapshot:
    """What ``render_lanes`` reads, frozen at the moment of the request."""

    def __init__(self, project: Any) -> None:
        self.lanes = tuple(project.lanes)
        self.takes = {t.id: t for t in project.takes}
        self._paths = {t.id: project.take_path(t) for t in project.takes}
        self.has_items = any(lane.items for lane in self.lanes)

    def take(self, take_id: str) -> Any:
        return self.takes[take_id]

    def take_path(self, take: Any) -> Path:
        return self._paths[take.id]


def take_start(project: Any, take_id: str) -> float:
    """Where an auditioned take sits: its generated span's start, else the picture's start."""
    take = project.take(take_id)
    span = take.settings.span if take.settings is not None else None
    start = take.metadata.get("start_s") if isinstance(take.metadata, dict) else None
    if start is not None:
        return float(start)
    return float(span[0]) if span else 0.0


def _read_guide(path: Path, sr: int) -> np.ndarray | None:
    from triergon_studio.audio.io import read_audio

    try:
        audio, _ = read_audio(path, sample_rate=sr)
    except Exception:  # noqa: BLE001 - a picture without sound simply has no guide
        return None
    return np.ascontiguousarray(audio, dtype=np.float32)
