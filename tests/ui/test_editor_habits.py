"""What a working sound editor expects (issue 14): keyboard-only sessions, a laptop screen, editable keys,
errors as messages with a log, a full round trip through the project file, the first-run guide."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QWidget,
)

from .conftest import add_take

ACTION_WIDGETS = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QPlainTextEdit)


def _clipped(w: QWidget, win: QWidget) -> bool:
    """True when an ancestor (a scroll area, a dock, the window) cuts part of ``w`` off."""
    r = QRect(w.mapTo(win, QPoint(0, 0)), w.size())
    vis = QRect(r)
    par = w.parentWidget()
    while par is not None and par is not win:
        vis = vis.intersected(QRect(par.mapTo(win, QPoint(0, 0)), par.size()))
        par = par.parentWidget()
    return vis.intersected(win.rect()) != r


def _in_front(w: QWidget) -> bool:
    par = w.parentWidget()
    while par is not None:
        if isinstance(par, QDockWidget) and par.visibleRegion().isEmpty():
            return False  # a dock behind another tab
        par = par.parentWidget()
    return True


def test_main_window_fits_1366x768(window, qtbot) -> None:
    window.resize(1366, 768)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (1366, 768)  # its minimum size allows it
    assert window.minimumSizeHint().width() <= 1366 and window.minimumSizeHint().height() <= 700
    checked = set()
    for dock in (window.takes_dock, window.mixer_dock, window.meter_dock):
        dock.raise_()
        qtbot.wait(20)
        for cls in ACTION_WIDGETS:
            for w in window.findChildren(cls):
                if not w.isVisible() or not _in_front(w) or w.objectName().startswith("qt_dockwidget"):
                    continue
                assert not _clipped(w, window), (
                    cls.__name__,
                    w.objectName(),
                    getattr(w, "text", lambda: "")(),
                )
                checked.add(w)
    names = {w.objectName() for w in checked}
    assert {
        "generateButton",
        "cancelButton",
        "playButton",
        "exportButton",
        "promptText",
        "startTimecode",
    } <= names
    assert len(checked) > 60
    # Nothing hidden in a toolbar's overflow menu.
    for bar in (window.curve_toolbar, window.curve_toolbar.edits_bar):
        for act in bar.actions():
            widget = bar.widgetForAction(act)
            assert widget is None or widget.isVisible(), act.text()
    tc = window.transport_bar.timecode
    assert tc.width() >= tc.fontMetrics().horizontalAdvance("00:00:00:00")
    assert window.takes_list.viewport().height() >= 5 * 18  # several takes in view, not 1.5 rows
    assert window.timeline.scrollbar.isVisible()


def test_keyboard_only_session(window, qtbot) -> None:
    """Type a prompt, play and stop with Space, mark a region with I/O, add a marker, zoom, generate with
    Ctrl+Enter, nudge the placed take, save with Ctrl+S: the saved prompt is exactly what was typed."""
    win = window
    win.project.set_settings(model="tiny-random", steps=2, seed=3, seed_locked=True)
    win.guide.dismiss()
    win.curve_editor.setFocus()
    qtbot.keyClick(win.focusWidget(), Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is win.prompt_text
    qtbot.keyClicks(win.prompt_text, "footsteps on a tiled floor")
    qtbot.keyClick(win.prompt_text, Qt.Key.Key_Tab)  # moves on, types nothing
    assert QApplication.focusWidget() is not win.prompt_text
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)  # a button has focus: Space still plays
    assert win.transport.playing
    qtbot.wait(80)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert not win.transport.playing
    # Back in the prompt, Space types; Esc leaves the field, and Space plays again.
    win.prompt_text.setFocus()
    qtbot.keyClick(win.prompt_text, Qt.Key.Key_Space)
    qtbot.keyClick(win.prompt_text, Qt.Key.Key_Backspace)
    qtbot.keyClick(win.prompt_text, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is win.curve_editor
    focus = QApplication.focusWidget
    qtbot.keyClick(focus(), Qt.Key.Key_Home)
    for _ in range(10):
        qtbot.keyClick(focus(), Qt.Key.Key_Right)
    qtbot.keyClick(focus(), Qt.Key.Key_I)
    for _ in range(40):
        qtbot.keyClick(focus(), Qt.Key.Key_Right)
    qtbot.keyClick(focus(), Qt.Key.Key_O)
    assert win.curve_editor.region == pytest.approx((0.4, 2.0))
    qtbot.keyClick(focus(), Qt.Key.Key_M)
    assert [m.time_s for m in win.project.markers] == pytest.approx([2.0])
    qtbot.keyClick(focus(), Qt.Key.Key_Equal)
    lo, hi = win.timeline.visible_range()
    assert hi - lo == pytest.approx(win.project.duration_s / 2, rel=0.05)
    qtbot.keyClick(focus(), Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert win.timeline.visible_range()[1] - win.timeline.visible_range()[0] == pytest.approx(4.0, rel=0.02)
    qtbot.keyClick(focus(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(win.project.takes) == 1 and not win.jobs.is_busy(), timeout=60000)
    take = win.project.takes[0]
    win.project.place_take(take.id, "FX", 0.0)
    item = win.project.lane("FX").items[0]
    win.timeline.lanes.select_item(item.id)
    qtbot.keyClick(focus(), Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert win.project.lane("FX").items[0].offset_s == pytest.approx(1 / 25)
    qtbot.keyClick(focus(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not win.project.is_dirty
    saved = json.loads(Path(win.project.path).read_bytes())
    assert saved["prompts"]["text"].encode() == b"footsteps on a tiled floor"
    assert take.prompts.text == "footsteps on a tiled floor"
    assert [m["time_s"] for m in saved["markers"]] == pytest.approx([2.0])


def test_round_trip_after_every_kind_of_edit(window, qtbot, tmp_path) -> None:
    """Save after each kind of edit, reopen in a new project, and compare the whole saved state."""
    from triergon_studio.audio.io import write_wav
    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.model import ReferenceClip
    from triergon_studio.core.project import Project

    p = window.project
    ref = tmp_path / "knock.wav"
    write_wav(ref, np.zeros((48000 * 3, 2), np.float32) + 0.01, 48000)
    n = int(np.ceil(p.duration_s * 6))
    edits = [
        lambda: p.set_prompt_text("door slam, heavy"),
        lambda: p.set_use_video(False),
        lambda: p.add_reference(ReferenceClip(str(ref), 0.5, 1.75)),
        lambda: p.set_curves(LoudnessCurve(np.linspace(-60, -10, n), np.full(n, -30.0), p.duration_s)),
        lambda: p.set_settings(
            model="tiny-random",
            steps=7,
            cfg=3.5,
            sampler="euler",
            seed=42,
            seed_locked=True,
            variations=2,
            conform=True,
            span=(0.5, 2.0),
        ),
        lambda: p.set_start_timecode("01:00:00:00"),
        lambda: add_take(p, "steps"),
        lambda: p.place_take(p.takes[0].id, "FX", 0.4),
        lambda: p.move_item(p.lane("FX").items[0].id, offset_s=0.6),
        lambda: p.edit_item(
            p.lane("FX").items[0].id, trim_in_s=0.2, trim_out_s=1.5, fade_in_s=0.1, fade_out_s=0.3
        ),
        lambda: p.rename_take(p.takes[0].id, "steps, tiled"),
        lambda: p.add_lane("WALLA"),
        lambda: p.rename_lane("WALLA", "CROWD"),
        lambda: p.set_lane_gain("CROWD", -6.0),
        lambda: p.set_lane_mute("BG", True),
        lambda: p.set_lane_solo("FOLEY", True),
        lambda: p.add_marker(1.2, "door"),
        lambda: p.add_region(0.4, 1.6, "slam"),
    ]
    for k, edit in enumerate(edits):
        edit()
        assert window.files.save(), window.banner.text
        again = Project.load(p.path)
        assert again.to_json() == p.to_json(), f"edit {k} did not survive a save and reopen"
    # The reopened window shows what was saved: the reference's in/out points and the task.
    window.files.open_project(str(p.path))
    qtbot.waitUntil(lambda: window.reference_audio.path == str(ref), timeout=10000)
    assert window.reference_audio.selected_region() == pytest.approx((0.5, 1.75))
    assert "Task 6" in window.prompt_panel.task_label.text()  # text + reference audio, no picture
    assert window.start_tc.text() == "01:00:00:00"


def test_discard_on_quit_removes_the_autosave(window, monkeypatch) -> None:
    from triergon_studio.core import autosave

    window.project.set_prompt_text("throw me away")
    window.autosave()
    assert autosave.has_recovery(window.project.path)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.close()
    assert not autosave.has_recovery(window.project.path)  # the next open reports no crash


def test_shortcuts_are_editable_saved_and_listed(window, qtbot, qsettings) -> None:
    from triergon_studio.ui.main_window import MainWindow
    from triergon_studio.ui.shortcuts import ShortcutsDialog, conflicts

    dialog = ShortcutsDialog(window.shortcuts, [], window)
    qtbot.addWidget(dialog)
    assert dialog.edits["transport.play"].keySequence().toString() == "Space"
    dialog.edits["edit.marker"].setKeySequence("Shift+M")
    dialog.edits["transport.home"].setKeySequence("Shift+M")
    dialog.accept()  # a clash is refused with a message
    assert "Shift+M" in dialog.message.text() and window.shortcuts.key("edit.marker") == "M"
    dialog.edits["transport.home"].setKeySequence("Home")
    dialog.accept()
    assert window.shortcuts.key("edit.marker") == "Shift+M"
    assert not conflicts(window.shortcuts.keys())
    window.curve_editor.setFocus()
    qtbot.keyClick(window.curve_editor, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert len(window.project.markers) == 1
    # Saved: a new window reads the same keys.
    other = MainWindow(settings=qsettings, open_audio=False)
    qtbot.addWidget(other)
    assert other.shortcuts.key("edit.marker") == "Shift+M"
    other.shortcuts.reset()
    assert other.shortcuts.key("edit.marker") == "M"
    other.close()


def test_errors_are_messages_logged_and_banners_clear(window, qtbot) -> None:
    from triergon_studio.ui.errorlog import log_path

    window.start_tc.setText("99:99:99:99")
    window.start_tc.editingFinished.emit()
    assert window.banner.text and "Traceback" not in window.banner.text
    window.start_tc.setText("00:00:10:00")
    window.start_tc.editingFinished.emit()
    assert "timecode" not in window.banner.keys()  # the condition cleared, so did its banner
    from triergon_studio.ui.worker import describe_error

    message = describe_error(RuntimeError("kaput in the sampler"))
    window.show_error(message, "job")
    assert "kaput" not in window.banner.text and "Show log" in window.banner.text
    dialog = window.show_log()
    qtbot.addWidget(dialog)
    assert "kaput in the sampler" in dialog.text.toPlainText() and str(log_path()) in dialog.windowTitle()
    dialog.close()


def test_first_run_guide_is_shown_once(window, qtbot, qsettings) -> None:
    from triergon_studio.ui.main_window import MainWindow

    assert (
        window.guide.isVisible()
        and "not a production model" in window.guide.findChild(QWidget, "guideText").text()
    )
    qtbot.mouseClick(window.guide.close_button, Qt.MouseButton.LeftButton)
    assert not window.guide.isVisible()
    other = MainWindow(settings=qsettings, open_audio=False)
    qtbot.addWidget(other)
    other.show()
    assert not other.guide.isVisible()
    other.close()


def test_wheel_over_an_unfocused_spin_box_changes_nothing(window, qtbot) -> None:
    steps = window.prompt_panel.steps
    steps.setValue(30)
    window.curve_editor.setFocus()
    before = steps.value()
    centre = QPointF(steps.width() / 2, steps.height() / 2)
    ev = QWheelEvent(
        centre,
        steps.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, -120 * 9),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(steps, ev)
    assert steps.value() == before and window.project.settings.steps == before


def test_time_display_matches_the_axis_at_rates_without_a_smpte_base(window) -> None:
    from triergon_studio.ui import timefmt

    p = window.project
    p.fps = Fraction(25, 2)
    assert timefmt.format_time(p, 25.0) == "00:00:25.000"
    assert timefmt.format_time(p, 30.16) == "00:00:30.160"
    p.fps = Fraction(179, 6)
    assert timefmt.format_time(p, 35.0) == "00:00:35.000" and "no SMPTE base" in timefmt.mode_note(p, "auto")
    assert timefmt.format_time(p, 35.0, "frames") == str(int(35.0 * 179 / 6 + 1e-6))
    p.fps = Fraction(25)
    assert timefmt.format_time(p, 2.0) == "00:00:02:00"
    window.set_time_mode("time")
    assert window.transport_bar.timecode.text() == "00:00:00.000" and "clock" in window.status_time.text()
    assert QSettings  # the choice is saved in the app's settings
    assert window.settings.value("display/timecode") == "time"


def test_trims_and_fades_on_a_placed_take(window, qtbot) -> None:
    """[ and ] trim the selected placed take at the playhead, Ctrl+[ and Ctrl+] fade it; the mix follows and
    the take stays in sync with the picture."""
    from triergon_studio.audio.export import render_lanes

    p = window.project
    window.guide.dismiss()
    take_id = add_take(p, "tone", seconds=3.0)
    p.place_take(take_id, "FX", 0.4)
    item_id = p.lane("FX").items[0].id
    window.timeline.lanes.select_item(item_id)
    window.curve_editor.setFocus()
    focus = QApplication.focusWidget
    window.transport.seek(0.8)
    qtbot.keyClick(focus(), Qt.Key.Key_BracketLeft)
    window.transport.seek(1.2)
    qtbot.keyClick(focus(), Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.ControlModifier)
    window.transport.seek(3.0)
    qtbot.keyClick(focus(), Qt.Key.Key_BracketRight)
    window.transport.seek(2.6)
    qtbot.keyClick(focus(), Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)
    item = p.lane("FX").items[0]
    assert (item.offset_s, item.trim_in_s, item.trim_out_s) == pytest.approx((0.4, 0.4, 2.6))
    assert (item.fade_in_s, item.fade_out_s) == pytest.approx((0.4, 0.4))
    sr = 48000
    fx = render_lanes(p, sr, int(p.duration_s * sr))["FX"]
    assert not fx[: int(0.8 * sr) - 1].any() and not fx[int(3.0 * sr) + 1 :].any()  # silent outside the trims
    full = np.abs(fx[int(1.5 * sr) : int(2.5 * sr)]).max()
    assert np.abs(fx[int(0.8 * sr) : int(0.85 * sr)]).max() < 0.3 * full  # fading in
    assert np.abs(fx[int(2.95 * sr) : int(3.0 * sr)]).max() < 0.3 * full  # fading out
    # The drawing shows the trimmed part only, inside its own lane.
    qtbot.waitUntil(lambda: any(s[0] == item_id for s in window.timeline.lanes._spans), timeout=10000)
    span = next(s for s in window.timeline.lanes._spans if s[0] == item_id)
    assert span[2] == pytest.approx(0.8, abs=0.02) and span[3] == pytest.approx(3.0, abs=0.02)
    with pytest.raises(Exception, match="nothing"):
        p.edit_item(item_id, trim_in_s=1.0, trim_out_s=1.0)
    p.undo.undo()
    assert p.lane("FX").items[0].fade_out_s == 0.0


def test_prompt_panel_follows_what_the_model_can_do(window, qtbot, tmp_path) -> None:
    """The panel asks the model's family (torch-free) which prompts it takes, its samplers and defaults."""
    p = window.prompt_panel
    p.model.setCurrentText("compact")
    assert p.use_picture.isEnabled() and p.reference.isEnabled() and p.predict_button.isEnabled()
    from triergon_studio.engine.model_paths import bundled_dir

    bundled = json.loads((bundled_dir() / "compact" / "config.json").read_text())["sampling"]
    assert f"({bundled['steps']})" in p.steps.specialValueText()
    assert f"({bundled['cfg_scale']:g})" in p.cfg.specialValueText()
    sao = tmp_path / "stable-audio-open-1.0"
    sao.mkdir()
    from tests.engine.sao_helpers import tiny_config

    (sao / "model_config.json").write_text(json.dumps(tiny_config("1.0")))  # the real layout, tiny sizes
    window._add_model_folder(str(sao))
    assert p.model.currentText() == str(sao)
    assert not p.use_picture.isEnabled() and not p.reference.isEnabled() and not p.predict_button.isEnabled()
    assert p.prompt_text.isEnabled() and "100" in p.steps.specialValueText()
    assert "no video" in p.model_note.text() and "stable-audio-open" in p.model.toolTip()
    samplers = [p.sampler.itemText(k) for k in range(p.sampler.count())]
    assert samplers[0] == "model default" and "dpmpp-3m-sde" in samplers
    window._add_model_folder(str(tmp_path))  # not a model folder: one clear line, nothing changes
    assert "not a model folder" in window.banner.text and p.model.currentText() == str(sao)


def test_queued_jobs_stay_counted_while_progress_runs(window, qtbot) -> None:
    import threading

    from triergon_studio.ui.jobs import JobProgress
    from triergon_studio.ui.worker import Job

    gate = threading.Event()

    def slow(cancel: threading.Event):  # noqa: ANN202
        for k in range(3):
            yield JobProgress(k, 3, f"step {k}")
            gate.wait(5)
        return None

    window.jobs.submit(Job("first", slow))
    window.jobs.submit(Job("second", slow))
    qtbot.waitUntil(lambda: "step" in window.status_job.text(), timeout=5000)
    assert "1 queued" in window.status_job.text() and "1 queued" in window.prompt_panel.job_label.text()
    gate.set()
    qtbot.waitUntil(lambda: not window.jobs.is_busy(), timeout=10000)
    assert "queued" not in window.status_job.text()


def test_one_selection_at_a_time_and_region_take_overlay(window, qtbot) -> None:
    from triergon_studio.core.curves import LoudnessCurve

    p = window.project
    n = int(np.ceil(p.duration_s * 6))
    p.set_curves(LoudnessCurve(np.full(n, -30.0), np.full(n, -30.0), p.duration_s))
    ed = window.curve_editor
    sel = np.zeros((2, n), bool)
    sel[0, 2:5] = True
    ed.set_selection(sel)
    ed.selection_changed.emit()
    ed.set_region(1.0, 2.0)  # the newer, visible selection wins: the points go
    assert not ed.selected_points().any() and "region 1.00-2.00" in window.curve_toolbar.acts_on.text()
    ed.set_selection(sel)
    ed.selection_changed.emit()
    assert ed.region is None and "3 points" in window.curve_toolbar.acts_on.text()
    ed.flatten_selection()  # acts on the points on L only
    assert np.array_equal(p.curves.right, np.full(n, -30.0))
    # A take generated for 1-3 s draws its measured loudness at 1-3 s, not from 0.
    from triergon_studio.audio.io import write_wav
    from triergon_studio.core.model import Take, new_id

    path = p.new_take_path("region")
    tone = np.sin(2 * np.pi * 220 * np.arange(2 * 44100) / 44100)
    write_wav(path, np.stack([tone, tone], 1).astype(np.float32) * 0.2, 44100, bits="32f")
    take = Take(
        id=new_id(),
        name="region",
        path=path.relative_to(p.folder).as_posix(),
        duration_s=2.0,
        sample_rate=44100,
        metadata={"start_s": 1.0},
    )
    p.add_take(take)
    qtbot.waitUntil(lambda: take.id in window.take_curves, timeout=10000)
    window.takes_panel.select(take.id)
    qtbot.waitUntil(lambda: ed.ref_lines[0][0].isVisible(), timeout=10000)
    xs = ed.ref_lines[0][0].getData()[0]
    assert xs[0] == pytest.approx(1.0) and xs[-1] <= 3.0 + 1e-6


def test_tab_reaches_every_kind_of_control(window, qtbot) -> None:
    """Tab from the prompt walks through the panels, both curve tool rows, the timeline, the transport and the
    file actions, and never types into the prompt."""
    window.guide.dismiss()
    window.prompt_text.setFocus()
    seen: set[QWidget] = set()
    for _ in range(150):
        w = QApplication.focusWidget()
        seen.add(w)
        qtbot.keyClick(w, Qt.Key.Key_Tab)
    names = {w.objectName() for w in seen}
    assert {
        "promptText",
        "generateButton",
        "regenerateButton",
        "takesList",
        "curveEditor",
        "playButton",
        "deviceCombo",
        "startTimecode",
        "exportButton",
        "predictButton",
    } <= names
    bar_buttons = [window.curve_toolbar.widgetForAction(a) for a in window.curve_toolbar.all_actions()]
    bar_buttons += [
        window.curve_toolbar.edits_bar.widgetForAction(a) for a in window.curve_toolbar.all_actions()
    ]
    assert sum(1 for b in bar_buttons if b is not None and b in seen) >= 14
    assert {window.prompt_panel.steps, window.prompt_panel.sampler, window.prompt_panel.seed} <= seen
    assert window.prompt_text.toPlainText() == ""  # no tab characters


def test_layout_and_take_columns_are_remembered(window, qtbot, qsettings) -> None:
    from triergon_studio.ui.main_window import MainWindow

    window.meter_dock.close()
    window.takes_panel.tree.setColumnHidden(2, True)  # the user's choice from the header's menu
    window.resize(1300, 760)
    window.project.undo.set_clean()
    assert window.close()
    other = MainWindow(settings=qsettings, open_audio=False)
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    assert not other.meter_dock.isVisible() and other.takes_dock.isVisible()
    assert other.takes_panel.hidden_columns() == [2]
    assert other.height() == 760  # the width is clamped to the offscreen platform's screen, the height is not
    other.close()
