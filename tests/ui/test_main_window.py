"""The main window on a real project: names, prompts, takes, lanes, keys, files, messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from .conftest import add_take

OBJECT_NAMES = (
    "videoView",
    "curveEditor",
    "promptText",
    "referenceAudio",
    "generateButton",
    "cancelButton",
    "progressBar",
    "takesList",
    "playButton",
    "exportButton",
    "loudnessMeter",
)


def test_object_names(window) -> None:
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None, name


def test_window_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
        "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
        "from triergon_studio.ui.main_window import MainWindow\n"
        "w = MainWindow(open_audio=False); w.show(); app.processEvents()\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_prompt_edits_are_undoable(window, qtbot) -> None:
    qtbot.keyClicks(window.prompt_text, "glass bottle on wood")
    window.prompt_panel.flush()
    assert window.project.prompts.text == "glass bottle on wood"
    assert "Task 5" in window.prompt_panel.task_label.text()  # text + picture
    window.prompt_panel.use_picture.setChecked(False)
    assert window.project.prompts.use_video is False
    assert "Task 4" in window.prompt_panel.task_label.text()
    window.project.undo.undo()
    window.project.undo.undo()
    assert window.project.prompts.text == "" and window.prompt_text.toPlainText() == ""
    assert window.project.prompts.use_video is True


def test_settings_panel_writes_settings(window) -> None:
    p = window.prompt_panel
    p.steps.setValue(12)
    p.cfg.setValue(4.5)
    p.seed.setValue(1234)
    p.seed_locked.setChecked(True)
    p.variations.setValue(3)
    s = window.project.settings
    assert (s.steps, s.cfg, s.seed, s.seed_locked, s.variations) == (12, 4.5, 1234, True, 3)
    assert window.generation.next_seeds() == [1234, 1235, 1236]
    window.project.undo.undo()
    assert window.project.settings.variations == 1 and p.variations.value() == 1


def test_takes_list_rename_delete_and_stats(window, qtbot) -> None:
    take_id = add_take(window.project, "bottle")
    tree = window.takes_list
    assert tree.topLevelItemCount() == 1 and tree.topLevelItem(0).text(0) == "bottle"
    qtbot.waitUntil(lambda: "LUFS" in tree.topLevelItem(0).text(4), timeout=10000)
    integrated = float(tree.topLevelItem(0).text(4).split()[0])
    assert -25.0 < integrated < -10.0  # a -14 dBFS-ish sine
    assert "dBTP" in tree.topLevelItem(0).text(5)
    tree.topLevelItem(0).setText(0, "bottle clink")  # as the inline editor does
    assert window.project.take(take_id).name == "bottle clink"
    window.project.undo.undo()
    assert tree.topLevelItem(0).text(0) == "bottle"
    tree.setCurrentItem(tree.topLevelItem(0))
    window.takes_panel.delete_button.click()
    assert window.project.takes == () and tree.topLevelItemCount() == 0
    window.project.undo.undo()
    assert tree.topLevelItemCount() == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Qt marks the QPoint drag-enter constructor
def test_drop_take_onto_lane(window, qtbot) -> None:
    from triergon_studio.ui.timeline import TAKE_MIME

    take_id = add_take(window.project, "door", seconds=1.0)
    lanes = window.timeline.lanes
    window.timeline.set_duration(window.project.duration_s)
    vb = lanes.getViewBox()
    target = lanes.mapFromScene(vb.mapViewToScene(QPointF(1.0, -1.5)))  # second lane (FX), at 1 s
    mime = QMimeData()
    mime.setData(TAKE_MIME, take_id.encode())
    enter = QDragEnterEvent(
        target, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(lanes.viewport(), enter)
    assert enter.isAccepted()
    ev = QDropEvent(
        QPointF(target),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(lanes.viewport(), ev)
    fx = window.project.lane("FX")
    assert len(fx.items) == 1 and fx.items[0].take_id == take_id
    assert fx.items[0].offset_s == pytest.approx(1.0, abs=0.05)
    assert fx.items[0].offset_s * 25 == pytest.approx(round(fx.items[0].offset_s * 25))  # snapped to a frame
    qtbot.waitUntil(lambda: take_id in window.waveforms, timeout=10000)
    assert len(window.timeline.lanes._items) > 0  # its waveform is drawn on the lane
    window.project.undo.undo()
    assert window.project.lane("FX").items == ()


def test_lane_mixer_is_undoable(window) -> None:
    row = window.lane_mixer._rows[0]
    row[1].setChecked(True)
    row[3].setValue(-6.0)
    lane = window.project.lane(row[0])
    assert lane.mute and lane.gain_db == -6.0
    window.project.undo.undo()
    window.project.undo.undo()
    assert not window.project.lane(row[0]).mute and window.project.lane(row[0]).gain_db == 0.0


def test_transport_keys(window, qtbot) -> None:
    window.timeline.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.transport.frame_index == 2
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.transport.frame_index == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.transport.frame_index == 99
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.transport.position_s == 0.0
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.transport.playing and window.play_button.text() == "■"
    qtbot.wait(120)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.transport.playing and window.transport.position_s > 0.05
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.transport.rate == 2.0
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert not window.transport.playing


def test_no_audio_device_banner_and_errors_in_window(window) -> None:
    assert "Playback is silent" in window.banner.text
    window.show_error("/tmp/x.wav: not a RIFF file")
    assert window.banner.text == "/tmp/x.wav: not a RIFF file"


def test_autosave_and_recovery(window, qsettings, qtbot, monkeypatch) -> None:
    from triergon_studio.core.project import autosave_path
    from triergon_studio.ui.main_window import MainWindow

    path = window.project.path
    window.project.set_prompt_text("recover me")
    window.autosave()
    assert autosave_path(path).is_file()
    # A second window stands in for the next start after a crash.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    other = MainWindow(settings=qsettings, open_audio=False)
    qtbot.addWidget(other)
    assert other.files.open_project(str(path))
    assert other.project.prompts.text == "recover me" and other.project.is_dirty
    assert other.prompt_text.toPlainText() == "recover me"
    assert str(Path(path).resolve()) in other.files.recent_files()
    other.project.undo.set_clean()
    other.close()


def test_close_with_unsaved_changes_asks(window, monkeypatch) -> None:
    window.project.set_prompt_text("unsaved")
    asked: list[str] = []

    def cancel(*args, **kwargs):  # noqa: ANN002, ANN003
        asked.append(args[1])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    assert window.close() is False and window.isVisible()
    assert asked == ["Unsaved changes"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    assert window.close() is True
    assert not window.project.is_dirty and '"unsaved"' in Path(window.project.path).read_text()


def test_open_corrupt_project_is_a_message(window, tmp_path) -> None:

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not window.files.open_project(str(bad))
    assert "bad.json" in window.banner.text and "Traceback" not in window.banner.text
    assert bad.read_text() == "{not json"


def test_scrub_via_curve_editor_playhead_and_ruler_point(window) -> None:
    window.curve_editor.playhead_moved.emit(1.5)
    assert window.transport.position_s == pytest.approx(1.5)
    assert QPoint  # keep the import used for readers of the drop test


def test_bad_reference_file_is_a_message(window, qtbot, tmp_path) -> None:
    bad = tmp_path / "ref.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    window.load_reference(str(bad))
    qtbot.waitUntil(lambda: "ref.wav" in window.banner.text, timeout=10000)
    assert "Traceback" not in window.banner.text and "\n" not in window.banner.text
    assert window.project.prompts.references == ()  # nothing half-added


def test_good_reference_sets_task_and_region(window, qtbot, tmp_path) -> None:
    from triergon_studio.audio.io import write_wav

    sr = 48000
    t = np.arange(2 * sr) / sr
    ref = tmp_path / "knock.wav"
    write_wav(ref, np.stack([np.sin(2 * np.pi * 300 * t)] * 2, 1).astype(np.float32) * 0.3, sr)
    window.load_reference(str(ref))
    qtbot.waitUntil(lambda: len(window.project.prompts.references) == 1, timeout=10000)
    assert "reference audio" in window.prompt_panel.task_label.text()
    window.reference_audio.region.setRegion((0.5, 1.5))
    window.reference_audio.region.sigRegionChangeFinished.emit(window.reference_audio.region)
    clip = window.project.prompts.references[0]
    assert (clip.in_s, clip.out_s) == pytest.approx((0.5, 1.5))
    window.measure_from_reference()
    qtbot.waitUntil(lambda: window.project.curves is not None, timeout=10000)
    assert window.project.curves.source.value == "measured"
