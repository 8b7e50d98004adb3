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

from bisect import bisect_left
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from triergon_studio.core.curve_shapes import Shape, ShapePoint, Wave, render_points, wave_period, wave_span
from triergon_studio.core.undo import Command
from triergon_studio.ui import curve_ops as ops

if TYPE_CHECKING:
    from triergon_studio.ui.curve_editor import CurveEditor

Key = tuple[Shape, float]
Keys = tuple[dict[int, Key], dict[int, Key]]

SHAPE_LABELS = {Shape.LINEAR: "Linear", Shape.SQUARE: "Square (hold)", Shape.SLOW: "Slow start/end",
                Shape.FAST: "Fast start", Shape.BEZIER: "Bezier"}


def empty_keys() -> Keys:
    return ({}, {})


def copy_keys(keys: Keys) -> Keys:
    return (dict(keys[0]), dict(keys[1]))


class KeysCommand(Command):
    """Swaps the editor's shaped points (pushed next to ``project.set_curves`` in one macro)."""

    def __init__(self, editor: CurveEditor, new: Keys, text: str) -> None:
        super().__init__(text)
        self._editor = editor
        self._old, self._new = copy_keys(editor.shape_keys), copy_keys(new)

    def do(self) -> None:
        self._editor.set_shape_keys(copy_keys(self._new))

    def undo(self) -> None:
        self._editor.set_shape_keys(copy_keys(self._old))


def _depending_segments(keys: dict[int, Key], changed: set[int]) -> set[int]:
    """Start keys of the segments whose rendering depends on any key in ``changed``."""
    order = sorted(keys)
    pos = {k: i for i, k in enumerate(order)}
    starts: set[int] = set()
    for k in changed:
        i = pos.get(k)
        if i is None:
            continue
        starts.add(k)
        if i > 0:
            starts.add(order[i - 1])
        # A bezier segment's slopes look one key further either way.
        if i > 1 and keys[order[i - 2]][0] is Shape.BEZIER:
            starts.add(order[i - 2])
        if i + 1 < len(order) and keys[order[i + 1]][0] is Shape.BEZIER:
            starts.add(order[i + 1])
    return starts


def render_segments(row: np.ndarray, keys: dict[int, Key], rate: float, starts: set[int]) -> np.ndarray:
    """``row`` with the segments that leave the keys in ``starts`` re-rendered from the keys' values."""
    out = row.copy()
    order = sorted(k for k in keys if 0 <= k < row.shape[0])
    if len(order) < 2 or not starts:
        return out
    pts = [ShapePoint(k / rate, float(row[k]), keys[k][0], keys[k][1]) for k in order]
    full = render_points(pts, row.shape[0], rate)
    for a, b in zip(order, order[1:], strict=False):
        if a in starts:
            out[a:b] = full[a:b]
    return np.asarray(ops.clip_lufs(out), dtype=np.float64)


def apply_shape(values: np.ndarray, keys: Keys, sel: np.ndarray, shape: Shape | str, tension: float,
                rate: float) -> tuple[np.ndarray, Keys]:
    """The selected frames become keys with ``shape``; their segments re-render."""
    shape = Shape(shape)
    out, new = values.copy(), copy_keys(keys)
    for ch in range(2):
        chosen = {int(i) for i in np.flatnonzero(sel[ch])} if sel.shape[1] == values.shape[1] else set()
        for i in chosen:
            new[ch][i] = (shape, float(tension))
        out[ch] = render_segments(values[ch], new[ch], rate, _depending_segments(new[ch], chosen))
    return out, new


def after_edit(edit: str, values: np.ndarray, base: np.ndarray, keys: Keys, rate: float,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, Keys]:
    """Keys and values after an edit of ``base`` into ``values`` (see the module docstring).

    ``edit`` is ``"follow"`` (moves), ``"add"`` (``mask`` marks the new points), ``"delete"`` (``mask``
    marks the deleted points) or ``"drop"`` (overwrites).
    """
    if edit not in ("follow", "add", "delete", "drop"):
        raise ValueError(f"unknown edit {edit!r}")
    if not keys[0] and not keys[1] and edit != "add":
        return values, keys
    out, new = values.copy(), copy_keys(keys)
    for ch in range(2):
        changed = {k for k in new[ch] if k < values.shape[1] and values[ch, k] != base[ch, k]}
        marked = {int(i) for i in np.flatnonzero(mask[ch])} if mask is not None else set()
        if edit == "drop":
            for k in changed:
                del new[ch][k]
            continue
        if edit == "delete":
            gone = marked & set(new[ch])
            for k in gone:
                del new[ch][k]
            # The surviving key before each deleted one now runs to the next surviving key.
            kept = sorted(new[ch])
            before = {kept[j - 1] for j in (bisect_left(kept, k) for k in gone) if j > 0}
            out[ch] = render_segments(out[ch], new[ch], rate, _depending_segments(new[ch], before))
            continue
        if edit == "add":
            for k in marked:
                new[ch].setdefault(k, (Shape.LINEAR, 0.0))
            changed |= marked
        out[ch] = render_segments(out[ch], new[ch], rate, _depending_segments(new[ch], changed))
    return out, new


def follow_preview(work: np.ndarray, orig: np.ndarray, keys: Keys, rate: float) -> np.ndarray:
    """Live view of a point drag: the shaped segments follow the moved keys."""
    return after_edit("follow", work, orig, keys, rate)[0]


# ---- repeating pencils -------------------------------------------------------------------------------
def pencil_period(editor: CurveEditor) -> float:
    """The wave's period: the grid spacing (snap Grid or Off) or one video frame (snap Frames), never shorter
    than two curve frames (see ``core.curve_shapes.wave_period``)."""
    fps = editor._fps()
    unit = 1.0 / fps if editor.snap is ops.SnapMode.FRAMES and fps > 0 else editor.grid_s
    return wave_period(unit, editor._rate())


def draw_span(tool: str, work: np.ndarray, orig: np.ndarray, channels: tuple[int, ...], rate: float, x0: float,
              y0: float, x1: float, y1: float, period_s: float) -> None:
    """Line, triangle or square tool: ``work`` rows become ``orig`` with the drawn span over [x0, x1].

    The line joins (x0, y0) to (x1, y1); the waves repeat ``period_s`` between the levels y0 and y1.
    """
    for ch in channels:
        work[ch] = orig[ch]
        if tool == "line":
            ops.write_segment(work[ch], rate, x0, y0, x1, y1)
            continue
        lo, vals = wave_span(Wave(tool), work.shape[1], rate, x0, y0, x1, y1, period_s)
        work[ch, lo:lo + vals.size] = ops.clip_lufs(vals)


# ---- menu ---------------------------------------------------------------------------------------------
def build_shape_menu(editor: CurveEditor) -> QMenu:
    """Right-click menu of a point: one checkable action per shape."""
    menu = QMenu(editor)
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


def open_shape_menu(editor: CurveEditor, channel: int, x: float, y: float, screen_pos: Any) -> bool:
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
    pos = screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else QPoint(int(screen_pos.x()),
                                                                             int(screen_pos.y()))
    editor.shape_menu.popup(pos)
    return True


def marker_style(idx: np.ndarray, keys: dict[int, Key]) -> dict[str, Any]:
    """Shaped points draw as larger diamonds among the round frame points (ScatterPlotItem keywords)."""
    if not keys:
        return {"symbol": "o", "size": 7}
    is_key = [int(i) in keys for i in idx]
    return {"symbol": ["d" if k else "o" for k in is_key], "size": [11 if k else 7 for k in is_key]}
