"""Shaped points and shape pencils for the curve editor (SPEC §7, as REAPER / Pro Tools automation).

The POINTS tool shows every 6 Hz frame as a point. A frame becomes a *shaped point* (a key) when the user
gives it a shape; the shape describes the segment that leaves it, up to the next key on the same channel, and
the frames in between are rendered by ``core.curve_shapes``. The keys live with the editor, per channel, as
``{frame index: (Shape, tension)}``, and change only inside undoable commands (``KeysCommand``, pushed in
the same macro as the curve values), so undo and redo restore shapes and values together.

What each edit does to the keys:

- setting a shape: the selected frames become keys with that shape; the segments around them re-render;
- moving points (drag, Alt+Up/Down, +/-dB) and adding a point: moved keys keep their shapes and the segments
  on either side re-render to follow them (a new point becomes a linear key);
- deleting points: the deleted keys go; the segment of the key before them now runs to the next key;
- pencil, line, triangle, square, smooth, flatten and copy L->R overwrite: keys whose value they change are
  dropped (the drawn values win).

Keys are kept only while the curve keeps its length; loading or predicting a curve of another length clears
them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from triergon_studio.core import curve_ops as ops
from triergon_studio.core.curve_keys import SHAPE_LABELS, Key, Keys
from triergon_studio.core.curve_shapes import Shape, wave_period


class ShapeEditor(Protocol):
    """The parts of ``CurveEditor`` these helpers use (a protocol, so this module never imports the editor)."""

    shape_keys: Keys
    shape_menu: QMenu
    snap: ops.SnapMode
    grid_s: float

    def set_point_shape(self, shape: str, tension: float | None = None) -> None: ...
    def set_selection(self, mask: np.ndarray) -> None: ...
    def selected_points(self) -> np.ndarray: ...
    def _hit_point(self, channel: int, x: float, y: float) -> int | None: ...
    def _n(self) -> int: ...
    def _fps(self) -> float: ...
    def _rate(self) -> float: ...


# ---- menu ---------------------------------------------------------------------------------------------
def build_shape_menu(editor: ShapeEditor, parent: QWidget) -> QMenu:
    """Right-click menu of a point: one checkable action per shape."""
    menu = QMenu(parent)
    menu.setObjectName("pointShapeMenu")
    group = QActionGroup(menu)
    for shape in Shape:
        act = QAction(SHAPE_LABELS[shape], menu)
        act.setData(shape.value)
        act.setCheckable(True)
        act.triggered.connect(lambda _=False, s=shape: editor.set_point_shape(s))
        group.addAction(act)
        menu.addAction(act)
    return menu


def open_shape_menu(editor: ShapeEditor, channel: int, x: float, y: float, screen_pos: Any) -> bool:
    """Right click in the POINTS tool: select the point under the mouse (keeping a selection that holds it)
    and pop the shape menu up. False when no point is there."""
    hit = editor._hit_point(channel, x, y)
    if hit is None:
        return False
    sel = editor.selected_points()
    if sel.shape[1] != editor._n() or not sel[channel, hit]:
        sel = np.zeros((2, editor._n()), dtype=bool)
        sel[channel, hit] = True
        editor.set_selection(sel)
    current = editor.shape_keys[channel].get(hit, (Shape.LINEAR, 0.0))[0]
    for act in editor.shape_menu.actions():
        act.setChecked(act.data() == current.value)
    pos = (
        screen_pos.toPoint()
        if hasattr(screen_pos, "toPoint")
        else QPoint(int(screen_pos.x()), int(screen_pos.y()))
    )
    editor.shape_menu.popup(pos)
    return True


def marker_style(idx: np.ndarray, keys: dict[int, Key]) -> dict[str, Any]:
    """Shaped points draw as larger diamonds among the round frame points (ScatterPlotItem keywords)."""
    if not keys:
        return {"symbol": "o", "size": 7}
    is_key = [int(i) in keys for i in idx]
    return {"symbol": ["d" if k else "o" for k in is_key], "size": [11 if k else 7 for k in is_key]}


def pencil_period(editor: ShapeEditor) -> float:
    """The wave's period: the grid spacing (snap Grid or Off) or one video frame (snap Frames), never shorter
    than two curve frames (see ``core.curve_shapes.wave_period``)."""
    fps = editor._fps()
    unit = 1.0 / fps if editor.snap is ops.SnapMode.FRAMES and fps > 0 else editor.grid_s
    return wave_period(unit, editor._rate())
