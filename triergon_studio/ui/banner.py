"""A message strip at the top of the main window (errors, no audio device).

Each message has a key naming its condition ("video", "audio", "job", ...). ``clear(key)`` removes it when
the condition clears, so a banner never outlives what it reports; the newest remaining message is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget


class Banner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel("")
        self.label.setObjectName("bannerText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setObjectName("bannerClose")
        close.setText("✕")
        close.setToolTip("Dismiss this message")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self._messages: dict[str, tuple[str, str]] = {}  # key -> (text, kind), in insertion order
        self.hide()

    def show_message(self, text: str, kind: str = "error", key: str = "error") -> None:
        self._messages.pop(key, None)
        self._messages[key] = (text, kind)
        self._show_last()

    def clear(self, key: str) -> None:
        if self._messages.pop(key, None) is not None:
            self._show_last()

    def dismiss(self) -> None:
        """The close button: drop the message shown now (an older one, if any, comes back)."""
        if self._messages:
            self._messages.pop(next(reversed(self._messages)))
        self._show_last()

    def keys(self) -> list[str]:
        return list(self._messages)

    def _show_last(self) -> None:
        if not self._messages:
            self.label.setText("")
            self.hide()
            return
        text, kind = self._messages[next(reversed(self._messages))]
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
