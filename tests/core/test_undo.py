from __future__ import annotations

import pytest

from triergon_studio.core.events import Signal
from triergon_studio.core.undo import CallbackCommand, Command, UndoStack


class Append(Command):
    def __init__(self, target: list[int], value: int) -> None:
        super().__init__(f"append {value}")
        self.target, self.value = target, value

    def do(self) -> None:
        self.target.append(self.value)

    def undo(self) -> None:
        assert self.target.pop() == self.value


def test_signal_connect_emit_disconnect() -> None:
    sig = Signal("x")
    got: list[tuple] = []

    def slot(*args: object) -> None:
        got.append(args)

    sig.connect(slot)
    sig.connect(slot)  # once only
    sig.emit(1, "a")
    with sig.blocked():
        sig.emit(2)
    sig.disconnect(slot)
    sig.emit(3)
    sig.disconnect(slot)
    assert got == [(1, "a")]


def test_slot_may_disconnect_during_emit() -> None:
    sig = Signal()
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        sig.disconnect(first)

    sig.connect(first)
    sig.connect(lambda: calls.append("second"))
    sig.emit()
    sig.emit()
    assert calls == ["first", "second", "second"]


def test_push_undo_redo() -> None:
    data: list[int] = []
    stack = UndoStack()
    events: list[int] = []
    stack.changed.connect(lambda: events.append(stack.index))
    for v in range(3):
        stack.push(Append(data, v))
    assert data == [0, 1, 2] and stack.undo_text == "append 2"
    assert stack.undo() and stack.undo()
    assert data == [0] and stack.can_redo and stack.redo_text == "append 1"
    assert stack.redo()
    assert data == [0, 1]
    stack.push(Append(data, 9))  # drops the redo branch
    assert not stack.can_redo and data == [0, 1, 9]
    assert events and events[-1] == 3


def test_history_holds_at_least_200_steps() -> None:
    with pytest.raises(ValueError):
        UndoStack(limit=100)
    data: list[int] = []
    stack = UndoStack()
    for v in range(600):
        stack.push(Append(data, v))
    undone = 0
    while stack.undo():
        undone += 1
    assert undone == stack.limit >= 200
    assert data == list(range(600 - stack.limit))


def test_macro_is_one_step_and_nested() -> None:
    data: list[int] = []
    stack = UndoStack()
    stack.begin_macro("drag")
    for v in range(10):
        stack.push(Append(data, v))
    stack.begin_macro("inner")
    stack.push(Append(data, 99))
    stack.end_macro()
    assert not stack.can_undo  # no undo in the middle of a gesture
    stack.end_macro()
    assert len(stack) == 1 and stack.undo_text == "drag"
    stack.undo()
    assert data == []
    stack.redo()
    assert data == [*range(10), 99]


def test_empty_macro_leaves_no_step_and_failed_macro_rolls_back() -> None:
    data: list[int] = []
    stack = UndoStack()
    stack.begin_macro("click")
    stack.end_macro()
    assert len(stack) == 0
    with pytest.raises(RuntimeError), stack.macro("bad"):
        stack.push(Append(data, 1))
        raise RuntimeError("boom")
    assert data == [] and len(stack) == 0
    with pytest.raises(RuntimeError):
        stack.end_macro()


def test_failed_do_records_nothing() -> None:
    stack = UndoStack()

    def fail() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        stack.push(CallbackCommand("x", fail, lambda: None))
    assert len(stack) == 0


def test_clean_state() -> None:
    data: list[int] = []
    stack = UndoStack()
    assert stack.is_clean
    stack.push(Append(data, 1))
    assert not stack.is_clean
    stack.set_clean()
    stack.push(Append(data, 2))
    stack.undo()
    assert stack.is_clean
    stack.undo()
    stack.push(Append(data, 3))  # the saved state is gone for good
    assert not stack.is_clean
    stack.undo()
    assert not stack.is_clean
