"""A plain-Python observer, so the project can notify views without knowing about Qt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Signal:
    """``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``. Slots run in connection order, synchronously.

    A slot that disconnects itself (or another) while the signal is emitting is safe: emit walks a copy.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._slots: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn not in self._slots:
            self._slots.append(fn)
        return fn

    def disconnect(self, fn: Callable[..., Any] | None = None) -> None:
        """Remove ``fn`` (or every slot when None). Disconnecting a slot that is not connected is a no-op."""
        if fn is None:
            self._slots.clear()
        elif fn in self._slots:
            self._slots.remove(fn)

    def emit(self, *args: Any) -> None:
        if self._blocked:
            return
        for fn in list(self._slots):
            fn(*args)

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Silence the signal for a batch of changes (the caller emits once afterwards)."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {len(self._slots)} slots)"
