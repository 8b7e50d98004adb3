"""The keyboard map: DAW habits by default, editable in Help > Shortcuts, saved in the app's settings.

Single keys (Space, J/K/L, I/O, M ...) are window shortcuts, so they work wherever the focus is, except in a
text field: Qt gives a text field the keys it types (``ShortcutOverride``), and Esc leaves the field
(``KeyboardGuard``), after which Space plays again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True, slots=True)
class ShortcutDef:
    id: str
    label: str
    group: str
    default: str  # QKeySequence portable text; "" = none


DEFAULTS: tuple[ShortcutDef, ...] = (
    ShortcutDef("file.new", "New project from video", "File", "Ctrl+N"),
    ShortcutDef("file.open", "Open project", "File", "Ctrl+O"),
    ShortcutDef("file.save", "Save", "File", "Ctrl+S"),
    ShortcutDef("file.save_as", "Save as", "File", "Ctrl+Shift+S"),
    ShortcutDef("file.export", "Export", "File", "Ctrl+E"),
    ShortcutDef("file.quit", "Quit", "File", "Ctrl+Q"),
    ShortcutDef("edit.undo", "Undo", "Edit", "Ctrl+Z"),
    ShortcutDef("edit.redo", "Redo", "Edit", "Ctrl+Shift+Z"),
    ShortcutDef("transport.play", "Play / stop", "Transport", "Space"),
    ShortcutDef("transport.back", "Shuttle back", "Transport", "J"),
    ShortcutDef("transport.pause", "Pause", "Transport", "K"),
    ShortcutDef("transport.forward", "Shuttle forward", "Transport", "L"),
    ShortcutDef("transport.step_back", "Step back one frame", "Transport", "Left"),
    ShortcutDef("transport.step_forward", "Step forward one frame", "Transport", "Right"),
    ShortcutDef("transport.home", "Go to start", "Transport", "Home"),
    ShortcutDef("transport.end", "Go to end", "Transport", "End"),
    ShortcutDef("transport.loop", "Loop the in/out region", "Transport", "Ctrl+L"),
    ShortcutDef("edit.mark_in", "Mark in (region start at the playhead)", "Edit", "I"),
    ShortcutDef("edit.mark_out", "Mark out (region end at the playhead)", "Edit", "O"),
    ShortcutDef("edit.marker", "Add a marker at the playhead", "Edit", "M"),
    ShortcutDef("edit.prev_marker", "Go to the previous marker", "Edit", "Ctrl+Left"),
    ShortcutDef("edit.next_marker", "Go to the next marker", "Edit", "Ctrl+Right"),
    ShortcutDef("edit.nudge_left", "Nudge the selected placed take one frame earlier", "Edit", "Alt+Left"),
    ShortcutDef("edit.nudge_right", "Nudge the selected placed take one frame later", "Edit", "Alt+Right"),
    ShortcutDef("edit.trim_start", "Trim the selected placed take's start to the playhead", "Edit", "["),
    ShortcutDef("edit.trim_end", "Trim the selected placed take's end to the playhead", "Edit", "]"),
    ShortcutDef("edit.fade_in", "Fade the selected placed take in up to the playhead", "Edit", "Ctrl+["),
    ShortcutDef("edit.fade_out", "Fade the selected placed take out from the playhead", "Edit", "Ctrl+]"),
    ShortcutDef(
        "edit.remove_item", "Remove the selected placed take from its lane", "Edit", "Ctrl+Backspace"
    ),
    ShortcutDef("view.zoom_in", "Zoom in", "View", "="),
    ShortcutDef("view.zoom_out", "Zoom out", "View", "-"),
    ShortcutDef("view.zoom_fit", "Zoom to fit", "View", "Ctrl+0"),
    ShortcutDef("view.focus_prompt", "Edit the text prompt", "View", "Ctrl+T"),
    ShortcutDef("generate.run", "Generate", "Generate", "Ctrl+Return"),
    ShortcutDef("generate.cancel", "Cancel generation", "Generate", "Ctrl+."),
    ShortcutDef("generate.region", "Regenerate region", "Generate", "Ctrl+Shift+Return"),
    ShortcutDef("generate.vary", "Vary the selected take (it becomes the init audio)", "Generate", ""),
    ShortcutDef("generate.predict", "Predict curves from video", "Generate", "Ctrl+Shift+P"),
    ShortcutDef("generate.predict_motion", "Predict curves from motion", "Generate", "Ctrl+Alt+P"),
    ShortcutDef("generate.measure", "Measure curves from reference audio", "Generate", "Ctrl+Shift+M"),
    ShortcutDef("help.shortcuts", "Keyboard shortcuts", "Help", "F1"),
)
BY_ID = {d.id: d for d in DEFAULTS}
# Ctrl+Enter on the keypad generates too (not editable: it is the same command as Ctrl+Return).
EXTRA_KEYS = {"generate.run": ("Ctrl+Enter",), "generate.region": ("Ctrl+Shift+Enter",)}


class ShortcutMap:
    """The user's keys over the defaults, stored as ``shortcuts/<id>`` in ``QSettings``."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings
        self.actions: dict[str, QAction] = {}

    def key(self, action_id: str) -> str:
        stored = self.settings.value(f"shortcuts/{action_id}")
        return BY_ID[action_id].default if stored is None else str(stored)

    def keys(self) -> dict[str, str]:
        return {d.id: self.key(d.id) for d in DEFAULTS}

    def set_keys(self, keys: dict[str, str]) -> None:
        """Save ``keys`` (only those that differ from the default) and apply them to the bound actions."""
        for action_id, key in keys.items():
            if action_id not in BY_ID:
                raise KeyError(f"unknown shortcut {action_id!r}")
            if key == BY_ID[action_id].default:
                self.settings.remove(f"shortcuts/{action_id}")
            else:
                self.settings.setValue(f"shortcuts/{action_id}", key)
        self.settings.sync()
        for action_id in keys:
            self._apply(action_id)

    def reset(self) -> None:
        self.set_keys({d.id: d.default for d in DEFAULTS})

    def bind(self, action_id: str, action: QAction) -> None:
        self.actions[action_id] = action
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._apply(action_id)

    def _apply(self, action_id: str) -> None:
        action = self.actions.get(action_id)
        if action is None:
            return
        seqs = [QKeySequence(k) for k in (self.key(action_id), *EXTRA_KEYS.get(action_id, ())) if k]
        action.setShortcuts(seqs)
        tip = action.text().replace("&", "")
        action.setToolTip(
            f"{tip} ({seqs[0].toString(QKeySequence.SequenceFormat.NativeText)})" if seqs else tip
        )


def conflicts(keys: dict[str, str]) -> dict[str, list[str]]:
    """Key -> the actions that share it (only keys used more than once)."""
    seen: dict[str, list[str]] = {}
    for action_id, key in keys.items():
        if key:
            norm = QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)
            seen.setdefault(norm, []).append(action_id)
    return {k: v for k, v in seen.items() if len(v) > 1}


class ShortcutsDialog(QDialog):
    """Help > Shortcuts: every command, its key, editable; OK saves (conflicts are refused)."""

    def __init__(
        self, shortcut_map: ShortcutMap, extra: list[tuple[str, str]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.map = shortcut_map
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "Click a key to change it, then press the new key. Single keys do not fire while "
                "you type in a text field; Esc leaves the field."
            )
        )
        self.table = QTableWidget(len(DEFAULTS) + len(extra), 3)
        self.table.setHorizontalHeaderLabels(["Group", "Command", "Key"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.edits: dict[str, QKeySequenceEdit] = {}
        keys = shortcut_map.keys()
        for row, d in enumerate(DEFAULTS):
            self.table.setItem(row, 0, QTableWidgetItem(d.group))
            self.table.setItem(row, 1, QTableWidgetItem(d.label))
            edit = QKeySequenceEdit(QKeySequence(keys[d.id]))
            edit.setMaximumSequenceLength(1)
            edit.setObjectName(f"shortcut:{d.id}")
            self.table.setCellWidget(row, 2, edit)
            self.edits[d.id] = edit
        for k, (label, key) in enumerate(extra):  # fixed keys (curve tools, curve edits): shown, not edited
            row = len(DEFAULTS) + k
            self.table.setItem(row, 0, QTableWidgetItem("Curves"))
            self.table.setItem(row, 1, QTableWidgetItem(label))
            self.table.setItem(row, 2, QTableWidgetItem(key))
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        self.message = QLabel("")
        self.message.setObjectName("shortcutsMessage")
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        defaults = QPushButton("Restore defaults")
        buttons.addButton(defaults, QDialogButtonBox.ButtonRole.ResetRole)
        defaults.clicked.connect(self.restore_defaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 560)

    def chosen(self) -> dict[str, str]:
        return {
            aid: e.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            for aid, e in self.edits.items()
        }

    def restore_defaults(self) -> None:
        for aid, edit in self.edits.items():
            edit.setKeySequence(QKeySequence(BY_ID[aid].default))

    def accept(self) -> None:
        keys = self.chosen()
        clash = conflicts(keys)
        if clash:
            key, ids = next(iter(clash.items()))
            self.message.setText(
                f"{key} is used by: " + ", ".join(BY_ID[i].label for i in ids) + ". Change one."
            )
            return
        self.map.set_keys(keys)
        super().accept()


TEXT_FIELDS = (QLineEdit, QPlainTextEdit, QTextEdit, QAbstractSpinBox)


def is_text_field(widget: QWidget | None) -> bool:
    if widget is None:
        return False
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        return not widget.isReadOnly()
    return isinstance(widget, TEXT_FIELDS)


class KeyboardGuard(QObject):
    """App-wide filter: Esc leaves a text field (focus goes to ``park``), and the wheel over a spin box or a
    combo box that has no focus scrolls the panel instead of silently changing the value."""

    def __init__(self, window: QWidget, park: Callable[[], QWidget]) -> None:
        super().__init__(window)
        self.window = window
        self.park = park

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if (
            kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
            and isinstance(obj, QAbstractButton)
            and obj.hasFocus()
            and obj.window() is self.window
        ):
            obj.animateClick()  # Space plays everywhere, so Enter presses the focused button
            return True
        if kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape:
            focus = QApplication.focusWidget()
            if obj is focus and is_text_field(focus) and focus.window() is self.window:
                combo = focus.parentWidget()
                if isinstance(combo, QComboBox) and combo.view().isVisible():
                    return False  # Esc closes an open list first
                self.park().setFocus(Qt.FocusReason.ShortcutFocusReason)
                return True
        elif kind == QEvent.Type.Wheel and isinstance(event, QWheelEvent) and isinstance(obj, QWidget):
            box = obj if isinstance(obj, (QAbstractSpinBox, QComboBox)) else obj.parentWidget()
            if (
                isinstance(box, (QAbstractSpinBox, QComboBox))
                and not box.hasFocus()
                and box.window() is self.window
            ):
                parent = box.parentWidget()
                while parent is not None and not parent.inherits("QAbstractScrollArea"):
                    parent = parent.parentWidget()
                if parent is not None:
                    QApplication.sendEvent(
                        parent.viewport() if hasattr(parent, "viewport") else parent, event
                    )
                return True
        return False


def make_focusable_without_wheel(root: QWidget) -> None:
    """Spin boxes and combo boxes take focus by click or Tab, not by the wheel (``KeyboardGuard`` does the
    rest); tool buttons in tool bars join the Tab order, so every control is reachable from the keyboard."""
    for box in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox):
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    for bar in root.findChildren(QToolBar):
        for button in bar.findChildren(QToolButton):
            if button.objectName() != "qt_toolbar_ext_button":
                button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
