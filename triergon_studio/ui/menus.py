"""The menu bar, built from a table of (shortcut id, slot) per menu; the keys come from the ``ShortcutMap``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from triergon_studio.ui.shortcuts import BY_ID, ShortcutMap


@dataclass(frozen=True, slots=True)
class Item:
    """A menu entry: a command of the shortcut map (``id``), or a plain entry with its own ``label``."""

    id: str
    slot: Callable[[], object]
    label: str = ""
    name: str = ""  # objectName, for tests and automation


MenuSpec = Sequence[Item | None | QMenu | QAction]  # None = separator


def build_menu(bar: QMenuBar, title: str, items: MenuSpec, shortcuts: ShortcutMap, owner: QWidget) -> QMenu:
    menu = bar.addMenu(title)
    for item in items:
        if item is None:
            menu.addSeparator()
        elif isinstance(item, QMenu):
            menu.addMenu(item)
        elif isinstance(item, QAction):
            menu.addAction(item)
        else:
            act = QAction(item.label or BY_ID[item.id].label, owner)
            act.triggered.connect(lambda _=False, f=item.slot: f())
            if item.name:
                act.setObjectName(item.name)
            if item.id in BY_ID:
                shortcuts.bind(item.id, act)
            menu.addAction(act)
            owner.addAction(act)  # keys work while the menu bar is hidden or the window has no menu focus
    return menu


def action(menu: QMenu, name: str) -> QAction:
    for act in menu.actions():
        if act.objectName() == name:
            return act
    raise KeyError(name)
