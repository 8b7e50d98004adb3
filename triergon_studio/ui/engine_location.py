"""The "Engine location" setting: this computer (in the app's process) or a Ray cluster at an address.

Stored in the app's ``QSettings`` under ``engine/location`` as the text ``cluster.remote.EngineLocation``
parses ("" = this computer). The dialog validates the address before it is kept; connecting happens on the
next generation (on the worker thread), so a wrong or silent server never freezes the window.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from triergon_studio.cluster import ClusterError
from triergon_studio.cluster.remote import EngineLocation

SETTINGS_KEY = "engine/location"
THIS_COMPUTER, RAY_CLUSTER = "This computer", "A Ray cluster at…"


def load_location(settings: QSettings) -> EngineLocation:
    try:
        return EngineLocation.parse(str(settings.value(SETTINGS_KEY, "") or ""))
    except ClusterError:  # a setting from a newer or hand-edited file: fall back to the safe default
        return EngineLocation()


def save_location(settings: QSettings, location: EngineLocation) -> None:
    settings.setValue(SETTINGS_KEY, location.address)


class EngineLocationDialog(QDialog):
    def __init__(self, location: EngineLocation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engine location")
        self.kind = QComboBox()
        self.kind.addItems([THIS_COMPUTER, RAY_CLUSTER])
        self.address = QLineEdit(location.address)
        self.address.setPlaceholderText("gpu-server:6379  or  ray://gpu-server:10001")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #e06c75")
        form = QFormLayout(self)
        form.addRow("Generate on", self.kind)
        form.addRow("Address", self.address)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.kind.currentIndexChanged.connect(self._sync)
        self.kind.setCurrentIndex(0 if location.is_local else 1)
        self._sync()
        self.result_location = location

    def _sync(self) -> None:
        self.address.setEnabled(self.kind.currentIndex() == 1)
        self.error.setText("")

    def chosen(self) -> EngineLocation:
        """The location in the fields; ``ClusterError`` (one line) for an address that cannot be one."""
        if self.kind.currentIndex() == 0:
            return EngineLocation()
        return EngineLocation.parse(self.address.text())

    def accept(self) -> None:
        try:
            self.result_location = self.chosen()
        except ClusterError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
