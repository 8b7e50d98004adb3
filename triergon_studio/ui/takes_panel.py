"""The takes list (name, seed, prompt, duration, integrated loudness, true peak) and the lane mixer."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from triergon_studio.ui.timeline import TAKE_MIME

COLUMNS = ("Name", "Seed", "Prompt", "Duration", "Integrated", "True peak")


def _num(value: Any, fmt: str, unit: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "…"
    return f"{v:{fmt}} {unit}" if math.isfinite(v) else f"-inf {unit}"


def settings_words(take: Any) -> str:
    """How the take was made, in one tooltip: model, steps, CFG, sampler, curve following, init audio."""
    s = take.settings
    if s is None:
        return take.name
    parts = [
        f"model {s.model}",
        f"{s.steps} steps" if s.steps is not None else "",
        f"CFG {s.cfg:g}" if s.cfg is not None else "",
        str(s.sampler or ""),
        f"follow curves: {s.follow_curves}" if s.follow_curves else "",
    ]
    init = take.prompts.init_audio if take.prompts is not None else None
    if init is not None:
        noise = f" at noise {s.init_noise:g}" if s.init_noise is not None else ""
        parts.append(f"varied from {init.path.replace(chr(92), '/').split('/')[-1]}{noise}")
    return f"{take.name}: " + ", ".join(p for p in parts if p)


class TakesTree(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("takesList")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.setColumnWidth(0, 120)
        self.setColumnWidth(1, 70)
        self.setColumnWidth(2, 150)
        # Right-click the header to choose the columns (the window saves the choice).
        header = self.header()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)

    def _column_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        for k, name in enumerate(COLUMNS):
            act = menu.addAction(name)
            act.setCheckable(True)
            act.setChecked(not self.isColumnHidden(k))
            act.setEnabled(k != 0)  # the name always shows
            act.toggled.connect(lambda on, c=k: self.setColumnHidden(c, not on))
        menu.popup(self.header().mapToGlobal(pos))

    def startDrag(self, actions: Any) -> None:  # noqa: N802 - Qt override
        item = self.currentItem()
        if item is None:
            return
        mime = QMimeData()
        mime.setData(TAKE_MIME, item.data(0, Qt.ItemDataRole.UserRole).encode())
        mime.setText(item.text(0))
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


class TakesPanel(QWidget):
    take_selected = Signal(object)  # take id or None
    rename_requested = Signal(str, str)
    delete_requested = Signal(str)
    place_requested = Signal(str)  # put the take on the first lane at 0 s
    regenerate_requested = Signal(str)
    vary_requested = Signal(str)  # new takes from this take as init audio

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = TakesTree()
        layout.addWidget(self.tree)
        row = QHBoxLayout()
        self.place_button = QPushButton("Place on lane")
        self.place_button.setToolTip("Put the take on the first lane at the start (or drag it onto a lane)")
        self.rename_button = QPushButton("Rename")
        self.delete_button = QPushButton("Delete")
        for b in (self.place_button, self.rename_button, self.delete_button):
            row.addWidget(b)
        layout.addLayout(row)
        self._stats: dict[str, tuple[float, float]] = {}
        self._filling = False
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.place_button.clicked.connect(lambda: self._emit_for_current(self.place_requested))
        self.rename_button.clicked.connect(self._start_rename)
        self.delete_button.clicked.connect(lambda: self._emit_for_current(self.delete_requested))
        # Right-click a take: its commands (the same as the Generate menu's, for this take).
        # (QWidget.addAction(text): no QAction class in this module, whose signals test_worker checks for bool.)
        self.vary_action = self.tree.addAction("Vary this take")
        self.vary_action.setObjectName("varyTakeAction")
        self.vary_action.setToolTip("Generate new takes that start from this one (init audio)")
        self.vary_action.triggered.connect(lambda: self._emit_for_current(self.vary_requested))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def hidden_columns(self) -> list[int]:
        return [k for k in range(len(COLUMNS)) if self.tree.isColumnHidden(k)]

    def set_hidden_columns(self, columns: list[int]) -> None:
        for k in range(1, len(COLUMNS)):
            self.tree.setColumnHidden(k, k in columns)

    def current_take_id(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def set_stats(self, take_id: str, integrated: float, true_peak: float) -> None:
        self._stats[take_id] = (integrated, true_peak)
        for k in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(k)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == take_id:
                self._filling = True
                item.setText(4, _num(integrated, ".1f", "LUFS"))
                item.setText(5, _num(true_peak, ".1f", "dBTP"))
                self._filling = False

    def stats(self, take_id: str) -> tuple[float, float] | None:
        return self._stats.get(take_id)

    def show_takes(self, takes: list[Any]) -> None:
        current = self.current_take_id()
        self._filling = True
        self.tree.clear()
        chosen = None
        for take in takes:
            seed = take.settings.seed if take.settings is not None else take.metadata.get("seed", "")
            prompt = take.prompts.text if take.prompts is not None else ""
            item = QTreeWidgetItem([take.name, str(seed), prompt, f"{take.duration_s:.2f} s", "…", "…"])
            item.setData(0, Qt.ItemDataRole.UserRole, take.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled)
            item.setToolTip(2, prompt)
            item.setToolTip(0, settings_words(take))
            stats = self._stats.get(take.id)
            if stats is not None:
                item.setText(4, _num(stats[0], ".1f", "LUFS"))
                item.setText(5, _num(stats[1], ".1f", "dBTP"))
            self.tree.addTopLevelItem(item)
            if take.id == current:
                chosen = item
        self._filling = False
        if chosen is not None:
            self.tree.setCurrentItem(chosen)
        elif current is not None:
            self.take_selected.emit(None)

    def select(self, take_id: str) -> None:
        for k in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(k)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == take_id:
                self.tree.setCurrentItem(item)
                return

    def _on_current(self, item: QTreeWidgetItem | None, _prev: Any) -> None:
        if not self._filling:
            self.take_selected.emit(None if item is None else item.data(0, Qt.ItemDataRole.UserRole))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0:
            return
        self.rename_requested.emit(item.data(0, Qt.ItemDataRole.UserRole), item.text(0).strip())

    def _start_rename(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.tree.editItem(item, 0)

    def _emit_for_current(self, signal: Any) -> None:
        take_id = self.current_take_id()
        if take_id is not None:
            signal.emit(take_id)


class LaneMixer(QWidget):
    """Mute, solo and gain per lane, plus the picture's own audio as an optional guide."""

    # Flags travel as int: PySide6 6.12 drops a reference to True on every Python emit of a bool argument,
    # which aborts the interpreter after enough emits (see tests/ui/test_worker.py).
    lane_changed = Signal(str, int, int, float)  # name, mute, solo, gain_db
    guide_changed = Signal(int, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("laneMixer")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self._rows: list[tuple[str, QCheckBox, QCheckBox, QDoubleSpinBox]] = []
        self.guide = QCheckBox("Video's own audio as guide")
        self.guide.setEnabled(False)
        self.guide_gain = QDoubleSpinBox()
        self.guide_gain.setRange(-60, 12)
        self.guide_gain.setValue(-12.0)
        self.guide_gain.setSuffix(" dB")
        self.guide.toggled.connect(lambda on: self.guide_changed.emit(int(on), self.guide_gain.value()))
        self.guide_gain.valueChanged.connect(
            lambda v: self.guide_changed.emit(int(self.guide.isChecked()), v)
        )

    def show_lanes(self, lanes: list[Any]) -> None:
        while self.grid.count():
            taken = self.grid.takeAt(0)
            w = taken.widget() if taken is not None else None
            if w is not None and w not in (self.guide, self.guide_gain):
                w.deleteLater()
        self._rows = []
        for k, lane in enumerate(lanes):
            name = QLabel(lane.name)
            mute = QCheckBox("M")
            mute.setChecked(lane.mute)
            solo = QCheckBox("S")
            solo.setChecked(lane.solo)
            gain = QDoubleSpinBox()
            gain.setRange(-60.0, 12.0)
            gain.setSuffix(" dB")
            gain.setValue(lane.gain_db)
            gain.setKeyboardTracking(False)
            for w, col in ((name, 0), (mute, 1), (solo, 2), (gain, 3)):
                self.grid.addWidget(w, k, col)
            row = (lane.name, mute, solo, gain)
            self._rows.append(row)
            mute.toggled.connect(lambda *_a, r=row: self._emit(r))
            solo.toggled.connect(lambda *_a, r=row: self._emit(r))
            gain.valueChanged.connect(lambda *_a, r=row: self._emit(r))
        n = len(lanes)
        self.grid.addWidget(self.guide, n, 0, 1, 3)
        self.grid.addWidget(self.guide_gain, n, 3)

    def _emit(self, row: tuple[str, QCheckBox, QCheckBox, QDoubleSpinBox]) -> None:
        name, mute, solo, gain = row
        self.lane_changed.emit(name, int(mute.isChecked()), int(solo.isChecked()), gain.value())
