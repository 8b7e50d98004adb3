"""Editing commands of the window that act at the playhead: in/out points, markers, nudging and removing
the selected placed take. Each is one undoable project command (or a selection change)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from triergon_studio.core.project import Project
    from triergon_studio.ui.curve_editor import CurveEditor
    from triergon_studio.ui.timeline import Timeline
    from triergon_studio.ui.transport import Transport


class EditsHost(Protocol):
    project: Project
    transport: Transport
    curve_editor: CurveEditor
    timeline: Timeline

    def guard(self, fn: object, *args: object, key: str = "edit") -> object: ...
    def show_status(self, message: str, ms: int = 4000) -> None: ...
    def snap_frame(self, t: float) -> float: ...


class WindowEdits:
    def __init__(self, host: EditsHost) -> None:
        self.host = host

    # ---- in / out: the one region selection (the curve editor's), which Loop and Regenerate use ----------
    def mark_in(self) -> None:
        t = self.host.snap_frame(self.host.transport.position_s)
        region = self.host.curve_editor.region
        end = region[1] if region is not None and region[1] > t else self.host.project.duration_s
        self._set_region(t, end)

    def mark_out(self) -> None:
        t = self.host.snap_frame(self.host.transport.position_s)
        region = self.host.curve_editor.region
        start = region[0] if region is not None and region[0] < t else 0.0
        self._set_region(start, t)

    def _set_region(self, lo: float, hi: float) -> None:
        if hi <= lo:
            self.host.show_status("In must come before out")
            return
        self.host.curve_editor.set_region(lo, hi)
        self.host.show_status(f"Region {lo:.3f}-{hi:.3f} s (curve edits, loop and regenerate act on it)")

    # ---- markers ------------------------------------------------------------------------------------------
    def add_marker(self) -> None:
        p = self.host.project
        t = self.host.snap_frame(self.host.transport.position_s)
        if any(abs(m.time_s - t) < 1e-6 for m in p.markers):
            return
        self.host.guard(p.add_marker, t, f"M{len(p.markers) + 1}")

    def jump_marker(self, direction: int) -> None:
        t = self.host.transport.position_s
        times = sorted(m.time_s for m in self.host.project.markers)
        later = [m for m in times if (m > t + 1e-6 if direction > 0 else m < t - 1e-6)]
        if later:
            self.host.transport.seek(later[0] if direction > 0 else later[-1])

    # ---- placed takes -------------------------------------------------------------------------------------
    def nudge(self, frames: int) -> None:
        """Move the selected placed take by ``frames`` video frames (Alt+Left / Alt+Right)."""
        item_id = self.host.timeline.lanes.selected_item
        if item_id is None:
            self.host.show_status("Click a placed take on a lane first, then nudge it with Alt+Left/Right")
            return
        p = self.host.project
        _, item = p.find_item(item_id)
        offset = max(0.0, self.host.snap_frame(item.offset_s + frames / float(p.fps)))
        if offset != item.offset_s:
            self.host.guard(p.move_item, item_id, offset)

    def _selected(self) -> tuple[str, float, float, float] | None:
        """(item id, playhead in take seconds, trim in, trim out) of the selected placed take."""
        item_id = self.host.timeline.lanes.selected_item
        if item_id is None:
            self.host.show_status("Click a placed take on a lane first")
            return None
        p = self.host.project
        _, item = p.find_item(item_id)
        length = float(p.take(item.take_id).duration_s)
        t = self.host.snap_frame(self.host.transport.position_s) - item.offset_s
        return item_id, t, item.trim_in_s, length if item.trim_out_s is None else item.trim_out_s

    def trim_start(self) -> None:
        """[ : the selected take starts sounding at the playhead (it stays in sync with the picture)."""
        sel = self._selected()
        if sel is not None:
            self.host.guard(lambda: self.host.project.edit_item(sel[0], trim_in_s=sel[1], text="Trim start"))

    def trim_end(self) -> None:
        """] : the selected take stops at the playhead."""
        sel = self._selected()
        if sel is not None:
            self.host.guard(lambda: self.host.project.edit_item(sel[0], trim_out_s=sel[1], text="Trim end"))

    def fade_in(self) -> None:
        """Fade in from the take's (trimmed) start to the playhead."""
        sel = self._selected()
        if sel is not None:
            self.host.guard(
                lambda: self.host.project.edit_item(
                    sel[0], fade_in_s=max(0.0, sel[1] - sel[2]), text="Fade in"
                )
            )

    def fade_out(self) -> None:
        """Fade out from the playhead to the take's (trimmed) end."""
        sel = self._selected()
        if sel is not None:
            self.host.guard(
                lambda: self.host.project.edit_item(
                    sel[0], fade_out_s=max(0.0, sel[3] - sel[1]), text="Fade out"
                )
            )

    def remove_item(self) -> None:
        item_id = self.host.timeline.lanes.selected_item
        if item_id is not None:
            self.host.timeline.lanes.select_item(None)
            self.host.guard(self.host.project.remove_item, item_id)
