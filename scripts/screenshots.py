"""Screenshots of the app in a real X window (Xvfb) for the README: ``docs/screenshots/*.png``.

    python scripts/screenshots.py [--out docs/screenshots]

Uses ``$TRIERGON_TEST_DISPLAY`` when set, else starts ``Xvfb :98``. Loads the demo project
(``resources/make_demo.py --ensure``), predicts and generates with the tiny random model so the timeline has a
take on a lane, then grabs the window through the X server (``QScreen.grabWindow``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 400_000


def start_display() -> tuple[str, subprocess.Popen[bytes] | None]:
    # Its own 1920x1080 screen: the shots are taken at 1366x768 (a laptop) and at 1920x1080.
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed (apt-get install xvfb)")
    proc = subprocess.Popen(
        ["Xvfb", ":98", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return ":98", proc


def pump(app: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def wait_jobs(app: object, win: object, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while win.jobs.is_busy() and time.monotonic() < end:  # type: ignore[attr-defined]
        pump(app, 0.05)


def save(pixmap: object, path: Path) -> None:
    """PNG under ~300 KB: scaled down step by step if needed."""
    from PySide6.QtCore import Qt

    pm = pixmap
    while True:
        pm.save(str(path), "PNG")  # type: ignore[attr-defined]
        if path.stat().st_size <= MAX_BYTES or pm.width() < 600:  # type: ignore[attr-defined]
            break
        pm = pm.scaledToWidth(int(pm.width() * 0.85), Qt.TransformationMode.SmoothTransformation)  # type: ignore[attr-defined]
    print(f"{path} {pm.width()}x{pm.height()} {path.stat().st_size // 1024} KB")  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    display, xvfb = start_display()
    os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, str(ROOT / "resources" / "make_demo.py"), "--ensure"],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        from PySide6.QtCore import QSettings
        from PySide6.QtGui import QGuiApplication

        from triergon_studio.ui.app import make_app
        from triergon_studio.ui.main_window import MainWindow

        app = make_app()
        # Work on a copy so the screenshots never change the demo project on disk.
        work = Path(tempfile.mkdtemp(prefix="triergon-shots-"))
        shutil.copy(ROOT / "resources" / "demo" / "demo.mp4", work / "demo.mp4")
        shutil.copy(ROOT / "resources" / "demo" / "demo_project.json", work / "demo_project.json")
        settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("guide/dismissed", "true")
        win = MainWindow(settings=settings, open_audio=True)
        win.resize(1920, 1080)
        win.show()
        win.files.open_project(str(work / "demo_project.json"), ask_recovery=False)
        pump(app, 1.5)
        p = win.prompt_panel
        p.model.setCurrentText("tiny-random")
        p.steps.setValue(8)
        p.seed_locked.setChecked(True)
        p.seed.setValue(42)
        win.prompt_text.setPlainText("footsteps on gravel, a door slams, close perspective")
        p.flush()
        win.generation.generate()
        wait_jobs(app, win)
        if win.project.takes:
            take = win.project.takes[0]
            win.project.place_take(take.id, win.project.lanes[0].name, 0.0)
            end = time.monotonic() + 30
            while take.id not in win.waveforms and time.monotonic() < end:  # measured in the background
                pump(app, 0.1)
            win.takes_panel.select(take.id)
        win.banner.hide()  # the shots show the app, not this machine's sound setup
        win.transport.seek(2.0)
        pump(app, 1.0)
        win.transport.play()  # a moment of playback so the meter shows live figures
        pump(app, 2.5)
        win.transport.stop()
        pump(app, 1.0)
        args.out.mkdir(parents=True, exist_ok=True)
        screen = QGuiApplication.primaryScreen()
        save(screen.grabWindow(win.winId()), args.out / "main_window_1920x1080.png")
        win.resize(1366, 768)
        pump(app, 1.0)
        save(screen.grabWindow(win.winId()), args.out / "main_window.png")  # 1366x768, the README's picture
        win.show_guide()
        pump(app, 0.5)
        save(screen.grabWindow(win.winId()), args.out / "first_run_1366x768.png")
        win.guide.hide()
        tl = win.timeline
        ed = win.curve_editor
        ed.set_tool("points")
        ed.set_region(3.0, 6.0)
        pump(app, 0.5)
        save(
            screen.grabWindow(win.winId()).copy(
                tl.mapTo(win, tl.rect().topLeft()).x(),
                tl.mapTo(win, tl.rect().topLeft()).y(),
                tl.width(),
                tl.height(),
            ),
            args.out / "timeline.png",
        )
        from triergon_studio.ui.export_dialog import ExportDialog

        dialog = ExportDialog(win.project, win)
        dialog.reaper.setChecked(True)
        dialog.show()
        pump(app, 0.8)
        save(screen.grabWindow(dialog.winId()), args.out / "export_dialog.png")
        dialog.close()
        win.project.undo.set_clean()
        win.close()
        pump(app, 0.3)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
