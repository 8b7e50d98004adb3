"""The project: everything a user's work holds, as plain Python with change notifications and undo.

Views read the public attributes and listen to ``changed(what)``; they never assign attributes. Every edit
goes through a helper (``set_curves``, ``add_take``, ``place_take`` ...) that pushes an undoable command on
``project.undo``; wrap a gesture in ``with project.undo.macro("Drag"):`` to make it one undo step.
``what`` is one of: video, timing, curves, prompts, settings, takes, lanes, markers, regions, all.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from triergon_studio.core.events import Signal
from triergon_studio.core.migrations import CURRENT_VERSION, FORMAT, migrate
from triergon_studio.core.model import (
    DEFAULT_LANES,
    GenerationSettings,
    Lane,
    LaneItem,
    Marker,
    Prompts,
    ReferenceClip,
    Region,
    Take,
    VideoFingerprint,
    VideoRef,
    new_id,
)
from triergon_studio.core.project_io import SAMPLE_RATES, read_state, relative_or_absolute, video_ref_for
from triergon_studio.core.timecode import (
    Rate,
    picture_length_samples,
    timecode_to_frames,
)
from triergon_studio.core.undo import Command, UndoStack
from triergon_studio.errors import ProjectError, StudioError

_STATE_FIELDS = {
    "video": "video",
    "fps": "timing",
    "drop_frame": "timing",
    "frame_count": "timing",
    "duration_s": "timing",
    "start_timecode": "timing",
    "sample_rate": "timing",
    "curves": "curves",
    "prompts": "prompts",
    "settings": "settings",
    "takes": "takes",
    "lanes": "lanes",
    "markers": "markers",
    "regions": "regions",
}


def autosave_path(path: str | Path) -> Path:
    """Sidecar the autosaver writes next to the project: ``<name>.autosave.json``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.autosave.json")


class _Change(Command):
    """Set some state fields to new values; undo puts the old ones back. Emits ``changed`` per area."""

    def __init__(self, project: Project, text: str, **new: Any) -> None:
        super().__init__(text)
        self.project = project
        self.new = new
        self.old = {k: getattr(project, k) for k in new}

    def _apply(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            setattr(self.project, k, v)
        for what in dict.fromkeys(_STATE_FIELDS[k] for k in values):
            self.project.changed.emit(what)

    def do(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class Project:
    """A picture-locked video plus curves, prompts, takes on lanes, markers and regions."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path: Path | None = Path(path).resolve() if path else None
        self.name = self.path.stem if self.path else "Untitled"
        self.video: VideoRef | None = None
        self.fps = Fraction(25)
        self.drop_frame = False
        self.frame_count = 0
        self.duration_s = 0.0
        self.start_timecode = "00:00:00:00"
        self.sample_rate = 48000
        self.curves: Any = None  # core.curves.LoudnessCurve | None
        self.prompts = Prompts()
        self.settings = GenerationSettings()
        self.takes: tuple[Take, ...] = ()
        self.lanes: tuple[Lane, ...] = tuple(Lane(n) for n in DEFAULT_LANES)
        self.markers: tuple[Marker, ...] = ()
        self.regions: tuple[Region, ...] = ()
        self.undo = UndoStack()
        self.changed = Signal("project.changed")

    # --- derived -------------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        if self.path is None:
            raise ProjectError("the project has not been saved yet, so it has no folder")
        return self.path.parent

    @property
    def takes_dir(self) -> Path:
        return self.folder / "takes"

    @property
    def rate(self) -> Rate:
        return Rate(self.fps, self.drop_frame)

    @property
    def start_frame(self) -> int:
        return timecode_to_frames(self.start_timecode, self.rate)

    def picture_samples(self, sample_rate: int | None = None) -> int:
        """Length of the picture in samples at ``sample_rate`` (default: the delivery rate): every export
        and every generated take for the whole picture has exactly this length."""
        sr = int(sample_rate or self.sample_rate)
        is_vfr = self.video is not None and self.video.is_vfr
        return picture_length_samples(
            self.frame_count, self.fps, sr, is_vfr=is_vfr, duration_s=self.duration_s
        )

    @property
    def is_dirty(self) -> bool:
        return not self.undo.is_clean

    def take(self, take_id: str) -> Take:
        for t in self.takes:
            if t.id == take_id:
                return t
        raise ProjectError(f"no take with id {take_id!r}", self.path)

    def take_path(self, take: Take | str) -> Path:
        t = self.take(take) if isinstance(take, str) else take
        return self.folder / t.path

    def lane(self, name: str) -> Lane:
        return self.lanes[self._lane_index(name)]

    def _lane_index(self, name: str) -> int:
        for i, lane in enumerate(self.lanes):
            if lane.name.casefold() == name.casefold():
                return i
        raise ProjectError(f"no lane named {name!r}", self.path)

    def find_item(self, item_id: str) -> tuple[Lane, LaneItem]:
        for lane in self.lanes:
            for item in lane.items:
                if item.id == item_id:
                    return lane, item
        raise ProjectError(f"no lane item with id {item_id!r}", self.path)

    def video_abspath(self) -> Path | None:
        if self.video is None:
            return None
        p = Path(self.video.path)
        return p if p.is_absolute() or self.path is None else (self.folder / p).resolve()

    def video_status(self) -> str:
        """'none', 'ok', 'missing' or 'changed' (same name but different size/content: relink it)."""
        path = self.video_abspath()
        if path is None:
            return "none"
        if not path.is_file():
            return "missing"
        fp = self.video.fingerprint if self.video else None
        if fp is None:
            return "ok"
        now = VideoFingerprint.compute(path, fp.duration_s)
        return "ok" if now.matches(fp) else "changed"

    # --- edits (each one undoable command) -----------------------------------------------------------
    def _push(self, text: str, **new: Any) -> None:
        self.undo.push(_Change(self, text, **new))

    def set_curves(self, curve: Any, text: str = "Edit loudness curves") -> None:
        self._push(text, curves=curve)

    def set_prompts(self, prompts: Prompts, text: str = "Edit prompts") -> None:
        self._push(text, prompts=prompts)

    def set_prompt_text(self, text: str) -> None:
        self.set_prompts(replace(self.prompts, text=text), "Edit text prompt")

    def set_use_video(self, use: bool) -> None:
        self.set_prompts(replace(self.prompts, use_video=bool(use)), "Toggle video prompt")

    def add_reference(self, clip: ReferenceClip) -> None:
        self.set_prompts(replace(self.prompts, references=(*self.prompts.references, clip)), "Add reference")

    def set_reference(self, index: int, clip: ReferenceClip) -> None:
        refs = list(self.prompts.references)
        refs[index] = clip
        self.set_prompts(replace(self.prompts, references=tuple(refs)), "Edit reference")

    def remove_reference(self, index: int) -> None:
        refs = list(self.prompts.references)
        del refs[index]
        self.set_prompts(replace(self.prompts, references=tuple(refs)), "Remove reference")

    def set_settings(self, settings: GenerationSettings | None = None, **changes: Any) -> None:
        """Replace the generation settings, or change some fields: ``set_settings(steps=30, cfg=5.0)``."""
        new = replace(settings or self.settings, **changes)
        self._push("Change generation settings", settings=new)

    def set_start_timecode(self, timecode: str) -> None:
        try:
            timecode_to_frames(timecode, self.rate)
        except ValueError as exc:
            raise ProjectError(str(exc), self.path) from exc
        self._push("Set start timecode", start_timecode=timecode)

    def set_drop_frame(self, drop: bool) -> None:
        try:
            Rate(self.fps, drop)
        except ValueError as exc:
            raise ProjectError(str(exc), self.path) from exc
        tc = (
            self.start_timecode.replace(";", ":")
            if not drop
            else self.start_timecode[:8] + ";" + self.start_timecode[9:]
        )
        self._push("Toggle drop-frame", drop_frame=bool(drop), start_timecode=tc)

    def set_sample_rate(self, sample_rate: int) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ProjectError(f"delivery sample rate {sample_rate} is not one of {SAMPLE_RATES}", self.path)
        self._push("Set sample rate", sample_rate=int(sample_rate))

    def add_take(self, take: Take, lane: str | None = None, offset_s: float = 0.0) -> str:
        """Add a take (and optionally place it on ``lane``) as one undo step. Returns the take id."""
        if any(t.id == take.id for t in self.takes):
            raise ProjectError(f"a take with id {take.id!r} already exists", self.path)
        with self.undo.macro(f"Add take {take.name}"):
            self._push("Add take", takes=(*self.takes, take))
            if lane is not None:
                self.place_take(take.id, lane, offset_s)
        return take.id

    def rename_take(self, take_id: str, name: str) -> None:
        self._push(
            f"Rename take to {name}",
            takes=tuple(replace(t, name=name) if t.id == take_id else t for t in self._checked(take_id)),
        )

    def _checked(self, take_id: str) -> tuple[Take, ...]:
        self.take(take_id)
        return self.takes

    def remove_take(self, take_id: str) -> None:
        """Remove a take and every placement of it (one step). Its audio file stays on disk for undo."""
        take = self.take(take_id)
        lanes = tuple(
            replace(ln, items=tuple(i for i in ln.items if i.take_id != take_id)) for ln in self.lanes
        )
        self._push(
            f"Remove take {take.name}", takes=tuple(t for t in self.takes if t.id != take_id), lanes=lanes
        )

    def recall_take(self, take_id: str) -> None:
        """Put back the prompts, generation settings and curves a take was made with (one undo step)."""
        take = self.take(take_id)
        changes: dict[str, Any] = {}
        if take.prompts is not None:
            changes["prompts"] = take.prompts
        if take.settings is not None:
            changes["settings"] = take.settings
        if take.curves is not None:
            from triergon_studio.core.curves import LoudnessCurve

            changes["curves"] = LoudnessCurve.from_json(take.curves)
        if changes:
            self._push(f"Recall settings of {take.name}", **changes)

    def _finite(self, value: float, what: str) -> float:
        """The loader refuses NaN/inf and out-of-range values, so an edit must never put one in the project."""
        from triergon_studio.core import validate
        from triergon_studio.errors import ParameterError

        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ProjectError(f"{what} must be a finite number, got {value!r}", self.path) from exc
        if not math.isfinite(v):
            raise ProjectError(f"{what} must be a finite number, got {value!r}", self.path)
        try:
            if what == "gain":
                validate.check_gain_db(v, "gain")
            elif what == "offset":
                validate.check_offset_s(v, "offset")
        except ParameterError as exc:
            raise ProjectError(str(exc), self.path) from exc
        return v

    def _lane_name(self, name: str, what: str = "lane name") -> str:
        """Names go into text exports (REAPER, reports): no control characters."""
        from triergon_studio.core import validate
        from triergon_studio.errors import ParameterError

        try:
            return validate.check_text(name, what).strip()
        except ParameterError as exc:
            raise ProjectError(str(exc), self.path) from exc

    def _set_lane(self, lane_name: str, text: str, /, **changes: Any) -> None:
        # Positional-only: ``changes`` may hold the lane's new ``name`` (rename_lane).
        i = self._lane_index(lane_name)
        lanes = list(self.lanes)
        lanes[i] = replace(lanes[i], **changes)
        self._push(text, lanes=tuple(lanes))

    def add_lane(self, name: str, index: int | None = None) -> None:
        name = self._lane_name(name)
        if not name:
            raise ProjectError("a lane needs a name", self.path)
        if any(ln.name.casefold() == name.casefold() for ln in self.lanes):
            raise ProjectError(f"a lane named {name!r} already exists", self.path)
        lanes = list(self.lanes)
        lanes.insert(len(lanes) if index is None else index, Lane(name))
        self._push(f"Add lane {name}", lanes=tuple(lanes))

    def remove_lane(self, name: str) -> None:
        i = self._lane_index(name)
        self._push(f"Remove lane {name}", lanes=self.lanes[:i] + self.lanes[i + 1 :])

    def rename_lane(self, name: str, new_name: str) -> None:
        new_name = self._lane_name(new_name)
        if not new_name or any(
            ln.name.casefold() == new_name.casefold() and ln.name != name for ln in self.lanes
        ):
            raise ProjectError(f"cannot rename lane {name!r} to {new_name!r} (empty or taken)", self.path)
        self._set_lane(name, f"Rename lane {name}", name=new_name)

    def move_lane(self, name: str, index: int) -> None:
        i = self._lane_index(name)
        lanes = list(self.lanes)
        lane = lanes.pop(i)
        lanes.insert(index, lane)
        self._push(f"Move lane {name}", lanes=tuple(lanes))

    def set_lane_gain(self, name: str, gain_db: float) -> None:
        self._set_lane(name, f"{name} gain", gain_db=self._finite(gain_db, "gain"))

    def set_lane_mute(self, name: str, mute: bool) -> None:
        self._set_lane(name, f"{'Mute' if mute else 'Unmute'} {name}", mute=bool(mute))

    def set_lane_solo(self, name: str, solo: bool) -> None:
        self._set_lane(name, f"{'Solo' if solo else 'Unsolo'} {name}", solo=bool(solo))

    def place_take(self, take_id: str, lane: str, offset_s: float, gain_db: float = 0.0) -> str:
        """Put a take on a lane at ``offset_s`` from the picture's first frame. Returns the item id."""
        self.take(take_id)
        item = LaneItem(take_id, self._finite(offset_s, "offset"), self._finite(gain_db, "gain"))
        i = self._lane_index(lane)
        self._set_lane(
            self.lanes[i].name, f"Place take on {self.lanes[i].name}", items=(*self.lanes[i].items, item)
        )
        return item.id

    def move_item(
        self,
        item_id: str,
        offset_s: float | None = None,
        lane: str | None = None,
        gain_db: float | None = None,
    ) -> None:
        """Move a placed take in time and/or to another lane, or change its gain (one step)."""
        src, item = self.find_item(item_id)
        new_item = replace(
            item,
            offset_s=item.offset_s if offset_s is None else self._finite(offset_s, "offset"),
            gain_db=item.gain_db if gain_db is None else self._finite(gain_db, "gain"),
        )
        dst_name = src.name if lane is None else self.lane(lane).name
        lanes = []
        for ln in self.lanes:
            items = tuple(i for i in ln.items if i.id != item_id)
            if ln.name == dst_name:
                items = (*items, new_item)
            lanes.append(replace(ln, items=items))
        self._push("Move take", lanes=tuple(lanes))

    def edit_item(
        self,
        item_id: str,
        *,
        trim_in_s: float | None = None,
        trim_out_s: float | None = None,
        fade_in_s: float | None = None,
        fade_out_s: float | None = None,
        text: str = "Edit take",
    ) -> None:
        """Trim or fade a placed take (one undo step). Trims are seconds into the take, kept inside it and in
        order; fades fit inside the trimmed part."""
        src, item = self.find_item(item_id)
        length = float(self.take(item.take_id).duration_s)
        t_in = item.trim_in_s if trim_in_s is None else self._finite(trim_in_s, "trim")
        t_out = (
            (item.trim_out_s if item.trim_out_s is not None else length)
            if trim_out_s is None
            else self._finite(trim_out_s, "trim")
        )
        t_in, t_out = max(0.0, t_in), min(length, t_out) if length > 0 else t_out
        if t_out - t_in < 1e-3:
            raise ProjectError(
                f"cannot trim {item.take_id!r} to nothing ({t_in:.3f}-{t_out:.3f} s)", self.path
            )
        f_in = item.fade_in_s if fade_in_s is None else max(0.0, self._finite(fade_in_s, "fade"))
        f_out = item.fade_out_s if fade_out_s is None else max(0.0, self._finite(fade_out_s, "fade"))
        span = t_out - t_in
        if f_in + f_out > span:  # fades never overlap: shorten the one being set
            if fade_in_s is not None:
                f_in = max(0.0, span - f_out)
            else:
                f_out = max(0.0, span - f_in)
        new_item = replace(
            item,
            trim_in_s=t_in,
            trim_out_s=None if length > 0 and t_out >= length else t_out,
            fade_in_s=f_in,
            fade_out_s=f_out,
        )
        lanes = tuple(
            replace(ln, items=tuple(new_item if i.id == item_id else i for i in ln.items))
            if ln.name == src.name
            else ln
            for ln in self.lanes
        )
        self._push(text, lanes=lanes)

    def remove_item(self, item_id: str) -> None:
        self.find_item(item_id)
        lanes = tuple(replace(ln, items=tuple(i for i in ln.items if i.id != item_id)) for ln in self.lanes)
        self._push("Remove take from lane", lanes=lanes)

    def add_marker(self, time_s: float, name: str = "") -> str:
        marker = Marker(float(time_s), self._lane_name(name, "marker name"))
        self._push("Add marker", markers=tuple(sorted((*self.markers, marker), key=lambda m: m.time_s)))
        return marker.id

    def update_marker(self, marker_id: str, time_s: float | None = None, name: str | None = None) -> None:
        self._find(self.markers, marker_id, "marker")
        markers = tuple(
            replace(
                m,
                time_s=m.time_s if time_s is None else float(time_s),
                name=m.name if name is None else self._lane_name(name, "marker name"),
            )
            if m.id == marker_id
            else m
            for m in self.markers
        )
        self._push("Edit marker", markers=tuple(sorted(markers, key=lambda m: m.time_s)))

    def remove_marker(self, marker_id: str) -> None:
        self._find(self.markers, marker_id, "marker")
        self._push("Remove marker", markers=tuple(m for m in self.markers if m.id != marker_id))

    def add_region(self, start_s: float, end_s: float, name: str = "") -> str:
        if end_s <= start_s:
            raise ProjectError("a region must end after it starts", self.path)
        region = Region(float(start_s), float(end_s), self._lane_name(name, "region name"))
        self._push("Add region", regions=tuple(sorted((*self.regions, region), key=lambda r: r.start_s)))
        return region.id

    def update_region(
        self,
        region_id: str,
        start_s: float | None = None,
        end_s: float | None = None,
        name: str | None = None,
    ) -> None:
        r = self._find(self.regions, region_id, "region")
        new = replace(
            r,
            start_s=r.start_s if start_s is None else float(start_s),
            end_s=r.end_s if end_s is None else float(end_s),
            name=r.name if name is None else self._lane_name(name, "region name"),
        )
        if new.end_s <= new.start_s:
            raise ProjectError("a region must end after it starts", self.path)
        regions = tuple(new if x.id == region_id else x for x in self.regions)
        self._push("Edit region", regions=tuple(sorted(regions, key=lambda x: x.start_s)))

    def remove_region(self, region_id: str) -> None:
        self._find(self.regions, region_id, "region")
        self._push("Remove region", regions=tuple(r for r in self.regions if r.id != region_id))

    def _find(self, records: tuple[Any, ...], rid: str, kind: str) -> Any:
        for r in records:
            if r.id == rid:
                return r
        raise ProjectError(f"no {kind} with id {rid!r}", self.path)

    def relink_video(self, new_path: str | Path, info: Any, accept_changed: bool = False) -> None:
        """Point the project at a moved video (``info``: its ``video.probe.VideoInfo``, probed by the caller).
        A different file (new cut) needs ``accept_changed=True``."""
        ref, timing = video_ref_for(Path(new_path), self.path, info)
        old = self.video.fingerprint if self.video else None
        if (
            old is not None
            and ref.fingerprint is not None
            and not old.matches(ref.fingerprint)
            and not accept_changed
        ):
            raise ProjectError(
                "is not the same video as the project's (size or content differ); "
                "relink with accept_changed to use it as a new cut",
                new_path,
            )
        self._push("Relink video", video=ref, **timing)

    # --- files ---------------------------------------------------------------------------------------
    @classmethod
    def new_from_video(cls, video_path: str | Path, project_path: str | Path, info: Any) -> Project:
        """A fresh project for ``video_path`` (``info``: its ``video.probe.VideoInfo``, probed by the caller) that
        will be saved at ``project_path`` (not written yet). ``video.project_video.new_project`` does both."""
        project = cls(project_path)
        ref, timing = video_ref_for(Path(video_path), project.path, info)
        project.video = ref
        for k, v in timing.items():
            setattr(project, k, v)
        project.name = project.path.stem if project.path else Path(video_path).stem
        return project

    def new_take_path(self, stem: str, suffix: str = ".wav") -> Path:
        """A free file name under ``takes/`` for a new take."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._") or "take"
        self.takes_dir.mkdir(parents=True, exist_ok=True)
        return self.takes_dir / f"{safe}_{new_id()[:6]}{suffix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": CURRENT_VERSION,
            "name": self.name,
            "video": self.video.to_json() if self.video else None,
            "fps": {"num": self.fps.numerator, "den": self.fps.denominator},
            "drop_frame": self.drop_frame,
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "start_timecode": self.start_timecode,
            "sample_rate": self.sample_rate,
            "curves": self.curves.to_json() if self.curves is not None else None,
            "prompts": self.prompts.to_json(),
            "settings": self.settings.to_json(),
            "takes": [t.to_json() for t in self.takes],
            "lanes": [ln.to_json() for ln in self.lanes],
            "markers": [m.to_json() for m in self.markers],
            "regions": [r.to_json() for r in self.regions],
        }

    def save(self, path: str | Path | None = None, overwrite: bool = False) -> Path:
        """Write atomically. Saving to a new place ("Save As") refuses an existing file unless ``overwrite``,
        re-bases the video path and copies the take files along."""
        from triergon_studio.core.atomic import atomic_write_text

        if path is None and self.path is None:
            raise ProjectError("has no file yet: give a path to save it to", self.name)
        target = Path(path).resolve() if path is not None else self.path
        assert target is not None
        if target != self.path and target.exists() and not overwrite:
            raise ProjectError("already exists; choose another name or allow overwriting", target)
        doc = self.to_json()
        if target.parent != (self.path.parent if self.path else None):
            doc = self._rebase(doc, target)
        try:  # a NaN or inf written now could never be loaded again: refuse before touching the file
            text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise ProjectError("not saved: it holds a value that is not a finite number", target) from exc
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, text + "\n")
        except OSError as exc:
            raise ProjectError(f"could not be saved: {exc.strerror or exc}", target) from exc
        if self.path is not None and target != self.path:
            self.path = target
        elif self.path is None:
            self.path = target
        if self.video is not None and doc["video"]:
            self.video = replace(self.video, path=doc["video"]["path"])
        self.undo.set_clean()
        autosave_path(target).unlink(missing_ok=True)
        return target

    def _rebase(self, doc: dict[str, Any], target: Path) -> dict[str, Any]:
        video = self.video_abspath()
        if video is not None:
            doc["video"]["path"] = relative_or_absolute(video, target.parent)
        if self.path is not None:
            for take in self.takes:
                src, dst = self.folder / take.path, target.parent / take.path
                if src.is_file() and not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        return doc

    @classmethod
    def from_json(cls, doc: Any, path: str | Path | None = None) -> Project:
        """Build a project from a parsed document (any schema version). Raises only ProjectError."""
        where = str(path) if path else None
        try:
            if not isinstance(doc, dict):
                raise ProjectError("is not a JSON object")
            doc, _version = migrate(doc)
            return cls._from_current(doc, path)
        except ProjectError as exc:
            if exc.path is None and where:
                raise ProjectError(str(exc), where) from exc
            raise
        except (RecursionError, MemoryError) as exc:
            raise ProjectError("is nested too deeply or too large to read", where) from exc
        except Exception as exc:  # noqa: BLE001 -- any malformed value ends as the project's own error
            raise ProjectError(f"is malformed ({type(exc).__name__}: {exc})", where) from exc

    @classmethod
    def _from_current(cls, d: dict[str, Any], path: str | Path | None) -> Project:
        project = cls(path)
        read_state(project, d)
        return project

    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read a project file; migrate older schemas; refuse newer ones and corrupt files (never rewrites)."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError as exc:
            raise ProjectError("does not exist", p) from exc
        except OSError as exc:
            raise ProjectError(f"cannot be read: {exc.strerror or exc}", p) from exc
        try:
            doc = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ProjectError("is not UTF-8 text (corrupt project file?)", p) from exc
        except json.JSONDecodeError as exc:
            raise ProjectError(
                f"is not valid JSON (line {exc.lineno}, column {exc.colno}); the file is left untouched", p
            ) from exc
        except (RecursionError, ValueError) as exc:
            raise ProjectError("is not valid JSON", p) from exc
        project = cls.from_json(doc, p)
        project._fill_missing_fingerprint()
        return project

    def _fill_missing_fingerprint(self) -> None:
        path = self.video_abspath()
        if self.video is not None and self.video.fingerprint is None and path is not None and path.is_file():
            # a migrated v0 project: fingerprint the file by the duration the project records (no probing here)
            try:
                fp = VideoFingerprint.compute(path, self.duration_s)
            except (OSError, StudioError):
                return  # the video is unreadable; video_status/relink will report it
            self.video = replace(self.video, fingerprint=fp)
