"""Undo as commands (one command per user gesture), in the style of QUndoStack but with no Qt.

A ``Command`` knows how to ``do()`` and ``undo()`` itself. ``UndoStack.push`` runs ``do()`` and records the
command; ``begin_macro``/``end_macro`` group everything pushed in between into one undo step, which is how a
whole mouse drag or a multi-part edit becomes a single Ctrl+Z.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from triergon_studio.core.events import Signal

DEFAULT_LIMIT = 500


class Command:
    """Base class: override ``do`` and ``undo``. ``text`` is what the Edit menu shows."""

    text: str = ""

    def __init__(self, text: str = "") -> None:
        if text:
            self.text = text

    def do(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError


class CallbackCommand(Command):
    """A command built from two callables (handy for small edits)."""

    def __init__(self, text: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        super().__init__(text)
        self._do, self._undo = do, undo

    def do(self) -> None:
        self._do()

    def undo(self) -> None:
        self._undo()


class MacroCommand(Command):
    """Children done in order and undone in reverse order."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.children: list[Command] = []

    def do(self) -> None:
        for child in self.children:
            child.do()

    def undo(self) -> None:
        for child in reversed(self.children):
            child.undo()


class UndoStack:
    """History of commands with a movable index; pushing after undo drops the redo branch."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 200:
            raise ValueError("the undo history must hold at least 200 steps")
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self._clean_index: int | None = 0
        self._macros: list[MacroCommand] = []
        self.revision = 0  # bumps on every change of state (used by autosave)
        self.changed = Signal("undo.changed")

    # --- queries
    @property
    def can_undo(self) -> bool:
        return self._index > 0 and not self._macros

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands) and not self._macros

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self._index > 0 else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self._index < len(self._commands) else ""

    @property
    def index(self) -> int:
        return self._index

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def in_macro(self) -> bool:
        return bool(self._macros)

    @property
    def is_clean(self) -> bool:
        return self._clean_index == self._index and not self._macros

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        self._clean_index = self._index
        self.changed.emit()

    def set_dirty(self) -> None:
        """Mark the current state as unsaved with no saved state in the history (a recovered autosave)."""
        self._clean_index = None
        self.changed.emit()

    # --- editing
    def push(self, command: Command) -> None:
        """Run ``command.do()`` and record it. If ``do`` raises, nothing is recorded."""
        command.do()
        if self._macros:
            self._macros[-1].children.append(command)
            self.revision += 1
            return
        self._record(command)

    def _record(self, command: Command) -> None:
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None  # the saved state was on the dropped redo branch
        self._commands.append(command)
        self._index += 1
        overflow = len(self._commands) - self.limit
        if overflow > 0:
            del self._commands[:overflow]
            self._index -= overflow
            if self._clean_index is not None:
                self._clean_index -= overflow
                if self._clean_index < 0:
                    self._clean_index = None
        self.revision += 1
        self.changed.emit()

    def begin_macro(self, text: str) -> None:
        self._macros.append(MacroCommand(text))

    def end_macro(self) -> None:
        if not self._macros:
            raise RuntimeError("end_macro without begin_macro")
        macro = self._macros.pop()
        if not macro.children:
            return  # an empty gesture (a click with no drag) leaves no undo step
        if self._macros:
            self._macros[-1].children.append(macro)
        else:
            self._record(macro)

    @contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """``with stack.macro("Draw curve"): ...`` -- undone as one step; rolled back if the body raises."""
        self.begin_macro(text)
        try:
            yield
        except BaseException:
            macro = self._macros.pop()
            macro.undo()
            raise
        self.end_macro()

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self._index -= 1
        self._commands[self._index].undo()
        self.revision += 1
        self.changed.emit()
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self._commands[self._index].do()
        self._index += 1
        self.revision += 1
        self.changed.emit()
        return True

    def clear(self) -> None:
        self._commands.clear()
        self._index = 0
        self._clean_index = 0
        self._macros.clear()
        self.revision += 1
        self.changed.emit()
