"""The whole path through the window: open, predict, draw + undo/redo, prompt, generate, cancel, audition
through a real PortAudio device (PulseAudio null sink, captured from its monitor), export."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from triergon_studio.ui.curve_editor import Tool

MODEL = "tiny-random"


def wait_job_done(qtbot, win, timeout_ms: int = 60000) -> None:
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=timeout_ms)


class MonitorCapture:
    """``parec`` on the null sink's monitor; every chunk is stamped with the monotonic time it arrived."""

    def __init__(self, sink: str, sr: int = 48000, chunk: int = 240) -> None:
        self.sr, self.chunk = sr, chunk
        self.proc = subprocess.Popen(
            [
                "parec",
                "-d",
                f"{sink}.monitor",
                "--format=float32le",
                f"--rate={sr}",
                "--channels=2",
                "--raw",
                "--latency-msec=5",
            ],
            stdout=subprocess.PIPE,
        )
        self.chunks: list[np.ndarray] = []
        self.stamps: list[tuple[float, int]] = []  # (arrival time, frames received after this chunk)
        self._n = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        nbytes = self.chunk * 8
        while True:
            data = self.proc.stdout.read(nbytes)
            if not data:
                return
            a = np.frombuffer(data[: len(data) // 8 * 8], dtype=np.float32).reshape(-1, 2)
            self._n += a.shape[0]
            self.chunks.append(a)
            self.stamps.append((time.monotonic(), self._n))

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self._thread.join(timeout=5)
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, 2), np.float32)

    def frame_at(self, t: float) -> float:
        """Capture frame index that was arriving at monotonic time ``t``."""
        times = np.array([s[0] for s in self.stamps])
        counts = np.array([s[1] for s in self.stamps], dtype=np.float64)
        return float(np.interp(t, times, counts))


def best_lag(captured: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Lag L (capture j ~ reference j + L) and the normalised correlation peak, via FFT."""
    x = captured.mean(axis=1)
    y = reference.mean(axis=1)
    n = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    c = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n)), n)
    k = int(np.argmax(np.abs(c)))
    lag = k if k < n // 2 else k - n
    seg_y = y[max(0, lag) : max(0, lag) + len(x)]
    seg_x = x[max(0, -lag) : max(0, -lag) + len(seg_y)]
    peak = float(np.dot(seg_x, seg_y) / (np.linalg.norm(seg_x) * np.linalg.norm(seg_y) + 1e-12))
    return lag, peak


@pytest.fixture()
def audio_window(qtbot, project, qsettings, pulse_sink):
    from triergon_studio.ui.main_window import MainWindow

    os.environ.setdefault("PULSE_SINK", pulse_sink)
    win = MainWindow(project=project, settings=qsettings, open_audio=True)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.project.undo.set_clean()
    win.close()
    win.deleteLater()
    qtbot.wait(10)


@pytest.mark.audio_device
def test_scenario_predict_draw_generate_cancel_audition_export(audio_window, qtbot, view_mouse) -> None:
    win = audio_window
    project = win.project
    assert win.playback.player is not None, win.banner.text
    p = win.prompt_panel
    p.model.setCurrentText(MODEL)
    p.steps.setValue(4)
    p.seed_locked.setChecked(True)
    p.seed.setValue(7)

    # 1-2. predict the curves from the picture (T_LUFS on the worker thread)
    win.generation.predict_curves()
    wait_job_done(qtbot, win)
    assert project.curves is not None and project.curves.source.value == "predicted", win.last_error
    assert project.curves.n_frames == int(np.ceil(project.duration_s * 6 - 1e-9))

    # 3. a pencil stroke with real mouse events; undo and redo
    ed = win.curve_editor
    ed.set_tool(Tool.PENCIL)
    ed.viewbox.setXRange(0, project.duration_s, padding=0)
    ed.viewbox.setYRange(-70, 0, padding=0)
    before = project.curves.left.copy()
    undo_depth = len(project.undo)
    m = view_mouse(ed.view, ed.viewbox)
    m.drag([(x, -18.0) for x in np.linspace(0.5, 2.5, 20)])
    assert len(project.undo) == undo_depth + 1
    drawn = project.curves.left.copy()
    assert np.allclose(drawn[4:14], -18.0, atol=0.6)
    project.undo.undo()
    assert np.array_equal(project.curves.left, before)
    project.undo.redo()
    assert np.array_equal(project.curves.left, drawn)

    # 4. a prompt
    qtbot.keyClicks(win.prompt_text, "glass bottle clinks on a wooden table")
    win.prompt_panel.flush()
    assert project.prompts.text.startswith("glass bottle")

    # 5. generate with the tiny random model
    win.generate_button.click()
    wait_job_done(qtbot, win)
    assert len(project.takes) == 1, win.last_error
    take = project.takes[0]
    from triergon_studio.audio.io import read_audio
    from triergon_studio.core.timecode import picture_samples

    audio, sr = read_audio(project.take_path(take))
    assert audio.shape[0] == picture_samples(project.frame_count, project.fps, sr)  # picture-exact
    assert take.settings.seed == 7 and take.prompts.text.startswith("glass bottle")
    assert win.takes_list.topLevelItemCount() == 1

    # 6. cancel a second, long generation part-way
    p.steps.setValue(400)
    steps_seen: list[int] = []
    win.jobs.job_yielded.connect(lambda job, prog: steps_seen.append(prog.step))
    gaps: list[float] = []
    last = [time.monotonic()]

    def beat() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    from PySide6.QtCore import QTimer

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    win.generate_button.click()
    qtbot.waitUntil(lambda: any(s >= 12 for s in steps_seen), timeout=60000)
    heartbeat.stop()
    stall_ms = 1000 * (max(gaps) - 0.010)
    print(f"longest UI-thread stall while generating: {stall_ms:.0f} ms over {len(gaps)} ticks")
    assert stall_ms < 250  # the figure is 50 ms; the margin is for a shared 2-core test machine
    t0 = time.monotonic()
    win.cancel_button.click()
    wait_job_done(qtbot, win, 30000)
    assert time.monotonic() - t0 < 5.0 and max(steps_seen) < 400
    assert len(project.takes) == 1 and "Cancelled" in win.status_job.text()

    # 7. audition the take through PortAudio into the null sink; capture the monitor
    win.takes_panel.select(take.id)
    qtbot.waitUntil(lambda: win.playback.buffer.shape[0] > 0 and np.any(win.playback.buffer), timeout=10000)
    buffer = win.playback.buffer.copy()
    shown: list[tuple[float, float]] = []
    win.transport.tick.connect(lambda t: shown.append((time.monotonic(), t)))
    cap = MonitorCapture("triergon_null")
    qtbot.wait(300)
    win.transport.home()
    win.transport.play()
    qtbot.waitUntil(lambda: not win.transport.playing, timeout=15000)
    qtbot.wait(300)
    captured = cap.stop()
    assert captured.shape[0] > sr // 2 and np.abs(captured).max() > 1e-3
    lag, peak = best_lag(captured, buffer)
    assert peak > 0.9  # what was played is the take
    # The live meter was fed from the UI timer while it played.
    assert win.meter.integrated is not None and -40 < win.meter.integrated < 0
    assert win.meter.true_peak is not None
    # A/V offset: picture position at each tick minus the buffer position audible at that moment.
    offsets = [
        pos - (cap.frame_at(t) + lag) / 48000 for t, pos in shown if 0.3 < pos < project.duration_s - 0.3
    ]
    offset_ms = 1000 * float(np.median(offsets))
    print(f"A/V offset through the device: {offset_ms:+.1f} ms (n={len(offsets)}, correlation {peak:.3f})")
    assert abs(offset_ms) < 40.0  # the target is 10 ms; the margin covers the capture path

    # 8. export, and check the files
    win.takes_panel.place_button.click()
    assert project.lanes[0].items
    from triergon_studio.ui.export_dialog import ExportDialog

    dialog = ExportDialog(project, win)
    dialog.reaper.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: bool(dialog.result_files) or bool(dialog.error), timeout=60000)
    assert not dialog.error, dialog.error
    names = {f.name for f in dialog.result_files}
    assert any(n.endswith("_MIX.wav") for n in names) and any(n.endswith(".rpp") for n in names)
    mix = next(f for f in dialog.result_files if f.name.endswith("_MIX.wav"))
    mix_audio, mix_sr = read_audio(mix)
    assert mix_sr == 48000 and mix_audio.shape[0] == picture_samples(project.frame_count, project.fps, 48000)
    # Exporting again asks before replacing (answered "no" here): nothing is rewritten.
    mtime = mix.stat().st_mtime_ns
    dialog.result_files = []
    dialog.confirm_overwrite = lambda message: False  # the user says no in the question box
    dialog.start()
    qtbot.waitUntil(lambda: bool(dialog.error), timeout=30000)
    assert "would overwrite" in dialog.error and mix.stat().st_mtime_ns == mtime
    dialog.close()
    assert shutil.which("parec")  # the capture above really ran through PulseAudio
    assert Path(project.take_path(take)).is_file()


def test_generation_errors_are_messages(window, qtbot) -> None:
    window.prompt_panel.model.setCurrentText("no-such-model")
    window.generation.generate()
    wait_job_done(qtbot, window)
    assert window.project.takes == ()
    text = window.banner.text
    assert "no-such-model" in text and "Traceback" not in text and "\n" not in text
    assert window.status_job.text().startswith("Failed")


def test_regenerate_region_of_selected_take(window, qtbot) -> None:
    from triergon_studio.audio.io import read_audio

    p = window.prompt_panel
    p.model.setCurrentText(MODEL)
    p.steps.setValue(3)
    window.generation.generate()
    wait_job_done(qtbot, window)
    assert len(window.project.takes) == 1, window.last_error
    source = window.project.takes[0]
    window.takes_panel.select(source.id)
    window.curve_editor.set_region(1.0, 2.0)
    window.generation.regenerate_region()
    wait_job_done(qtbot, window)
    assert len(window.project.takes) == 2, window.last_error
    new = window.project.takes[1]
    a, sr = read_audio(window.project.take_path(source))
    b, _ = read_audio(window.project.take_path(new))
    assert a.shape == b.shape
    i, j = int(0.9 * sr), int(2.1 * sr)
    assert np.array_equal(a[:i], b[:i]) and np.array_equal(a[j:], b[j:])  # outside the region: untouched
    assert not np.allclose(a[int(1.2 * sr) : int(1.8 * sr)], b[int(1.2 * sr) : int(1.8 * sr)])
    assert new.name.startswith(source.name.replace(" ", "_"))


@pytest.mark.audio_device
def test_ab_switch_while_playing(audio_window, qtbot) -> None:
    from .conftest import add_take

    win = audio_window
    a = add_take(win.project, "A", freq=220.0)
    b = add_take(win.project, "B", freq=880.0)
    win.takes_panel.select(a)
    qtbot.waitUntil(lambda: np.any(win.playback.buffer), timeout=10000)
    buf_a = win.playback.buffer.copy()
    win.transport.play()
    qtbot.wait(400)
    assert win.playback.player.is_playing
    win.takes_panel.select(b)  # A/B: swap what plays without stopping
    qtbot.waitUntil(lambda: not np.array_equal(win.playback.buffer, buf_a), timeout=10000)
    assert win.transport.playing and win.playback.player.is_playing
    assert win.playback.player._buf is win.playback.buffer  # the device now reads take B's samples
    # The faint measured curve follows the selected take.
    qtbot.waitUntil(lambda: win.curve_editor.ref_lines[0][0].isVisible(), timeout=10000)
    win.transport.stop()
