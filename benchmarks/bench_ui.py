"""UI speed figures, each printed with the reference it is measured against in the same run.

    python benchmarks/bench_ui.py [--skip-audio]

1. launch to a usable window (process start -> window shown and painted) vs a bare PySide6 QMainWindow;
2. one mouse-move event of a pencil drag on a 60 s curve (handler, and handler + repaint) vs the 8 ms budget
   and vs a mouse move over a plain pyqtgraph plot;
3. scrub: frames shown per second at 1280x720 while the playhead is dragged frame by frame, vs decoding the
   same frames in a loop with no UI;
4. A/V offset of the preview through a real device (PulseAudio null sink, captured from its monitor).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ui"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LAUNCH_APP = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from triergon_studio.ui.app import make_app
app = make_app()
from triergon_studio.ui.main_window import MainWindow
w = MainWindow(open_audio=False)
w.show(); app.processEvents(); w.grab()
print('torch' in sys.modules, time.perf_counter() - t0)
"""
LAUNCH_BARE = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1480, 940)
w.show(); app.processEvents(); w.grab()
print(False, time.perf_counter() - t0)
"""


def launch_once(code: str) -> tuple[float, bool]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    total = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-1000:])
    torch_loaded = out.stdout.strip().split()[0] == "True"
    return total, torch_loaded


def bench_launch(repeats: int = 3) -> None:
    app = [launch_once(LAUNCH_APP) for _ in range(repeats)]
    bare = [launch_once(LAUNCH_BARE) for _ in range(repeats)]
    a, b = min(t for t, _ in app), min(t for t, _ in bare)
    print(
        f"launch to usable window: {a:.2f} s (bare PySide6 QMainWindow process {b:.2f} s, ratio {a / b:.2f}x; "
        f"target <= 2 s; torch imported at launch: {any(x for _, x in app)})"
    )


def bench_mouse_move() -> None:
    import pyqtgraph as pg
    from conftest import ViewMouse
    from PySide6.QtWidgets import QApplication

    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.project import Project
    from triergon_studio.ui.curve_editor import CurveEditor

    pg.setConfigOption("mouseRateLimit", -1)  # measure every event (the app keeps pyqtgraph's 100/s limit)
    app = QApplication.instance() or QApplication([])
    project = Project()
    project.duration_s = 60.0
    project.set_curves(LoudnessCurve.constant(-30.0, 60.0), "seed")
    editor = CurveEditor(project)
    editor.resize(1600, 420)
    editor.show()
    app.processEvents()
    editor.viewbox.setXRange(0, 60, padding=0)
    editor.viewbox.setYRange(-70, 0, padding=0)
    app.processEvents()
    mouse = ViewMouse(editor.view, editor.viewbox)
    xs = np.linspace(1.0, 59.0, 400)
    handler, painted = [], []
    mouse.press(xs[0], -20.0)
    for k, x in enumerate(xs[1:]):
        y = -20.0 + 10.0 * np.sin(k / 10)
        t0 = time.perf_counter()
        mouse.move(x, y)
        t1 = time.perf_counter()
        editor.view.viewport().repaint()
        t2 = time.perf_counter()
        handler.append(t1 - t0)
        painted.append(t2 - t0)
    mouse.release(xs[-1], -20.0)
    assert len(project.undo) == 2, "the drag must end as one command"
    # Reference: the same mouse moves over a plain pyqtgraph plot (pan drag, no editor code).
    plain = pg.PlotWidget()
    plain.resize(1600, 420)
    plain.plot(np.arange(360) / 6.0, np.full(360, -30.0))
    plain.show()
    app.processEvents()
    ref_mouse = ViewMouse(plain, plain.getViewBox())
    ref = []
    ref_mouse.press(1.0, -30.0)
    for x in xs[1:60]:
        t0 = time.perf_counter()
        ref_mouse.move(x, -30.0)
        plain.viewport().repaint()
        ref.append(time.perf_counter() - t0)
    ref_mouse.release(xs[59], -30.0)
    h, p, r = (1000 * float(np.median(v)) for v in (handler, painted, ref))
    p95 = 1000 * float(np.percentile(painted, 95))
    print(
        f"mouse move on a 60 s curve: handler {h:.3f} ms, handler + repaint {p:.2f} ms (p95 {p95:.2f} ms); "
        f"{p / 8.0:.2f}x the 8 ms budget; plain pyqtgraph pan move + repaint {r:.2f} ms (ratio {p / r:.2f}x)"
    )


def make_720p(path: Path, seconds: float = 6.0, fps: int = 25) -> Path:
    from conftest import make_video

    return make_video(path, seconds=seconds, fps=fps, size=(1280, 720))


def bench_scrub(video: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from triergon_studio.ui.video_view import FrameProvider, VideoView
    from triergon_studio.video.reader import VideoReader

    app = QApplication.instance() or QApplication([])
    with VideoReader(video) as reader:
        n = reader.info.frame_count
        t0 = time.perf_counter()
        for i in range(n):
            reader.frame_at_index(i)
        decode_fps = n / (time.perf_counter() - t0)
    view = VideoView()
    view.resize(1280, 720)
    view.show()
    provider = FrameProvider(video, prefetch=6)
    view.set_provider(provider)
    app.processEvents()
    shown = 0
    t0 = time.perf_counter()
    for i in range(n):  # a drag that moves the playhead one frame per step, as fast as frames appear
        view.show_frame(i)
        deadline = time.perf_counter() + 2.0
        while view.current_index != i and time.perf_counter() < deadline:
            app.processEvents()
        view.repaint()
        shown += view.current_index == i
    scrub_fps = shown / (time.perf_counter() - t0)
    provider.close()
    print(
        f"scrub at 1280x720: {scrub_fps:.1f} frames shown/s ({shown}/{n} frames; target >= 60); "
        f"bare sequential decode {decode_fps:.1f} frames/s (ratio {scrub_fps / decode_fps:.2f}x)"
    )


def bench_av_offset(video: Path) -> None:
    import shutil

    if (
        shutil.which("parec") is None
        or subprocess.run(["pactl", "info"], capture_output=True).returncode != 0
    ):
        print("A/V offset: not measured (no PulseAudio; run inside scripts/test_services.sh services)")
        return
    from PySide6.QtWidgets import QApplication
    from test_scenario import MonitorCapture, best_lag

    from triergon_studio.audio.io import write_wav
    from triergon_studio.core.model import Take, new_id
    from triergon_studio.ui.main_window import MainWindow
    from triergon_studio.video.project_video import new_project

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp())
    project = new_project(video, folder / "bench.json")
    project.save(overwrite=True)
    rng = np.random.default_rng(0)
    noise = (0.2 * rng.standard_normal((int(project.duration_s * 48000), 2))).astype(np.float32)
    path = project.new_take_path("noise")
    write_wav(path, noise, 48000, bits="32f")
    take = Take(
        id=new_id(),
        name="noise",
        path=path.relative_to(project.folder).as_posix(),
        duration_s=project.duration_s,
        sample_rate=48000,
    )
    project.add_take(take)
    win = MainWindow(project=project, open_audio=True)
    win.show()
    win.takes_panel.select(take.id)
    deadline = time.time() + 10
    while not np.any(win.playback.buffer) and time.time() < deadline:
        app.processEvents()
    buffer = win.playback.buffer.copy()
    shown: list[tuple[float, float]] = []
    win.transport.tick.connect(lambda t: shown.append((time.monotonic(), t)))
    cap = MonitorCapture("triergon_null")
    time.sleep(0.3)
    win.transport.home()
    win.transport.play()
    while win.transport.playing:
        app.processEvents()
        time.sleep(0.001)
    time.sleep(0.3)
    captured = cap.stop()
    lag, peak = best_lag(captured, buffer)
    offsets = [
        pos - (cap.frame_at(t) + lag) / 48000 for t, pos in shown if 0.3 < pos < project.duration_s - 0.3
    ]
    latency = win.playback.player.latency_s if win.playback.player else 0.0
    print(
        f"A/V offset through the device: {1000 * float(np.median(offsets)):+.1f} ms median, "
        f"{1000 * float(np.percentile(np.abs(offsets), 95)):.1f} ms p95 |offset| (target <= 10 ms; "
        f"device latency {1000 * latency:.0f} ms compensated; correlation {peak:.3f}; n={len(offsets)})"
    )
    project.undo.set_clean()
    win.close()


def _onset_time(cap: object, after: float, threshold: float = 1e-3, quiet_s: float = 0.2) -> float | None:
    """Monotonic time at which the first non-silent sample captured after ``after`` arrived; None when the
    capture was not silent for ``quiet_s`` before ``after`` (an earlier sound still draining would fake an
    instant onset)."""
    times = np.array([st[0] for st in cap.stamps])  # type: ignore[attr-defined]
    counts = np.array([st[1] for st in cap.stamps], dtype=np.float64)  # type: ignore[attr-defined]
    data = np.concatenate(cap.chunks)  # type: ignore[attr-defined]
    first = int(np.searchsorted(times, after))
    start = int(counts[first - 1]) if first > 0 else 0
    before = data[max(0, start - int(quiet_s * 48000)) : start]
    if before.size == 0 or np.abs(before).max() > threshold:
        return None
    loud = np.flatnonzero(np.abs(data[start:]).max(axis=1) > threshold)
    if loud.size == 0:
        return None
    return float(np.interp(start + loud[0] + 1, counts, times))


def bench_play_latency(video: Path, trials: int = 12) -> None:
    """Space to first sound (through the null sink's monitor) and to the first new frame on screen, against
    the same player started the old way (stream opened and started on the key press) in the same run."""
    import shutil

    if (
        shutil.which("parec") is None
        or subprocess.run(["pactl", "info"], capture_output=True).returncode != 0
    ):
        print("play latency: not measured (no PulseAudio; run inside scripts/test_services.sh services)")
        return
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from test_scenario import MonitorCapture

    from triergon_studio.audio.io import write_wav
    from triergon_studio.audio.playback import Player
    from triergon_studio.core.model import Take, new_id
    from triergon_studio.ui.main_window import MainWindow
    from triergon_studio.video.project_video import new_project

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp())
    project = new_project(video, folder / "latency.json")
    project.save(overwrite=True)
    rng = np.random.default_rng(1)
    noise = (0.2 * rng.standard_normal((int(project.duration_s * 48000), 2))).astype(np.float32)
    path = project.new_take_path("noise")
    write_wav(path, noise, 48000, bits="32f")
    take = Take(
        id=new_id(),
        name="noise",
        path=path.relative_to(project.folder).as_posix(),
        duration_s=project.duration_s,
        sample_rate=48000,
    )
    project.add_take(take)
    win = MainWindow(project=project, open_audio=True)
    win.guide.hide()
    win.show()
    win.takes_panel.select(take.id)
    deadline = time.time() + 10
    while not np.any(win.playback.buffer) and time.time() < deadline:
        app.processEvents()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)

    cap = MonitorCapture("triergon_null")
    pump(0.5)
    sound, picture = [], []
    for k in range(trials):
        win.transport.seek(0.5 + 0.2 * k)
        win.curve_editor.setFocus()
        pump(0.4)  # silence before the key, so the onset is clear
        frame0 = win.video_view.current_index
        t_key = time.monotonic()
        QTest.keyClick(win.curve_editor, Qt.Key.Key_Space)
        t_pic = None
        while time.monotonic() - t_key < 2.0:
            app.processEvents()
            if t_pic is None and win.video_view.current_index not in (None, frame0):
                t_pic = time.monotonic()
                break
            time.sleep(0.0005)
        pump(0.35)
        QTest.keyClick(win.curve_editor, Qt.Key.Key_Space)
        pump(0.2)
        t_snd = _onset_time(cap, t_key)
        if t_snd is not None:
            sound.append(t_snd - t_key)
        if t_pic is not None:
            picture.append(t_pic - t_key)
    # Reference: the same buffer on a player that opens and starts its stream on the key press.
    old = []
    for _ in range(max(4, trials // 2)):
        pump(0.4)
        ref = Player(device=win.playback.device, sample_rate=48000)
        ref.load(noise, 48000)
        t0 = time.monotonic()
        ref.play()
        pump(0.3)
        ref.stop()  # let the device drain before closing, so the next trial starts from silence
        ref.close()
        pump(0.6)
        t_snd = _onset_time(cap, t0)
        if t_snd is not None:
            old.append(t_snd - t0)
    cap.stop()

    def fmt(xs: list[float]) -> str:
        if not xs:
            return "no onset found"
        a = 1000 * np.asarray(xs)
        return f"{np.median(a):.1f} ms median, {np.percentile(a, 95):.1f} ms p95 (n={a.size})"

    print(
        f"Space to sound (null sink monitor): {fmt(sound)}; Space to picture: {fmt(picture)}; target <= 100 ms"
    )
    if sound and old:
        print(
            f"  reference, stream opened and started on the key: {fmt(old)} "
            f"(ratio {np.median(sound) / np.median(old):.2f}x)"
        )
    project.undo.set_clean()
    win.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-audio", action="store_true")
    ap.add_argument("--latency-only", action="store_true", help="only the Space-to-sound/picture figures")
    args = ap.parse_args()
    if args.latency_only:
        with tempfile.TemporaryDirectory() as tmp:
            bench_play_latency(make_720p(Path(tmp) / "hd.mp4"))
        return 0
    bench_launch()
    bench_mouse_move()
    with tempfile.TemporaryDirectory() as tmp:
        video = make_720p(Path(tmp) / "hd.mp4")
        bench_scrub(video)
        if not args.skip_audio:
            bench_av_offset(video)
            bench_play_latency(video)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
