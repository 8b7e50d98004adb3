"""Transport bar: buttons, timecode, shuttle speed, loop and the output-device chooser."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class TransportBar(QWidget):
    device_chosen = Signal(object)

    def __init__(self, transport: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transportBar")
        self.transport = transport
        # Two rows so the bar fits a laptop screen: transport and time above, device and file actions below.
        rows = QVBoxLayout(self)
        rows.setContentsMargins(4, 2, 4, 2)
        rows.setSpacing(2)
        row = QHBoxLayout()
        self.row = QHBoxLayout()
        rows.addLayout(row)
        rows.addLayout(self.row)

        def button(text: str, tip: str, slot: Any, name: str = "") -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFixedWidth(40)
            b.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable with Tab
            if name:
                b.setObjectName(name)
            b.clicked.connect(slot)
            row.addWidget(b)
            return b

        self.home_button = button("|◀◀", "Go to start (Home)", transport.home)
        self.back_button = button("◀◀", "Shuttle back (J)", transport.shuttle_back)
        self.step_back_button = button("◀|", "Step one frame back (Left)", lambda: transport.step(-1))
        self.play_button = button("▶", "Play / stop (Space)", transport.toggle, "playButton")
        self.play_button.setFixedWidth(48)
        self.step_fwd_button = button("|▶", "Step one frame forward (Right)", lambda: transport.step(1))
        self.fwd_button = button("▶▶", "Shuttle forward (L)", transport.shuttle_forward)
        self.end_button = button("▶▶|", "Go to end (End)", transport.end)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setToolTip("Loop the selected region (Ctrl+L)")
        self.loop_box.toggled.connect(transport.set_looping)
        row.addWidget(self.loop_box)
        self.timecode = QLabel("00:00:00:00")
        self.timecode.setObjectName("timecodeLabel")
        font = QFont("monospace")
        font.setPointSize(14)
        font.setBold(True)
        self.timecode.setFont(font)
        # Wide enough for HH:MM:SS:FF and HH:MM:SS.mmm: the time is never cut short.
        self.timecode.setMinimumWidth(self.timecode.fontMetrics().horizontalAdvance("00:00:00.000") + 20)
        row.addSpacing(4)
        row.addWidget(self.timecode)
        self.rate_label = QLabel("")
        row.addWidget(self.rate_label)
        row.addStretch(1)
        row = self.row
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip("Playback device (48 kHz)")
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.device_combo.setMinimumContentsLength(10)
        self.device_combo.activated.connect(lambda i: self.device_chosen.emit(self.device_combo.itemData(i)))
        row.addWidget(self.device_combo, 1)
        transport.playing_changed.connect(self._on_playing)

    def add_widget(self, widget: QWidget) -> None:
        self.row.addWidget(widget)

    def add_button(self, text: str, name: str, tip: str, slot: Any) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setToolTip(tip)
        b.clicked.connect(lambda: slot())
        self.row.addWidget(b)
        return b

    def set_devices(self, devices: list[Any], current: Any | None = None) -> None:
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItem("Default output", None)
        for d in devices:
            name = getattr(d, "name", None) or (d.get("name") if isinstance(d, dict) else str(d))
            index = getattr(d, "index", None)
            if index is None and isinstance(d, dict):
                index = d.get("index")
            self.device_combo.addItem(str(name), index if index is not None else name)
        if current is not None:
            k = self.device_combo.findData(current)
            if k >= 0:
                self.device_combo.setCurrentIndex(k)
        self.device_combo.blockSignals(False)

    def show_time(self, timecode: str) -> None:
        self.timecode.setText(timecode)
        metrics = self.timecode.fontMetrics()  # the style sheet's font, known once polished
        need = max(metrics.horizontalAdvance(timecode), metrics.horizontalAdvance("00:00:00.000")) + 24
        if need > self.timecode.minimumWidth():
            self.timecode.setMinimumWidth(need)
        rate = self.transport.rate
        self.rate_label.setText("" if not self.transport.playing or rate == 1.0 else f"{rate:+.0f}x")

    def _on_playing(self, playing: bool) -> None:
        self.play_button.setText("■" if playing else "▶")
