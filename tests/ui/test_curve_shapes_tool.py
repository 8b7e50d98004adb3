"""Shaped points, shape pencils and take moves on real widgets, driven by real mouse events."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import add_take, show_curve_editor
from triergon_studio.core.curve_shapes import Shape, evaluate, wave_span
from triergon_studio.ui.curve_editor import Tool

RAMP_LO, RAMP_HI = -60.0, -20.0


@pytest.fixture()
def ramped(project):
    from triergon_studio.core.curves import LoudnessCurve

    n = LoudnessCurve.constant(-40.0, project.duration_s).n_frames
    values = np.linspace(RAMP_LO, RAMP_HI, n)
    project.set_curves(LoudnessCurve(values, values.copy(), project.duration_s), "ramp")
    project.undo.clear()
    return project


@pytest.fixture()
def editor(qtbot, ramped):
    ed = show_curve_editor(qtbot, ramped)
    ed.set_tool(Tool.POINTS)
    return ed


def select(editor, *frames: int, channel: int = 0) -> None:
    sel = np.zeros((2, editor._n()), dtype=bool)
    sel[channel, list(frames)] = True
    editor.set_selection(sel)


def right_click(view, point) -> None:
    vp = view.viewport()
    for kind, buttons in (
        (QEvent.Type.MouseButtonPress, Qt.MouseButton.RightButton),
        (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
    ):
        QApplication.sendEvent(
            vp,
            QMouseEvent(
                kind,
                QPointF(point),
                QPointF(vp.mapToGlobal(point)),
                Qt.MouseButton.RightButton,
                buttons,
                Qt.KeyboardModifier.NoModifier,
            ),
        )


def slow(t0: float, v0: float, t1: float, v1: float, frames: np.ndarray) -> np.ndarray:
    return evaluate([(t0, v0, "slow"), (t1, v1)], frames / 6.0)


def test_context_menu_sets_a_shape_as_one_undo_step(editor, ramped, view_mouse) -> None:
    before = ramped.curves.left.copy()
    select(editor, 6, 18)
    m = view_mouse(editor.view, editor.plots[0].getViewBox())
    right_click(editor.view, m.point(1.0, float(before[6])))  # on the selected point at 1 s
    menu = editor.shape_menu
    assert menu.isVisible()
    assert editor.selected_points()[0, [6, 18]].all()  # the right click kept the selection
    next(a for a in menu.actions() if a.data() == "slow").trigger()
    menu.close()
    left = ramped.curves.left
    frames = np.arange(6, 19)
    assert np.allclose(left[6:19], slow(1.0, before[6], 3.0, before[18], frames))
    assert left[9] < before[9] and left[15] > before[15]  # an S, not the straight ramp
    assert left[12] == pytest.approx(before[12])  # meets the ramp at the middle
    assert np.array_equal(left[:6], before[:6]) and np.array_equal(left[19:], before[19:])
    assert np.array_equal(ramped.curves.right, before)
    assert len(ramped.undo) == 1 and ramped.undo.undo_text == "Shape points: slow"
    assert editor.shape_keys[0] == {6: (Shape.SLOW, 0.0), 18: (Shape.SLOW, 0.0)}
    ramped.undo.undo()
    assert np.array_equal(ramped.curves.left, before) and editor.shape_keys == ({}, {})
    ramped.undo.redo()
    assert np.allclose(ramped.curves.left[6:19], slow(1.0, before[6], 3.0, before[18], frames))
    assert editor.shape_keys[0][6][0] is Shape.SLOW


def test_right_click_off_a_point_shows_no_menu(editor, view_mouse) -> None:
    m = view_mouse(editor.view, editor.plots[0].getViewBox())
    right_click(editor.view, m.point(2.0, -5.0))  # far above the ramp
    assert not editor.shape_menu.isVisible()


def test_shape_follows_a_moved_point_and_pencil_drops_keys(editor, ramped, view_mouse) -> None:
    before = ramped.curves.left.copy()
    select(editor, 6, 18)
    editor.set_point_shape("slow")
    select(editor, 18)
    m = view_mouse(editor.view, editor.plots[0].getViewBox())
    y = float(before[18])
    m.drag([(3.0, y), (3.0, y + 5.0), (3.0, y + 10.0)])  # Move points: 18 goes up 10 dB
    left = ramped.curves.left
    new18 = left[18]
    assert new18 == pytest.approx(y + 10.0, abs=0.3)
    frames = np.arange(6, 19)
    assert np.allclose(left[6:19], slow(1.0, before[6], 3.0, new18, frames))  # the S re-rendered
    assert left[12] == pytest.approx((before[6] + new18) / 2)
    assert np.array_equal(left[19:], before[19:])  # nothing after the last key moves
    assert len(ramped.undo) == 2 and ramped.undo.undo_text == "Move points"
    assert set(editor.shape_keys[0]) == {6, 18}
    ramped.undo.undo()
    assert np.allclose(ramped.curves.left[6:19], slow(1.0, before[6], 3.0, before[18], frames))
    # Pencil over the second key: it is dropped with the stroke, the first key stays.
    editor.set_tool(Tool.PENCIL)
    m.drag([(2.8, -30.0), (3.2, -30.0)])
    assert set(editor.shape_keys[0]) == {6}
    ramped.undo.undo()
    assert set(editor.shape_keys[0]) == {6, 18}


def test_toolbar_combo_applies_bezier_with_tension_and_delete_reflows(editor, ramped) -> None:
    from triergon_studio.ui.curve_toolbar import CurveToolbar

    bar = CurveToolbar(editor)
    before = ramped.curves.left.copy()
    select(editor, 6, 12, 18)
    bar.tension.setValue(1.0)
    bar.shape.activated.emit(bar.shape.findData("bezier"))
    left = ramped.curves.left
    u = np.arange(7) / 6.0
    smoothstep = 3 * u**2 - 2 * u**3  # tension 1: flat slopes at the points
    assert np.allclose(left[6:13], before[6] + (before[12] - before[6]) * smoothstep)
    assert ramped.undo.undo_text == "Shape points: bezier" and len(ramped.undo) == 1
    assert editor.shape_keys[0][12] == (Shape.BEZIER, 1.0)
    # Square on the first key, then delete the middle key: the hold now runs to the last key.
    select(editor, 6)
    bar.shape.activated.emit(bar.shape.findData("square"))
    assert np.all(ramped.curves.left[6:12] == before[6])
    select(editor, 12)
    editor.delete_selected_points()
    assert np.all(ramped.curves.left[6:18] == before[6]) and ramped.curves.left[18] == before[18]
    assert set(editor.shape_keys[0]) == {6, 18}
    assert len(ramped.undo) == 3
    ramped.undo.undo()
    assert set(editor.shape_keys[0]) == {6, 12, 18}


def test_nothing_selected_sets_no_shape(editor, ramped) -> None:
    editor.set_point_shape("fast")
    assert len(ramped.undo) == 0 and editor.shape_keys == ({}, {})


def test_triangle_pencil_repeats_on_the_grid(editor, ramped, view_mouse) -> None:
    before = ramped.curves.left.copy()
    editor.set_tool(Tool.TRIANGLE)
    editor.set_snap("grid", grid_s=1.0, grid_db=1.0)
    m = view_mouse(editor.view, editor.plots[0].getViewBox())
    m.press(0.98, -60.2)
    for x in (1.5, 2.0, 2.5):
        m.move(x, -30.0)
    _, shown = editor.lines[0].getData()
    assert np.any(shown != before) and np.array_equal(ramped.curves.left, before)  # preview only
    assert len(ramped.undo) == 0
    m.move(3.02, -19.8)
    m.release(3.02, -19.8)
    left = ramped.curves.left
    lo, wave = wave_span("triangle", left.size, 6.0, 1.0, -60.0, 3.0, -20.0, 1.0)
    assert lo == 6 and np.allclose(left[6:19], wave)
    assert left[9] == -20.0 and left[15] == -20.0 and left[12] == -60.0  # two periods of 1 s
    assert np.array_equal(left[:6], before[:6]) and np.array_equal(left[19:], before[19:])
    assert len(ramped.undo) == 1 and ramped.undo.undo_text == "Draw triangle wave"


def test_square_pencil_with_frame_snap_uses_two_curve_frames(editor, ramped, view_mouse) -> None:
    editor.set_tool(Tool.SQUARE)
    editor.set_snap("frames")  # 25 fps: a video frame is shorter than a curve frame
    editor.set_linked(True)
    view_mouse(editor.view, editor.plots[1].getViewBox()).drag([(1.0, -50.0), (2.0, -45.0), (3.0, -10.0)])
    for ch in (ramped.curves.left, ramped.curves.right):
        seg = ch[6:19]
        assert np.allclose(seg[0::2], -50.0, atol=0.3) and np.allclose(seg[1::2], -10.0, atol=0.3)
    assert len(ramped.undo) == 1 and ramped.undo.undo_text == "Draw square wave"


def test_dragging_a_placed_take_moves_it_on_a_frame(window, qtbot, view_mouse) -> None:
    project = window.project
    take_id = add_take(project, "door", seconds=1.0)
    qtbot.waitUntil(lambda: take_id in window.waveforms, timeout=10000)
    item_id = project.place_take(take_id, "FX", 0.5)
    window.timeline.set_duration(project.duration_s)
    lanes = window.timeline.lanes
    assert lanes.item_at(1.0, -1.5) == item_id and lanes.item_at(2.0, -1.5) is None
    undo_len = len(project.undo)
    scrubbed: list[float] = []
    lanes.scrub.connect(scrubbed.append)
    m = view_mouse(lanes, lanes.getViewBox())
    m.press(1.0, -1.5)
    for x in (1.2, 1.6, 2.0):
        m.move(x, -1.5)
    assert project.lane("FX").items[0].offset_s == 0.5  # only the view moves during the drag
    m.move(2.013, -1.5)
    m.release(2.013, -1.5)
    item = project.lane("FX").items[0]
    assert item.id == item_id and item.offset_s == pytest.approx(38 / 25)  # 0.5 + 1.013 -> frame 38
    assert len(project.undo) == undo_len + 1 and project.undo.undo_text == "Move take"
    assert not scrubbed  # moving a take does not scrub
    project.undo.undo()
    assert project.lane("FX").items[0].offset_s == 0.5
    m.drag([(3.0, -1.5), (3.5, -1.5)])  # empty lane space still scrubs
    assert scrubbed and scrubbed[-1] == pytest.approx(3.5, abs=0.05)
    assert project.lane("FX").items[0].offset_s == 0.5


def test_adding_a_point_splits_a_shaped_segment() -> None:
    from triergon_studio.core import curve_keys as st

    base = np.vstack([np.linspace(-60.0, -20.0, 24)] * 2)
    keys = ({6: (Shape.FAST, 0.0), 18: (Shape.LINEAR, 0.0)}, {})
    shaped, _ = st.after_edit("follow", base, base, keys, 6.0)
    assert np.array_equal(shaped, base)  # nothing moved: nothing re-renders
    work = base.copy()
    work[0, 12] = -5.0
    added = np.zeros((2, 24), dtype=bool)
    added[0, 12] = True
    out, new = st.after_edit("add", work, base, keys, 6.0, added)
    assert new[0] == {6: (Shape.FAST, 0.0), 12: (Shape.LINEAR, 0.0), 18: (Shape.LINEAR, 0.0)} and new[1] == {}
    frames = np.arange(6, 19)
    want = evaluate([(1.0, base[0, 6], "fast"), (2.0, -5.0, "linear"), (3.0, base[0, 18])], frames / 6.0)
    assert np.allclose(out[0, 6:19], want) and np.array_equal(out[1], base[1])
    with pytest.raises(ValueError):
        st.after_edit("twist", work, base, keys, 6.0)
