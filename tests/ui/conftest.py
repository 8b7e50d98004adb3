"""Fixtures for the UI tests: a small real video made with PyAV, a real project on it, and helpers that
send real mouse events to pyqtgraph views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def make_video(
    path: Path,
    seconds: float = 4.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 180),
    tone_hz: float | None = None,
) -> Path:
    """H.264 test picture: a white box moving left to right over a red ramp (optionally with a tone)."""
    import av

    w, h = size
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"g": "12"}
    n = int(round(seconds * fps))
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 0] = (i * 7) % 256
        x = int(i * (w - 20) / max(n - 1, 1))
        img[h // 2 - 10 : h // 2 + 10, x : x + 20] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


# pyqtgraph drops mouse moves that arrive faster than its rate limit; synthetic events come in a burst, so
# the tests turn the limit off and every event reaches the handlers.
pg.setConfigOption("mouseRateLimit", -1)


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "picture.mp4")


@pytest.fixture()
def project(tmp_path: Path, small_video: Path):
    from triergon_studio.video.project_video import new_project

    p = new_project(small_video, tmp_path / "proj" / "scene.json")
    p.save(overwrite=True)
    return p


@pytest.fixture()
def qsettings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture()
def window(qtbot, project, qsettings, monkeypatch):
    from triergon_studio.ui.main_window import MainWindow

    win = MainWindow(project=project, settings=qsettings, open_audio=False)
    # Not qtbot.addWidget: the teardown below closes it without the unsaved-changes prompt.
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    # No modal prompt may block the teardown (a failed test can leave the project dirty).
    win.project.undo.set_clean()
    win.close()
    win.deleteLater()  # delete the Qt side now, not in the interpreter's final garbage collection
    qtbot.wait(10)


def show_curve_editor(qtbot, project, width: int = 1000, height: int = 420):  # type: ignore[no-untyped-def]
    """A shown CurveEditor on ``project`` with the whole picture in x and -70..0 LUFS in y on both plots."""
    from triergon_studio.ui.curve_editor import CurveEditor

    ed = CurveEditor(project)
    qtbot.addWidget(ed)
    ed.resize(width, height)
    ed.show()
    qtbot.waitExposed(ed)
    ed.viewbox.setXRange(0, project.duration_s, padding=0)
    for plot in ed.plots:
        plot.getViewBox().setYRange(-70, 0, padding=0)
    return ed


def add_take(project, name: str = "steps", seconds: float | None = None, freq: float = 220.0) -> str:
    from triergon_studio.audio.io import write_wav
    from triergon_studio.core.model import Take, new_id

    sr = 44100
    seconds = project.duration_s if seconds is None else seconds
    t = np.arange(int(seconds * sr)) / sr
    audio = np.stack([0.2 * np.sin(2 * np.pi * freq * t), 0.1 * np.sin(2 * np.pi * freq * t)], 1).astype(
        np.float32
    )
    path = project.new_take_path(name)
    write_wav(path, audio, sr, bits="32f")
    rel = path.relative_to(project.folder).as_posix()
    take = Take(id=new_id(), name=name, path=rel, duration_s=seconds, sample_rate=sr)
    return project.add_take(take)


class ViewMouse:
    """Real QMouseEvents on a pyqtgraph GraphicsView, addressed in a ViewBox's data coordinates."""

    def __init__(self, view, viewbox) -> None:
        self.view = view
        self.vb = viewbox

    def point(self, x: float, y: float) -> QPoint:
        scene = self.vb.mapViewToScene(QPointF(x, y))
        return self.view.mapFromScene(scene)

    def _send(
        self,
        kind: QEvent.Type,
        pos: QPoint,
        button: Qt.MouseButton,
        buttons: Qt.MouseButton,
        modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
    ) -> None:
        vp = self.view.viewport()
        ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, modifiers)
        QApplication.sendEvent(vp, ev)

    def press(
        self, x: float, y: float, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        self._send(
            QEvent.Type.MouseButtonPress,
            self.point(x, y),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton,
            modifiers,
        )

    def move(self, x: float, y: float) -> None:
        self._send(
            QEvent.Type.MouseMove, self.point(x, y), Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton
        )

    def release(self, x: float, y: float) -> None:
        self._send(
            QEvent.Type.MouseButtonRelease,
            self.point(x, y),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.NoButton,
        )

    def drag(self, points: list[tuple[float, float]]) -> None:
        self.press(*points[0])
        for p in points[1:]:
            self.move(*p)
        self.release(*points[-1])

    def click(
        self, x: float, y: float, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        self.press(x, y, modifiers)
        self.release(x, y)


@pytest.fixture()
def view_mouse():
    return ViewMouse


@pytest.fixture(autouse=True)
def _log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's error log goes to its own folder (never the user's)."""
    monkeypatch.setenv("TRIERGON_LOG_DIR", str(tmp_path / "log"))


@pytest.fixture(autouse=True)
def _collect_qt_garbage(qtbot):
    """Free Qt wrappers while the QApplication is alive: collected at interpreter exit, shiboken can
    release them in the wrong order and abort the process."""
    yield
    import gc

    QApplication.processEvents()
    gc.collect()
    QApplication.processEvents()
