"""Drive a generator that yields progress and returns a result (stepwise decodes, reporting calls), for tests."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def drive(gen: Generator[T, Any, Any], between: Callable[[], None] | None = None) -> tuple[list[T], Any]:
    """Everything ``gen`` yields and what it returns; ``between()`` runs after each yield, in the caller's
    context (to check state that must hold between steps)."""
    seen: list[T] = []
    while True:
        try:
            seen.append(next(gen))
        except StopIteration as stop:
            return seen, stop.value
        if between is not None:
            between()
