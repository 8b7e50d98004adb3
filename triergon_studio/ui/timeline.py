"""The timeline: a timecode ruler with a thumbnail strip, the curve editor, and one row per project lane with
its takes drawn as waveforms. Every row shares the curve editor's x axis (zoom and pan move together) and
shows the playhead; dragging on the ruler, or dragging any playhead line, scrubs. Dragging a placed take along
its lane moves it (snapped to video frames, one undo step on release)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QMimeData, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QScrollBar, QVBoxLayout, QWidget

from triergon_studio.ui.curve_editor import AXIS_WIDTH, CurveEditor

TAKE_MIME = "application/x-triergon-take"
LANE_COLOURS = ("#81c784", "#ba68c8", "#4dd0e1", "#ffb74d", "#e57373", "#90a4ae")


class TimecodeAxis(pg.AxisItem):
    def __init__(self, formatter: Callable[[float], str], orientation: str = "top") -> None:
        super().__init__(orientation)
        self._fmt = formatter

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [self._fmt(v) if v >= 0 else "" for v in values]


class _ScrubViewBox(pg.ViewBox):
    """Left click or drag anywhere scrubs; the wheel zooms the shared x axis."""

    def __init__(self, on_scrub: Callable[[float], None]) -> None:
        super().__init__(enableMenu=False)
        self._on_scrub = on_scrub
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._on_scrub(max(0.0, self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and axis is None:
            ev.accept()
            self._on_scrub(max(0.0, self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseDragEvent(ev, axis)


class _LanesViewBox(_ScrubViewBox):
    """Scrubs like the ruler, except that a left drag starting on a placed take moves that take, and a click
    on one selects it (for nudging and removing)."""

    def __init__(
        self,
        on_scrub: Callable[[float], None],
        on_item_drag: Callable[[str, float, float], bool],
        on_item_click: Callable[[float, float], bool],
    ) -> None:
        super().__init__(on_scrub)
        self._on_item_drag = on_item_drag
        self._on_item_click = on_item_click

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            pos = self.mapSceneToView(ev.scenePos())
            if self._on_item_click(pos.x(), pos.y()):
                ev.accept()
                return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and axis is None:
            if ev.isStart():
                start = self.mapSceneToView(ev.buttonDownScenePos())
                self._on_item_drag("start", start.x(), start.y())
            pos = self.mapSceneToView(ev.scenePos())
            if self._on_item_drag("finish" if ev.isFinish() else "move", pos.x(), pos.y()):
                ev.accept()
                return
        super().mouseDragEvent(ev, axis)


def _shaped_envelope(x: np.ndarray, y: np.ndarray, item: Any) -> tuple[np.ndarray, np.ndarray]:
    """The envelope strokes inside the item's trims, scaled by its equal-power fades."""
    t_in = float(getattr(item, "trim_in_s", 0.0) or 0.0)
    t_out = getattr(item, "trim_out_s", None)
    f_in = float(getattr(item, "fade_in_s", 0.0) or 0.0)
    f_out = float(getattr(item, "fade_out_s", 0.0) or 0.0)
    if not x.size or (t_in <= 0 and t_out is None and f_in <= 0 and f_out <= 0):
        return x, y
    end = float(x[-1]) if t_out is None else float(t_out)
    keep = (x >= t_in) & (x <= end)
    keep[1::2] = keep[0::2]  # strokes come in pairs
    x, y = x[keep], y[keep].copy()
    g = np.ones_like(y)
    if f_in > 0:
        u = np.clip((x - t_in) / f_in, 0.0, 1.0)
        g *= np.sin(0.5 * np.pi * u)
    if f_out > 0:
        u = np.clip((end - x) / f_out, 0.0, 1.0)
        g *= np.sin(0.5 * np.pi * u)
    return x, y * g


def _box_pen(selected: bool) -> QPen:
    """A selected take's box has a bright cosmetic outline; others none."""
    if not selected:
        return QPen(Qt.PenStyle.NoPen)
    pen = QPen(QColor("#ffd54f"))
    pen.setCosmetic(True)
    pen.setWidth(2)
    return pen


def waveform_envelope(
    audio: np.ndarray, sr: int, points_per_s: float = 150.0
) -> tuple[np.ndarray, np.ndarray]:
    """Vertical min/max strokes (x pairs, y pairs) for a fast ``connect='pairs'`` waveform."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    hop = max(1, int(sr / points_per_s))
    n = mono.shape[0] // hop
    if n == 0:
        return np.zeros(0), np.zeros(0)
    blocks = mono[: n * hop].reshape(n, hop)
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    x = np.repeat(np.arange(n) * hop / sr, 2)
    y = np.empty(2 * n)
    y[0::2], y[1::2] = lo, hi
    return x, y


class LanesView(pg.PlotWidget):
    """Rows for the project lanes; a take dragged from the takes list drops onto a lane at the drop time."""

    take_dropped = Signal(str, str, float)  # take id, lane name, offset seconds
    item_moved = Signal(str, float)  # lane item id, new offset seconds (already snapped)
    item_selected = Signal(object)  # lane item id or None
    scrub = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        self._vb = _LanesViewBox(
            lambda t: self.scrub.emit(t), lambda *a: self._item_drag(*a), lambda x, y: self._item_click(x, y)
        )
        super().__init__(parent, viewBox=self._vb, background="#1e1f22")
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)  # drag-and-drop events arrive at the viewport
        self.plotItem.hideButtons()
        self.plotItem.setMenuEnabled(False)
        self.plotItem.setContentsMargins(0, 0, 0, 0)
        self.plotItem.getAxis("left").setWidth(AXIS_WIDTH)
        self.plotItem.getAxis("bottom").setStyle(showValues=False)
        self.lane_names: list[str] = []
        self._items: list[Any] = []
        # (item id, lane row, start s, end s, waveform, box) of every drawn take, for hit tests and drags
        self._spans: list[tuple[str, int, float, float, Any, Any]] = []
        self._grab: dict[str, Any] | None = None
        self.selected_item: str | None = None
        self._offsets: dict[str, float] = {}
        self.snap_time: Callable[[float], float] = lambda t: t  # the main window sets its video-frame snap
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=True, pen=pg.mkPen("#ffd54f"))
        self.playhead.sigDragged.connect(lambda line: self.scrub.emit(float(line.value())))
        self.addItem(self.playhead)

    def set_lanes(self, lanes: list[Any], waveforms: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        for item in self._items:
            self.removeItem(item)
        self._items, self._spans, self._grab = [], [], None
        self._offsets = {item.id: float(item.offset_s) for lane in lanes for item in lane.items}
        self.lane_names = [lane.name for lane in lanes]
        n = max(1, len(lanes))
        self._vb.setYRange(-n, 0, padding=0.02)
        ticks = []
        soloed = any(getattr(lane, "solo", False) for lane in lanes)
        for k, lane in enumerate(lanes):
            centre = -(k + 0.5)
            flags = ("M" if lane.mute else "") + ("S" if lane.solo else "")
            ticks.append((centre, f"{lane.name} {flags}".strip()))
            sep = pg.InfiniteLine(pos=-(k + 1), angle=0, pen=pg.mkPen("#3a3d42"))
            self.addItem(sep)
            self._items.append(sep)
            audible = not lane.mute and (lane.solo or not soloed)
            colour = QColor(LANE_COLOURS[k % len(LANE_COLOURS)])
            if not audible:
                colour.setAlpha(70)
            for item in lane.items:
                env = waveforms.get(item.take_id)
                if env is None:
                    continue
                x, y = env
                # Full scale is half a row; the lane's and the item's gain, the trims and the fades shape the
                # drawing as they shape the mix.
                gain = float(10.0 ** ((lane.gain_db + getattr(item, "gain_db", 0.0)) / 20.0))
                x, y = _shaped_envelope(x, y, item)
                wave = pg.PlotDataItem(
                    x + item.offset_s,
                    centre + np.clip(y * gain, -1.0, 1.0) * 0.45,
                    connect="pairs",
                    pen=pg.mkPen(colour, width=1),
                )
                self.addItem(wave)
                self._items.append(wave)
                first = item.offset_s + (float(x[0]) if x.size else 0.0)
                end = item.offset_s + (float(x[-1]) if x.size else 0.0)
                box = None
                if x.size:
                    # The take's box stays inside its own lane row.
                    box = QGraphicsRectItem(QRectF(first, -(k + 1) + 0.04, end - first, 0.92))
                    selected = item.id == self.selected_item
                    box.setBrush(
                        pg.mkBrush(colour.red(), colour.green(), colour.blue(), 70 if selected else 25)
                    )
                    box.setPen(_box_pen(selected))
                    box.setZValue(-10)
                    self.addItem(box)
                    self._items.append(box)
                self._spans.append((item.id, k, first, end, wave, box))
        self.plotItem.getAxis("left").setTicks([ticks, []])

    def lane_at(self, y: float) -> str | None:
        k = int(np.floor(-y))
        return self.lane_names[k] if 0 <= k < len(self.lane_names) else None

    def item_at(self, x: float, y: float) -> str | None:
        """Id of the placed take drawn under view point (x, y) (the one drawn last wins)."""
        row = int(np.floor(-y))
        for item_id, k, start, end, *_ in reversed(self._spans):
            if k == row and start <= x <= end:
                return item_id
        return None

    def _item_click(self, x: float, y: float) -> bool:
        hit = self.item_at(x, y)
        if hit is None and self.selected_item is None:
            return False
        self.select_item(hit)
        return hit is not None

    def select_item(self, item_id: str | None) -> None:
        if item_id == self.selected_item:
            return
        self.selected_item = item_id
        for sid, _, _, _, _, box in self._spans:
            if box is not None:
                on = sid == item_id
                brush = box.brush().color()
                brush.setAlpha(70 if on else 25)
                box.setBrush(brush)
                box.setPen(_box_pen(on))
        self.item_selected.emit(item_id)

    def _item_drag(self, phase: str, x: float, y: float) -> bool:
        """Drag of a placed take: the view previews the move; the release emits ``item_moved`` once."""
        if phase == "start":
            hit = self.item_at(x, y)
            span = next((s for s in self._spans if s[0] == hit), None)
            self._grab = None if span is None else {"x0": x, "span": span, "offset": span[2]}
            if span is not None:
                self.select_item(span[0])
            return self._grab is not None
        g = self._grab
        if g is None:
            return False
        item_id, _, _, _, wave, box = g["span"]
        start = self._offsets.get(item_id, 0.0)  # the take's first sample (trims do not move it)
        g["offset"] = max(0.0, self.snap_time(start + x - g["x0"]))
        dx = g["offset"] - start if phase != "finish" else 0.0
        wave.setPos(dx, 0.0)
        if box is not None:
            box.setPos(dx, 0.0)
        if phase == "finish":
            self._grab = None
            if abs(g["offset"] - start) > 1e-9:
                self.item_moved.emit(item_id, g["offset"])
        return True

    def dragEnterEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasFormat(TAKE_MIME):
            ev.acceptProposedAction()
        else:
            super().dragEnterEvent(ev)

    def dragMoveEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasFormat(TAKE_MIME):
            ev.acceptProposedAction()
        else:
            super().dragMoveEvent(ev)

    def dropEvent(self, ev: Any) -> None:  # noqa: N802
        data: QMimeData = ev.mimeData()
        if not data.hasFormat(TAKE_MIME):
            super().dropEvent(ev)
            return
        take_id = bytes(data.data(TAKE_MIME).data()).decode()
        pos = self._vb.mapSceneToView(self.mapToScene(ev.position().toPoint()))
        lane = self.lane_at(pos.y())
        if lane is not None:
            self.take_dropped.emit(take_id, lane, max(0.0, pos.x()))
            ev.acceptProposedAction()


class RulerStrip(pg.PlotWidget):
    """Timecode ruler over a strip of thumbnails."""

    scrub = Signal(float)

    def __init__(self, formatter: Callable[[float], str], parent: QWidget | None = None) -> None:
        self._vb = _ScrubViewBox(lambda t: self.scrub.emit(t))
        axis = TimecodeAxis(formatter, "top")
        super().__init__(parent, viewBox=self._vb, axisItems={"top": axis}, background="#17181a")
        self.plotItem.hideButtons()
        self.plotItem.setMenuEnabled(False)
        self.plotItem.showAxis("top")
        self.plotItem.setContentsMargins(0, 0, 0, 0)
        self.plotItem.hideAxis("bottom")
        self.plotItem.getAxis("left").setWidth(AXIS_WIDTH)
        self.plotItem.getAxis("left").setStyle(showValues=False)
        self._vb.setYRange(0, 1, padding=0)
        self._thumbs: list[pg.ImageItem] = []
        self._markers: list[pg.InfiniteLine] = []
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=True, pen=pg.mkPen("#ffd54f", width=2))
        self.playhead.sigDragged.connect(lambda line: self.scrub.emit(float(line.value())))
        self.addItem(self.playhead)
        self.setFixedHeight(72)

    def set_markers(self, markers: list[tuple[float, str]]) -> None:
        """Markers as labelled lines over the thumbnails."""
        for line in self._markers:
            self.removeItem(line)
        self._markers = []
        for k, (t, name) in enumerate(markers):
            line = pg.InfiniteLine(
                pos=t,
                angle=90,
                movable=False,
                pen=pg.mkPen("#ef5350", width=2),
                label=name or str(k + 1),
                labelOpts={"position": 0.85, "color": "#ffffff", "fill": (160, 40, 40, 200)},
            )
            self.addItem(line)
            self._markers.append(line)

    def set_thumbnails(self, images: list[np.ndarray], duration_s: float) -> None:
        for item in self._thumbs:
            self.removeItem(item)
        self._thumbs = []
        if not images or duration_s <= 0:
            return
        width = duration_s / len(images)
        for k, img in enumerate(images):
            # ImageItem wants [x, y, rgb] with y up: transpose and flip the rows.
            item = pg.ImageItem(np.ascontiguousarray(np.transpose(img[::-1], (1, 0, 2))))
            item.setRect(pg.QtCore.QRectF(k * width, 0.0, width, 1.0))
            item.setZValue(-20)
            self.addItem(item)
            self._thumbs.append(item)


class Timeline(QWidget):
    scrub = Signal(float)

    def __init__(
        self, project: Any, formatter: Callable[[float], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.ruler = RulerStrip(formatter)
        self.curve_editor = CurveEditor(project)
        self.lanes = LanesView()
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setObjectName("timelineScroll")
        self.scrollbar.setToolTip("Scroll the timeline (zoom with = and -, fit with Ctrl+0)")
        self.scrollbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.duration_s = 0.0
        layout.addWidget(self.ruler)
        layout.addWidget(self.curve_editor, 3)
        layout.addWidget(self.lanes, 2)
        layout.addWidget(self.scrollbar)
        master = self.curve_editor.viewbox
        master.sigXRangeChanged.connect(lambda *_: self._sync_scrollbar())
        self.scrollbar.valueChanged.connect(self._on_scroll)
        self.ruler.getViewBox().setXLink(master)
        self.lanes.getViewBox().setXLink(master)
        self.ruler.scrub.connect(self.scrub)
        self.lanes.scrub.connect(self.scrub)
        self.curve_editor.playhead_moved.connect(self.scrub)

    def set_duration(self, duration_s: float) -> None:
        self.duration_s = max(0.0, float(duration_s))
        if duration_s > 0:
            vb = self.curve_editor.viewbox
            for box in (vb, self.ruler.getViewBox(), self.lanes.getViewBox()):
                box.setLimits(xMin=0, xMax=duration_s)
            vb.setXRange(0, duration_s, padding=0)
        self._sync_scrollbar()

    # ---- zoom and scroll --------------------------------------------------------------------------------
    def visible_range(self) -> tuple[float, float]:
        lo, hi = self.curve_editor.viewbox.viewRange()[0]
        return float(lo), float(hi)

    def zoom(self, factor: float, centre: float | None = None) -> None:
        """Zoom the shared x axis by ``factor`` (> 1 zooms in) around ``centre`` (the playhead)."""
        if self.duration_s <= 0:
            return
        lo, hi = self.visible_range()
        c = (lo + hi) / 2 if centre is None else min(max(centre, lo), hi)
        width = min(self.duration_s, max(0.05, (hi - lo) / factor))
        start = min(max(0.0, c - (c - lo) * width / (hi - lo)), self.duration_s - width)
        self.curve_editor.viewbox.setXRange(start, start + width, padding=0)

    def zoom_fit(self) -> None:
        if self.duration_s > 0:
            self.curve_editor.viewbox.setXRange(0, self.duration_s, padding=0)

    def _sync_scrollbar(self) -> None:
        lo, hi = self.visible_range()
        ms = int(self.duration_s * 1000)
        page = int(max(1.0, (hi - lo) * 1000))
        self.scrollbar.blockSignals(True)
        self.scrollbar.setRange(0, max(0, ms - page))
        self.scrollbar.setPageStep(page)
        self.scrollbar.setSingleStep(max(1, page // 10))
        self.scrollbar.setValue(int(lo * 1000))
        self.scrollbar.blockSignals(False)

    def _on_scroll(self, value: int) -> None:
        lo, hi = self.visible_range()
        start = value / 1000.0
        self.curve_editor.viewbox.setXRange(start, start + (hi - lo), padding=0)

    def set_playhead(self, t: float) -> None:
        self.ruler.playhead.setValue(t)
        self.lanes.playhead.setValue(t)
        self.curve_editor.set_playhead(t)
