"""Shaped points ("keys") of the curve editor as plain data: which frames are keys, with which shape, and how
each edit re-renders the segments around them (SPEC §7; the rules are described in ``ui.curve_shapes_tool``).

Pure numpy on ``[2, F]`` LUFS arrays at the curve rate; the editor keeps the keys and pushes them with undo.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol

import numpy as np

from triergon_studio.core import curve_ops as ops
from triergon_studio.core.curve_shapes import Shape, ShapePoint, Wave, render_points, wave_span
from triergon_studio.core.undo import Command

Key = tuple[Shape, float]
Keys = tuple[dict[int, Key], dict[int, Key]]

SHAPE_LABELS = {
    Shape.LINEAR: "Linear",
    Shape.SQUARE: "Square (hold)",
    Shape.SLOW: "Slow start/end",
    Shape.FAST: "Fast start",
    Shape.BEZIER: "Bezier",
}


def empty_keys() -> Keys:
    return ({}, {})


def copy_keys(keys: Keys) -> Keys:
    return (dict(keys[0]), dict(keys[1]))


class KeyHolder(Protocol):
    """What holds the keys (the curve editor): read them, and set them (which redraws)."""

    shape_keys: Keys

    def set_shape_keys(self, keys: Keys) -> None: ...


class KeysCommand(Command):
    """Swaps the editor's shaped points (pushed next to ``project.set_curves`` in one macro)."""

    def __init__(self, editor: KeyHolder, new: Keys, text: str) -> None:
        super().__init__(text)
        self._editor = editor
        self._old, self._new = copy_keys(editor.shape_keys), copy_keys(new)

    def do(self) -> None:
        self._editor.set_shape_keys(copy_keys(self._new))

    def undo(self) -> None:
        self._editor.set_shape_keys(copy_keys(self._old))


def _depending_segments(keys: dict[int, Key], changed: set[int]) -> set[int]:
    """Start keys of the segments whose rendering depends on any key in ``changed``."""
    order = sorted(keys)
    pos = {k: i for i, k in enumerate(order)}
    starts: set[int] = set()
    for k in changed:
        i = pos.get(k)
        if i is None:
            continue
        starts.add(k)
        if i > 0:
            starts.add(order[i - 1])
        # A bezier segment's slopes look one key further either way.
        if i > 1 and keys[order[i - 2]][0] is Shape.BEZIER:
            starts.add(order[i - 2])
        if i + 1 < len(order) and keys[order[i + 1]][0] is Shape.BEZIER:
            starts.add(order[i + 1])
    return starts


def render_segments(row: np.ndarray, keys: dict[int, Key], rate: float, starts: set[int]) -> np.ndarray:
    """``row`` with the segments that leave the keys in ``starts`` re-rendered from the keys' values."""
    out = row.copy()
    order = sorted(k for k in keys if 0 <= k < row.shape[0])
    if len(order) < 2 or not starts:
        return out
    pts = [ShapePoint(k / rate, float(row[k]), keys[k][0], keys[k][1]) for k in order]
    full = render_points(pts, row.shape[0], rate)
    for a, b in zip(order, order[1:], strict=False):
        if a in starts:
            out[a:b] = full[a:b]
    return np.asarray(ops.clip_lufs(out), dtype=np.float64)


def apply_shape(
    values: np.ndarray, keys: Keys, sel: np.ndarray, shape: Shape | str, tension: float, rate: float
) -> tuple[np.ndarray, Keys]:
    """The selected frames become keys with ``shape``; their segments re-render."""
    shape = Shape(shape)
    out, new = values.copy(), copy_keys(keys)
    for ch in range(2):
        chosen = {int(i) for i in np.flatnonzero(sel[ch])} if sel.shape[1] == values.shape[1] else set()
        for i in chosen:
            new[ch][i] = (shape, float(tension))
        out[ch] = render_segments(values[ch], new[ch], rate, _depending_segments(new[ch], chosen))
    return out, new


def after_edit(
    edit: str, values: np.ndarray, base: np.ndarray, keys: Keys, rate: float, mask: np.ndarray | None = None
) -> tuple[np.ndarray, Keys]:
    """Keys and values after an edit of ``base`` into ``values`` (see the module docstring).

    ``edit`` is ``"follow"`` (moves), ``"add"`` (``mask`` marks the new points), ``"delete"`` (``mask``
    marks the deleted points) or ``"drop"`` (overwrites).
    """
    if edit not in ("follow", "add", "delete", "drop"):
        raise ValueError(f"unknown edit {edit!r}")
    if not keys[0] and not keys[1] and edit != "add":
        return values, keys
    out, new = values.copy(), copy_keys(keys)
    for ch in range(2):
        changed = {k for k in new[ch] if k < values.shape[1] and values[ch, k] != base[ch, k]}
        marked = {int(i) for i in np.flatnonzero(mask[ch])} if mask is not None else set()
        if edit == "drop":
            for k in changed:
                del new[ch][k]
            continue
        if edit == "delete":
            gone = marked & set(new[ch])
            for k in gone:
                del new[ch][k]
            # The surviving key before each deleted one now runs to the next surviving key.
            kept = sorted(new[ch])
            before = {kept[j - 1] for j in (bisect_left(kept, k) for k in gone) if j > 0}
            out[ch] = render_segments(out[ch], new[ch], rate, _depending_segments(new[ch], before))
            continue
        if edit == "add":
            for k in marked:
                new[ch].setdefault(k, (Shape.LINEAR, 0.0))
            changed |= marked
        out[ch] = render_segments(out[ch], new[ch], rate, _depending_segments(new[ch], changed))
    return out, new


def follow_preview(work: np.ndarray, orig: np.ndarray, keys: Keys, rate: float) -> np.ndarray:
    """Live view of a point drag: the shaped segments follow the moved keys."""
    return after_edit("follow", work, orig, keys, rate)[0]


def draw_span(
    tool: str,
    work: np.ndarray,
    orig: np.ndarray,
    channels: tuple[int, ...],
    rate: float,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    period_s: float,
) -> None:
    """Line, triangle or square tool: ``work`` rows become ``orig`` with the drawn span over [x0, x1].

    The line joins (x0, y0) to (x1, y1); the waves repeat ``period_s`` between the levels y0 and y1.
    """
    for ch in channels:
        work[ch] = orig[ch]
        if tool == "line":
            ops.write_segment(work[ch], rate, x0, y0, x1, y1)
            continue
        lo, vals = wave_span(Wave(tool), work.shape[1], rate, x0, y0, x1, y1, period_s)
        work[ch, lo : lo + vals.size] = ops.clip_lufs(vals)
