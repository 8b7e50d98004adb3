"""Help: the first-run guide (what the bundled model is, how to add a real one) and the log viewer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

GUIDE_KEY = "guide/dismissed"
GUIDE_TEXT = (
    "<b>Welcome.</b> The bundled model (<i>compact</i>) is a small <b>demonstration</b> trained here on a CPU "
    "with synthetic Foley: it shows the whole workflow, but it is <b>not a production model</b>. "
    "For a real model choose <b>Add model folder…</b> under Settings (our folder format, or a Stable Audio "
    "Open download). Space plays, I/O mark a region, Ctrl+Enter generates, F1 lists every key."
)


class FirstRunGuide(QFrame):
    """A dismissible panel over the picture; it stays dismissed (``guide/dismissed`` in the settings)."""

    dismissed = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunGuide")
        self.settings = settings
        layout = QVBoxLayout(self)
        text = QLabel(GUIDE_TEXT)
        text.setObjectName("guideText")
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.close_button = QPushButton("Got it")
        self.close_button.setObjectName("guideClose")
        self.close_button.clicked.connect(self.dismiss)
        row.addWidget(self.close_button)
        layout.addLayout(row)

    @staticmethod
    def wanted(settings: QSettings) -> bool:
        return str(settings.value(GUIDE_KEY, "false")).lower() != "true"

    def dismiss(self) -> None:
        self.settings.setValue(GUIDE_KEY, "true")
        self.hide()
        self.dismissed.emit()


class LogDialog(QDialog):
    """Help > Show log: the log's last lines, with a button that opens the file in the system's viewer."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logDialog")
        self.setWindowTitle(f"Log: {path}")
        self.path = path
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Errors and their details are written to {path}"))
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        open_button = QPushButton("Open the file")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        buttons.addButton(open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(820, 480)
        self.reload()

    def reload(self) -> None:
        try:
            data = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            data = "(nothing logged yet)"
        self.text.setPlainText(data[-200_000:] or "(nothing logged yet)")
        self.text.moveCursor(self.text.textCursor().MoveOperation.End)
