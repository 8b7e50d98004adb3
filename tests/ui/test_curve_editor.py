"""The curve editor on a real project: gestures preview live and commit one undoable command each."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import show_curve_editor
from triergon_studio.core import curve_ops as ops
from triergon_studio.ui.curve_editor import Tool


@pytest.fixture()
def seeded(project):
    from triergon_studio.core.curves import LoudnessCurve

    project.set_curves(LoudnessCurve.constant(-40.0, project.duration_s), "seed")
    project.undo.clear()
    return project


@pytest.fixture()
def editor(qtbot, seeded):
    return show_curve_editor(qtbot, seeded)


def mouse_for(editor, view_mouse, channel=0):
    return view_mouse(editor.view, editor.plots[channel].getViewBox())


def test_pencil_stroke_previews_live_and_commits_once(editor, seeded, view_mouse) -> None:
    m = mouse_for(editor, view_mouse)
    before = seeded.curves.left.copy()
    xs = np.linspace(0.5, 2.5, 25)
    m.press(xs[0], -20.0)
    for x in xs[1:]:
        m.move(x, -20.0)
    # Mid-drag: the view shows the stroke, the project is untouched and nothing is on the undo stack.
    _, shown = editor.lines[0].getData()
    assert np.any(np.abs(shown + 20.0) < 0.5)
    assert np.array_equal(seeded.curves.left, before) and len(seeded.undo) == 0
    m.release(xs[-1], -20.0)
    assert len(seeded.undo) == 1 and seeded.undo.undo_text == "Pencil stroke"
    lo, hi = ops.index_range(seeded.curves.n_frames, 6.0, 0.7, 2.3)
    assert np.allclose(seeded.curves.left[lo:hi], -20.0, atol=0.6)
    assert np.allclose(seeded.curves.right, -40.0)  # only the lane drawn on
    assert seeded.curves.source.value == "drawn"
    seeded.undo.undo()
    assert np.array_equal(seeded.curves.left, before)
    _, shown = editor.lines[0].getData()
    assert np.allclose(shown, -40.0)  # the view follows the model on undo
    seeded.undo.redo()
    assert np.allclose(seeded.curves.left[lo:hi], -20.0, atol=0.6)


def test_linked_pencil_writes_both_channels(editor, seeded, view_mouse) -> None:
    editor.set_linked(True)
    mouse_for(editor, view_mouse, 1).drag([(1.0, -10.0), (1.5, -10.0), (2.0, -10.0)])
    lo, hi = ops.index_range(seeded.curves.n_frames, 6.0, 1.2, 1.8)
    assert np.allclose(seeded.curves.left[lo:hi], -10.0, atol=0.6)
    assert np.allclose(seeded.curves.right[lo:hi], -10.0, atol=0.6)
    assert len(seeded.undo) == 1


def test_line_tool_draws_a_ramp_with_grid_snap(editor, seeded, view_mouse) -> None:
    editor.set_tool(Tool.LINE)
    editor.set_snap("grid", grid_s=0.5, grid_db=1.0)
    mouse_for(editor, view_mouse).drag([(1.02, -60.3), (2.0, -40.0), (3.01, -20.2)])
    left = seeded.curves.left
    i0, i1 = int(1.0 * 6), int(3.0 * 6)
    assert left[i0] == pytest.approx(-60.0, abs=1e-6) and left[i1] == pytest.approx(-20.0, abs=1e-6)
    assert np.all(np.diff(left[i0 : i1 + 1]) > 0)
    assert np.allclose(left[:i0], -40.0) and np.allclose(left[i1 + 1 :], -40.0)
    assert len(seeded.undo) == 1 and seeded.undo.undo_text == "Draw line"


def test_points_band_select_drag_and_delete(editor, seeded, view_mouse) -> None:
    from triergon_studio.core.curves import LoudnessCurve

    values = np.linspace(-60, -20, seeded.curves.n_frames)
    seeded.set_curves(LoudnessCurve(values, values.copy(), seeded.duration_s), "ramp")
    seeded.undo.clear()
    editor.set_tool(Tool.POINTS)
    m = mouse_for(editor, view_mouse)
    # Rubber band over 1..2 s (empty space above the curve start is fine: the band spans all values).
    m.drag([(0.95, -1.0), (1.5, -30.0), (2.05, -69.0)])
    sel = editor.selected_points()
    idx = np.flatnonzero(sel[0])
    assert idx.min() == 6 and idx.max() == 12 and not sel[1].any()
    assert len(seeded.undo) == 0  # selecting is not an edit
    # Drag one selected point up by 10 dB: all selected points move, as one command.
    t = 9 / 6.0
    y = float(values[9])
    m.drag([(t, y), (t, y + 5.0), (t, y + 10.0)])
    moved = seeded.curves.left
    assert np.allclose(moved[6:13], values[6:13] + 10.0, atol=0.2)
    assert np.allclose(moved[:6], values[:6]) and np.allclose(moved[13:], values[13:])
    assert len(seeded.undo) == 1 and seeded.undo.undo_text == "Move points"
    editor.delete_selected_points()
    after = seeded.curves.left
    assert np.allclose(after[6:13], np.interp(np.arange(6, 13), [5, 13], [moved[5], moved[13]]))
    assert len(seeded.undo) == 2
    seeded.undo.undo()
    assert np.allclose(seeded.curves.left, moved)


def test_points_double_click_adds_a_point(editor, seeded, view_mouse, qtbot) -> None:
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    editor.set_tool(Tool.POINTS)
    m = mouse_for(editor, view_mouse)
    p = m.point(2.0, -15.0)
    vp = editor.view.viewport()
    left_btn = Qt.MouseButton.LeftButton
    for kind, buttons in (
        (QEvent.Type.MouseButtonPress, left_btn),
        (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
        (QEvent.Type.MouseButtonDblClick, left_btn),
        (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
    ):
        QApplication.sendEvent(
            vp,
            QMouseEvent(
                kind,
                QPointF(p),
                QPointF(vp.mapToGlobal(p)),
                left_btn,
                buttons,
                Qt.KeyboardModifier.NoModifier,
            ),
        )
    assert seeded.curves.left[12] == pytest.approx(-15.0, abs=0.5)
    assert seeded.undo.undo_text == "Add point"


def test_region_edits_are_single_commands(editor, seeded, view_mouse) -> None:
    editor.set_tool(Tool.SELECT)
    mouse_for(editor, view_mouse).drag([(1.0, -30.0), (1.5, -30.0), (2.0, -30.0)])
    assert editor.region == pytest.approx((1.0, 2.0), abs=0.05)
    mask = editor.selected_mask(0)
    editor.offset_selection(6.0)
    assert np.allclose(seeded.curves.left[mask], -34.0) and np.allclose(seeded.curves.left[~mask], -40.0)
    assert np.allclose(seeded.curves.right[mask], -34.0)  # a region covers both lanes
    editor.offset_selection(-3.0)
    assert np.allclose(seeded.curves.left[mask], -37.0)
    editor.smooth_selection()  # the region's edges blend into their -40 LUFS neighbours
    assert seeded.curves.left[mask][0] < -37.0
    editor.flatten_selection()
    assert np.ptp(seeded.curves.left[mask]) < 1e-9
    flat = seeded.curves.left.copy()
    editor.flatten_selection()  # already flat: no change, no undo step
    assert len(seeded.undo) == 4 and np.array_equal(seeded.curves.left, flat)
    seeded.undo.undo()
    seeded.undo.undo()
    seeded.undo.undo()
    assert np.allclose(seeded.curves.left[mask], -34.0)


def test_copy_left_to_right_and_overlay(editor, seeded, view_mouse) -> None:
    mouse_for(editor, view_mouse).drag([(0.5, -12.0), (1.5, -12.0)])
    editor.copy_left_to_right()
    assert np.array_equal(seeded.curves.left, seeded.curves.right)
    assert seeded.undo.undo_text == "Copy L to R"
    editor.set_overlay(True)
    assert not editor.plots[1].isVisible()
    editor.set_overlay(False)
    assert editor.plots[1].isVisible()


def test_reference_curve_is_drawn_faintly(editor, seeded) -> None:
    from triergon_studio.core.curves import LoudnessCurve

    ref = LoudnessCurve.constant(-25.0, seeded.duration_s)
    editor.set_reference_curve(ref)
    assert editor.ref_lines[0][0].isVisible()
    assert np.allclose(editor.ref_lines[0][0].getData()[1], -25.0)
    editor.set_reference_curve(None)
    assert not editor.ref_lines[0][0].isVisible()


def test_first_stroke_on_a_project_without_curves(qtbot, project, view_mouse) -> None:
    assert project.curves is None
    ed = show_curve_editor(qtbot, project, 900, 400)
    view_mouse(ed.view, ed.viewbox).drag([(1.0, -30.0), (2.0, -30.0)])
    assert project.curves is not None and project.curves.n_frames == int(np.ceil(project.duration_s * 6))
    assert np.isclose(project.curves.left[9], -30.0, atol=0.6) and project.curves.right.max() == -70.0


def test_curve_ops_geometry() -> None:
    v = np.full(12, -40.0)
    lo, hi = ops.write_segment(v, 6.0, 0.0, -10.0, 1.0, -20.0)
    assert (lo, hi) == (0, 7) and v[0] == -10.0 and v[6] == -20.0
    v2 = np.full(12, -40.0)
    ops.write_segment(v2, 6.0, 0.51, -5.0, 0.52, -5.0)  # shorter than a sample period: nearest sample
    assert v2[3] == -5.0 and np.sum(v2 != -40.0) == 1
    mask = np.zeros(12, bool)
    mask[3:6] = True
    assert np.allclose(ops.offset(np.full(12, -5.0), mask, 10.0)[mask], 0.0)  # clipped at 0 LUFS
    assert np.allclose(ops.delete_points(np.arange(12.0), mask), np.arange(12.0))
    assert ops.snap_time(1.013, ops.SnapMode.FRAMES, 25.0, 1.0) == pytest.approx(1.0)
    assert ops.snap_value(-12.4, ops.SnapMode.GRID, 1.0) == -12.0
