"""The L/R loudness-curve editor (pyqtgraph).

The widget takes the project, listens to ``project.changed`` and changes the curves only through
``project.set_curves`` (one undoable command). A drag edits a private working copy and redraws it live; the
command is pushed once, on release (the live / finished split of pyqtgraph's ROI).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from triergon_studio.core import curve_keys as keys_ops
from triergon_studio.core import curve_ops as ops
from triergon_studio.core.curve_ops import SnapMode
from triergon_studio.ui import curve_shapes_tool as shapes_tool

CHANNEL_COLOURS = ("#4fc3f7", "#ff8a65")  # L, R
CHANNEL_NAMES = ("L", "R")
AXIS_WIDTH = 64  # every timeline row uses the same left axis width so their x axes line up
HIT_PX = 7.0


class Tool(StrEnum):
    PENCIL = "pencil"
    POINTS = "points"
    LINE = "line"
    SELECT = "select"
    TRIANGLE = "triangle"  # repeating pencils: one wave period per grid unit (curve_shapes_tool)
    SQUARE = "square"


_WAVE_TOOLS = {Tool.LINE: "Draw line", Tool.TRIANGLE: "Draw triangle wave", Tool.SQUARE: "Draw square wave"}


class _EditViewBox(pg.ViewBox):
    """Routes left-button gestures to the editor; other buttons keep pan and zoom."""

    def __init__(self, editor: CurveEditor, channel: int) -> None:
        super().__init__(enableMenu=False)
        self._editor = editor
        self.channel = channel
        self.setMouseEnabled(x=True, y=False)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802 - Qt override
        if ev.button() != Qt.MouseButton.LeftButton or axis is not None:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._editor._drag_begin(self.channel, start.x(), start.y(), ev.modifiers())
        self._editor._drag_move(self.channel, pos.x(), pos.y())
        if ev.isFinish():
            self._editor._drag_end(self.channel)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        pos = self.mapSceneToView(ev.scenePos())
        if (
            ev.button() == Qt.MouseButton.RightButton
            and self._editor.tool is Tool.POINTS
            and shapes_tool.open_shape_menu(self._editor, self.channel, pos.x(), pos.y(), ev.screenPos())
        ):
            ev.accept()
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseClickEvent(ev)
            return
        ev.accept()
        self._editor._click(self.channel, pos.x(), pos.y(), ev.modifiers(), ev.double())


class CurveEditor(QWidget):
    """Shows and edits ``project.curves``. Emits ``selection_changed`` when points or a region change."""

    selection_changed = Signal()
    tool_changed = Signal(str)
    playhead_moved = Signal(float)

    def __init__(self, project: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("curveEditor")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.project = project
        self.tool = Tool.PENCIL
        self.snap = SnapMode.OFF
        self.grid_s = 1.0
        self.grid_db = 1.0
        self.linked = False
        self.overlay = False
        self.nudge_db = 1.0
        self._work: np.ndarray | None = None  # [2, F] working copy while a gesture runs
        self._sel = np.zeros((2, 0), dtype=bool)
        self._region: tuple[float, float] | None = None
        self._gesture: dict[str, Any] | None = None
        self.shape_keys = keys_ops.empty_keys()  # shaped points per channel (POINTS tool)
        self.bezier_tension = 0.0
        self.shape_menu = shapes_tool.build_shape_menu(self, self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("#1e1f22")
        self.view.ci.setSpacing(0)
        self.view.ci.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.plots: list[pg.PlotItem] = []
        self.lines: list[pg.PlotDataItem] = []
        self.ref_lines: list[list[pg.PlotDataItem]] = []
        self.markers: list[pg.ScatterPlotItem] = []
        self.regions: list[pg.LinearRegionItem] = []
        self.playheads: list[pg.InfiniteLine] = []
        self.ghosts: list[pg.PlotDataItem] = []  # the other channel, drawn faintly (overlay)
        self._band = QGraphicsRectItem()
        self._band.setPen(QPen(QColor("#ffffff"), 0, Qt.PenStyle.DashLine))
        self._band.setBrush(QColor(255, 255, 255, 30))
        self._band.setZValue(50)
        for ch in range(2):
            self._build_lane(ch)
        self.plots[1].setXLink(self.plots[0])
        self.hint = pg.TextItem(
            "No curves yet: Predict from video, Measure from reference audio, or draw here",
            color="#9aa0a6",
            anchor=(0, 0),
        )
        self.hint.setPos(0.0, -8.0)
        self.plots[0].addItem(self.hint, ignoreBounds=True)
        self._band.setParentItem(None)  # type: ignore[arg-type]  # detach: Qt takes None here

        project.changed.connect(self._on_project_changed)
        self.selection_changed.connect(self._one_selection)
        self.destroyed.connect(lambda *_: self._disconnect())
        self._sync_from_project()

    # ---- construction -------------------------------------------------------------------------------
    def _build_lane(self, ch: int) -> None:
        vb = _EditViewBox(self, ch)
        plot = pg.PlotItem(viewBox=vb)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        # Level lines as plain items: pyqtgraph's axis grid costs ~15 ms a repaint at this size, which a
        # drag cannot afford (the mouse-move budget is 8 ms).
        for level in range(-60, 0, 10):
            plot.addItem(
                pg.InfiniteLine(pos=level, angle=0, movable=False, pen=pg.mkPen(60, 63, 68)),
                ignoreBounds=True,
            )
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.getAxis("left").setLabel(f"{CHANNEL_NAMES[ch]} LUFS")
        plot.getAxis("bottom").setStyle(showValues=ch == 1)
        vb.setYRange(ops.LUFS_MIN, ops.LUFS_MAX, padding=0.02)
        vb.setLimits(yMin=ops.LUFS_MIN - 2, yMax=ops.LUFS_MAX + 2, xMin=0)
        colour = QColor(CHANNEL_COLOURS[ch])
        faint = QColor(colour)
        faint.setAlpha(90)
        refs = [
            pg.PlotDataItem(pen=pg.mkPen(QColor(255, 255, 255, 70), width=1, style=Qt.PenStyle.DotLine))
            for _ in range(2)
        ]
        for ref in refs:
            ref.setVisible(False)
            plot.addItem(ref)
        ghost = pg.PlotDataItem(pen=pg.mkPen(QColor(CHANNEL_COLOURS[1 - ch]).darker(150), width=1))
        ghost.setVisible(False)
        plot.addItem(ghost)
        line = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), fillLevel=ops.LUFS_MIN, brush=faint.darker(300))
        line.setClipToView(True)
        plot.addItem(line)
        markers = pg.ScatterPlotItem(size=7, pen=pg.mkPen(colour), brush=pg.mkBrush(colour.darker(200)))
        plot.addItem(markers)
        region = pg.LinearRegionItem(brush=pg.mkBrush(255, 255, 255, 25), movable=True)
        region.setVisible(False)
        region.sigRegionChangeFinished.connect(lambda r=region: self._on_region_item_moved(r))
        plot.addItem(region)
        playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=True, pen=pg.mkPen("#ffd54f", width=1))
        playhead.sigDragged.connect(lambda line_=playhead: self.playhead_moved.emit(float(line_.value())))
        plot.addItem(playhead)
        self.view.addItem(plot, row=ch, col=0)
        self.plots.append(plot)
        self.lines.append(line)
        self.ref_lines.append(refs)
        self.markers.append(markers)
        self.regions.append(region)
        self.playheads.append(playhead)
        self.ghosts.append(ghost)

    def _disconnect(self) -> None:
        try:
            self.project.changed.disconnect(self._on_project_changed)
        except Exception:  # noqa: BLE001 - already gone on shutdown
            pass

    # ---- public API ---------------------------------------------------------------------------------
    def set_project(self, project: Any) -> None:
        """Show another project (the old one is no longer listened to)."""
        if project is self.project:
            self._sync_from_project()
            return
        self._disconnect()
        self.project = project
        self._work, self._gesture, self._region = None, None, None
        self._sel = np.zeros((2, 0), dtype=bool)
        self.shape_keys = keys_ops.empty_keys()
        project.changed.connect(self._on_project_changed)
        self.set_region(None)
        self._sync_from_project()

    @property
    def viewbox(self) -> pg.ViewBox:
        """The ViewBox other timeline rows link their x axis to."""
        return self.plots[0].getViewBox()

    def set_tool(self, tool: Tool | str) -> None:
        self.tool = Tool(tool)
        self._update_markers()
        self.tool_changed.emit(self.tool.value)

    def set_snap(
        self, mode: SnapMode | str, grid_s: float | None = None, grid_db: float | None = None
    ) -> None:
        self.snap = SnapMode(mode)
        if grid_s is not None:
            self.grid_s = grid_s
        if grid_db is not None:
            self.grid_db = grid_db

    def set_point_shape(self, shape: str, tension: float | None = None) -> None:
        """Give the selected points ``shape`` (for the segments leaving them): one undoable command."""
        base = self._base_values()
        if base is None or self._sel.shape[1] != base.shape[1] or not self._sel.any():
            return
        tension = self.bezier_tension if tension is None else tension
        values, keys = keys_ops.apply_shape(base, self.shape_keys, self._sel, shape, tension, self._rate())
        self._commit(values, f"Shape points: {shape}", keys=keys)

    def set_shape_keys(self, keys: keys_ops.Keys) -> None:
        self.shape_keys = keys
        self._update_markers()

    def set_linked(self, linked: bool) -> None:
        self.linked = bool(linked)

    def set_overlay(self, overlay: bool) -> None:
        """Overlay draws R on the L lane and hides the R lane."""
        self.overlay = bool(overlay)
        self.plots[1].setVisible(not self.overlay)
        self.plots[0].getAxis("bottom").setStyle(showValues=self.overlay)
        self.plots[0].getAxis("left").setLabel("L/R LUFS" if self.overlay else "L LUFS")
        self._redraw()

    def set_playhead(self, t: float) -> None:
        for line in self.playheads:
            line.setValue(t)

    def set_reference_curve(self, curve: Any | None, offset_s: float = 0.0) -> None:
        """The measured curve of the selected take, drawn faintly where the take sits on the picture
        (``offset_s``: a region take starts there, not at 0); ``None`` hides it."""
        for ch in range(2):
            for other, ref in enumerate(self.ref_lines[ch]):
                show = curve is not None and (other == ch or (self.overlay and ch == 0))
                ref.setVisible(bool(show))
                if show and curve is not None:
                    values = np.asarray(curve.left if other == 0 else curve.right, dtype=np.float64)
                    ref.setData(offset_s + np.arange(values.shape[0]) / float(curve.rate_hz), values)

    def selection_text(self) -> str:
        """What the selection edits (smooth, flatten, +/-dB, delete) will act on, in words."""
        n = self._n()
        if self._sel.shape[1] == n and self._sel.any():
            counts = [int(self._sel[ch].sum()) for ch in range(2)]
            where = " and ".join(f"{c} on {CHANNEL_NAMES[ch]}" for ch, c in enumerate(counts) if c)
            return f"Acts on: {sum(counts)} point{'s' if sum(counts) != 1 else ''} ({where})"
        if self._region is not None:
            return f"Acts on: region {self._region[0]:.2f}-{self._region[1]:.2f} s (L and R)"
        return "Acts on: nothing selected (select points with A, a region with R or I/O)"

    def selected_mask(self, channel: int) -> np.ndarray:
        """Points selected on a channel, else the region, else nothing. Only one of the two exists at a
        time: selecting points clears the region and a new region clears the points (the visible one wins)."""
        n = self._n()
        if self._sel.shape[1] == n and self._sel[channel].any():
            return self._sel[channel].copy()
        if self._region is not None:
            return ops.region_mask(n, self._rate(), *self._region)
        return np.zeros(n, dtype=bool)

    def selected_points(self) -> np.ndarray:
        return self._sel.copy()

    def set_selection(self, mask: np.ndarray) -> None:
        self._sel = np.asarray(mask, dtype=bool).copy()
        if self._sel.any() and self._region is not None:
            self._clear_region_quietly()
        self._update_markers()
        self.selection_changed.emit()

    def _one_selection(self) -> None:
        # set_region clears the points, so points beside a region mean the points are the newer selection.
        if self._sel.any() and self._region is not None:
            self._clear_region_quietly()

    def _clear_region_quietly(self) -> None:
        self._region = None
        for item in self.regions:
            item.setVisible(False)

    def set_region(self, start_s: float | None, end_s: float | None = None) -> None:
        if start_s is None or end_s is None:
            self._region = None
        else:
            lo, hi = sorted((float(start_s), float(end_s)))
            self._region = (lo, hi)
            if self._sel.any():  # a new region replaces the point selection
                self._sel = np.zeros_like(self._sel)
                self._update_markers()
        for item in self.regions:
            item.setVisible(self._region is not None)
            if self._region is not None:
                item.blockSignals(True)
                item.setRegion(self._region)
                item.blockSignals(False)
        self.selection_changed.emit()

    @property
    def region(self) -> tuple[float, float] | None:
        return self._region

    # ---- selection edits (each one undoable command) ------------------------------------------------
    def smooth_selection(self, window: int = 5) -> None:
        self._edit_selection("Smooth curve", lambda v, m: ops.smooth(v, m, window))

    def flatten_selection(self) -> None:
        self._edit_selection("Flatten curve", ops.flatten)

    def offset_selection(self, db: float) -> None:
        self._edit_selection(
            f"{'Raise' if db >= 0 else 'Lower'} curve {abs(db):g} dB",
            lambda v, m: ops.offset(v, m, db),
            edit="follow",
        )

    def delete_selected_points(self) -> None:
        self._edit_selection("Delete points", ops.delete_points, points_only=True, edit="delete")
        self.set_selection(np.zeros_like(self._sel))

    def copy_left_to_right(self) -> None:
        curve = self.project.curves
        if curve is None:
            return
        self._commit(np.vstack([curve.left, curve.left]), "Copy L to R")

    # ---- gesture plumbing (called by the view boxes) ------------------------------------------------
    def _channels_for(self, channel: int) -> tuple[int, ...]:
        return (0, 1) if self.linked else (channel,)

    def _drag_begin(self, channel: int, x: float, y: float, modifiers: Any) -> None:
        base = self._base_values()
        if base is None:
            return
        x, y = self._snap_xy(x, y)
        self._work = base.copy()
        g: dict[str, Any] = {"channel": channel, "x0": x, "y0": y, "last": (x, y), "orig": base}
        if self.tool is Tool.POINTS:
            hit = self._hit_point(channel, x, y)
            additive = bool(
                modifiers & Qt.KeyboardModifier.ControlModifier
                or modifiers & Qt.KeyboardModifier.ShiftModifier
            )
            if hit is None:
                g["mode"] = "band"
                g["additive"] = additive
                self._band.setParentItem(self.plots[channel].getViewBox().childGroup)
                self._band.setRect(QRectF(x, y, 0, 0))
                self._band.setVisible(True)
            else:
                if self._sel.shape[1] != self._n():
                    self._sel = np.zeros((2, self._n()), dtype=bool)
                if not self._sel[channel, hit]:
                    if not additive:
                        self._sel[:] = False
                    self._sel[channel, hit] = True
                g["mode"] = "move"
        elif self.tool is Tool.SELECT:
            g["mode"] = "region"
        self._gesture = g

    def _drag_move(self, channel: int, x: float, y: float) -> None:
        g = self._gesture
        if g is None or self._work is None:
            return
        x, y = self._snap_xy(x, y)
        rate = self._rate()
        if self.tool is Tool.PENCIL:
            lx, ly = g["last"]
            for ch in self._channels_for(g["channel"]):
                ops.write_segment(self._work[ch], rate, lx, ly, x, y)
            g["last"] = (x, y)
            self._redraw_work(self._channels_for(g["channel"]))
        elif self.tool in _WAVE_TOOLS:  # line, triangle, square: redrawn from the drag's start each move
            chans = self._channels_for(g["channel"])
            keys_ops.draw_span(
                self.tool.value,
                self._work,
                g["orig"],
                chans,
                rate,
                g["x0"],
                g["y0"],
                x,
                y,
                shapes_tool.pencil_period(self),
            )
            self._redraw_work(chans)
        elif g.get("mode") == "move":
            dy = y - g["y0"]
            for ch in (0, 1):
                m = (self._sel[0] | self._sel[1]) if self.linked else self._sel[ch]
                self._work[ch] = g["orig"][ch]
                self._work[ch][m] = ops.clip_lufs(g["orig"][ch][m] + dy)
            self._work = keys_ops.follow_preview(self._work, g["orig"], self.shape_keys, rate)
            self._redraw_work((0, 1))
        elif g.get("mode") == "band":
            self._band.setRect(QRectF(QPointF(g["x0"], g["y0"]), QPointF(x, y)).normalized())
        elif g.get("mode") == "region":
            self.set_region(g["x0"], x)
        g["last"] = (x, y)

    def _drag_end(self, channel: int) -> None:
        g, self._gesture = self._gesture, None
        if g is None or self._work is None:
            return
        work, self._work = self._work, None
        if self.tool is Tool.PENCIL:
            self._commit(work, "Pencil stroke")
        elif self.tool in _WAVE_TOOLS:
            self._commit(work, _WAVE_TOOLS[self.tool])
        elif g.get("mode") == "move":
            self._commit(work, "Move points", edit="follow")
        elif g.get("mode") == "band":
            rect = self._band.rect()
            self._band.setVisible(False)
            n, rate = self._n(), self._rate()
            if self._sel.shape[1] != n or not g["additive"]:
                self._sel = np.zeros((2, n), dtype=bool)
            values = g["orig"][g["channel"]]
            self._sel[g["channel"]] |= ops.band_mask(
                values, rate, rect.left(), rect.right(), rect.top(), rect.bottom()
            )
            self._update_markers()
            self.selection_changed.emit()

    def _click(self, channel: int, x: float, y: float, modifiers: Any, double: bool) -> None:
        if self.tool is Tool.POINTS:
            n = self._n()
            if n == 0:
                return
            if self._sel.shape[1] != n:
                self._sel = np.zeros((2, n), dtype=bool)
            hit = self._hit_point(channel, x, y)
            additive = bool(
                modifiers & Qt.KeyboardModifier.ControlModifier
                or modifiers & Qt.KeyboardModifier.ShiftModifier
            )
            if hit is None and double:
                x, y = self._snap_xy(x, y)
                work = self._base_values()
                if work is None:
                    return
                i = ops.nearest_index(n, self._rate(), x)
                added = np.zeros((2, n), dtype=bool)
                for ch in self._channels_for(channel):
                    work[ch, i] = ops.clip_lufs(y)
                    added[ch, i] = True
                self._commit(work, "Add point", edit="add", mask=added)
                self._sel[:] = False
                self._sel[channel, i] = True
            elif hit is None:
                if not additive:
                    self._sel[:] = False
            elif additive:
                self._sel[channel, hit] = not self._sel[channel, hit]
            else:
                self._sel[:] = False
                self._sel[channel, hit] = True
            self._update_markers()
            self.selection_changed.emit()
        elif self.tool is Tool.SELECT:
            self.set_region(None)
            self.playhead_moved.emit(max(0.0, x))
        elif self.tool is Tool.PENCIL:
            # A click is a one-point stroke.
            self._drag_begin(channel, x, y, modifiers)
            self._drag_move(channel, x, y)
            self._drag_end(channel)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self._sel.any():
            self.delete_selected_points()
        elif key == Qt.Key.Key_Up and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.offset_selection(self.nudge_db)
        elif key == Qt.Key.Key_Down and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.offset_selection(-self.nudge_db)
        else:
            super().keyPressEvent(event)

    # ---- helpers ------------------------------------------------------------------------------------
    def _rate(self) -> float:
        curve = self.project.curves
        return float(curve.rate_hz) if curve is not None else 6.0

    def _n(self) -> int:
        base = self._base_values()
        return 0 if base is None else int(base.shape[1])

    def _fps(self) -> float:
        return float(getattr(self.project, "fps", 0) or 0)

    def _snap_xy(self, x: float, y: float) -> tuple[float, float]:
        x = ops.snap_time(max(0.0, x), self.snap, self._fps(), self.grid_s)
        y = ops.snap_value(float(ops.clip_lufs(y)), self.snap, self.grid_db)
        return x, y

    def _base_values(self) -> np.ndarray | None:
        curve = self.project.curves
        if curve is None:
            # No curves yet: the first stroke draws over silence (the floor) for the whole picture.
            duration = float(getattr(self.project, "duration_s", 0.0) or 0.0)
            if duration <= 0:
                return None
            from triergon_studio.core.curves import frame_count

            return np.full((2, frame_count(duration)), ops.LUFS_MIN)
        return np.vstack(
            [np.asarray(curve.left, dtype=np.float64), np.asarray(curve.right, dtype=np.float64)]
        )

    def _hit_point(self, channel: int, x: float, y: float) -> int | None:
        if self._n() == 0:
            return None
        px = self.plots[channel].getViewBox().viewPixelSize()
        base = self._work if self._work is not None else self._base_values()
        if base is None:
            return None
        values = base[channel]
        return ops.hit_index(values, self._rate(), x, y, (px[0], px[1]), HIT_PX)

    def _edit_selection(self, text: str, fn: Any, points_only: bool = False, edit: str = "drop") -> None:
        base = self._base_values()
        if base is None:
            return
        out = base.copy()
        changed = False
        for ch in range(2):
            if points_only:
                mask = self._sel[ch] if self._sel.shape[1] == base.shape[1] else np.zeros(base.shape[1], bool)
            else:
                mask = self.selected_mask(ch)
            if self.linked and not points_only:
                mask = self.selected_mask(0) | self.selected_mask(1)
            if mask.any():
                out[ch] = fn(base[ch], mask)
                changed = True
        if changed:
            self._commit(out, text, edit, self._sel if points_only else None)

    def _commit(
        self,
        values: np.ndarray,
        text: str,
        edit: str = "drop",
        mask: np.ndarray | None = None,
        keys: keys_ops.Keys | None = None,
    ) -> None:
        """Push new values (and shaped points, see ``curve_shapes_tool``) as one undo step."""
        base = self._base_values()
        if base is not None and keys is None:
            values, keys = keys_ops.after_edit(edit, values, base, self.shape_keys, self._rate(), mask)
        if base is None or (np.array_equal(values, base) and keys == self.shape_keys):
            self._redraw()
            return
        curve = self.project.curves
        if curve is None:
            from triergon_studio.core.curves import CurveSource, LoudnessCurve

            new = LoudnessCurve(
                values[0].copy(), values[1].copy(), float(self.project.duration_s), source=CurveSource.DRAWN
            )
        else:
            new = ops.curve_with(curve, values[0].copy(), values[1].copy())
        if keys == self.shape_keys:
            self.project.set_curves(new, text)
            return
        with self.project.undo.macro(text):
            if not np.array_equal(values, base):
                self.project.set_curves(new, text)
            if keys is not None:
                self.project.undo.push(keys_ops.KeysCommand(self, keys, text))

    def _on_project_changed(self, what: str = "") -> None:
        if what in ("", "curves", "all", "project", "loaded"):
            self._sync_from_project()

    def _on_region_item_moved(self, item: pg.LinearRegionItem) -> None:
        lo, hi = item.getRegion()
        self.set_region(lo, hi)

    def _sync_from_project(self) -> None:
        n = self._n()
        if self._sel.shape[1] != n:
            self._sel = np.zeros((2, n), dtype=bool)
        if any(k >= n for keys in self.shape_keys for k in keys):
            self.shape_keys = keys_ops.empty_keys()  # a curve of another length: the keys mean nothing
        duration = float(getattr(self.project, "duration_s", 0.0) or 0.0)
        if duration > 0:
            for plot in self.plots:
                plot.getViewBox().setLimits(xMin=0, xMax=duration)
        self._redraw()

    def _redraw(self) -> None:
        self.hint.setVisible(self.project.curves is None and self._work is None)
        values = self._work if self._work is not None else self._base_values()
        ghosts = (self.ghosts[0], self.ghosts[1])
        if values is None:
            for line in self.lines:
                line.setData([], [])
            for g in ghosts:
                g.setVisible(False)
            self._update_markers()
            return
        t = np.arange(values.shape[1]) / self._rate()
        for ch in range(2):
            self.lines[ch].setData(t, values[ch])
        ghosts[0].setVisible(self.overlay)
        ghosts[1].setVisible(False)
        if self.overlay:
            ghosts[0].setData(t, values[1])
        self._update_markers()

    def _redraw_work(self, channels: tuple[int, ...]) -> None:
        """Fast path during a drag: only the touched lines (and markers when they move)."""
        assert self._work is not None
        t = np.arange(self._work.shape[1]) / self._rate()
        for ch in channels:
            self.lines[ch].setData(t, self._work[ch])
        if self.overlay:
            self.ghosts[0].setData(t, self._work[1])
        if self.tool is Tool.POINTS:
            self._update_markers()

    def _update_markers(self) -> None:
        values = self._work if self._work is not None else self._base_values()
        for ch in range(2):
            if values is None:
                self.markers[ch].setData([], [])
                continue
            rate = self._rate()
            sel = self._sel[ch] if self._sel.shape[1] == values.shape[1] else np.zeros(values.shape[1], bool)
            if self.tool is Tool.POINTS:
                idx = np.arange(values.shape[1])
            else:
                idx = np.flatnonzero(sel)
            brushes = [pg.mkBrush("#ffffff") if sel[i] else pg.mkBrush(CHANNEL_COLOURS[ch]) for i in idx]
            self.markers[ch].setData(
                idx / rate,
                values[ch][idx],
                brush=brushes if len(idx) else None,
                **shapes_tool.marker_style(idx, self.shape_keys[ch]),
            )
