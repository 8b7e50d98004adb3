"""Reading a current-version project document into a Project, and locating its video.

Kept apart from ``project.py`` so the model's edit logic and its file format stay readable on their own.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.core import validate
from triergon_studio.core.model import (
    GenerationSettings,
    Lane,
    Marker,
    Prompts,
    Region,
    Take,
    VideoFingerprint,
    VideoRef,
    check,
    opt,
    req,
)
from triergon_studio.core.timecode import Rate, timecode_to_frames
from triergon_studio.errors import ParameterError, ProjectError, StudioError

if TYPE_CHECKING:
    from triergon_studio.core.project import Project

SAMPLE_RATES = (44100, 48000, 88200, 96000)


def read_state(p: Project, d: dict[str, Any]) -> None:
    """Fill ``p`` from a document already migrated to the current schema. Raises ProjectError."""
    p.name = opt(d, "name", str, "project", "") or p.name
    fps = req(d, "fps", dict, "project")
    num, den = req(fps, "num", int, "fps"), req(fps, "den", int, "fps")
    if num <= 0 or den <= 0:
        raise ProjectError("fps must be a positive fraction")
    p.fps = Fraction(num, den)
    p.drop_frame = opt(d, "drop_frame", bool, "project", False)
    try:
        Rate(p.fps, p.drop_frame)
    except ValueError as exc:
        raise ProjectError(str(exc)) from exc
    p.frame_count = opt(d, "frame_count", int, "project", 0)
    p.duration_s = opt(d, "duration_s", float, "project", 0.0)
    if p.frame_count < 0 or p.duration_s < 0:
        raise ProjectError("frame_count and duration_s must not be negative")
    try:  # documented ranges (core.validate): a picture is 0.1..1000 fps and at most 24 h long
        validate.check_fps(p.fps)
        if p.frame_count:
            validate.check_frame_count(p.frame_count, p.fps)
        validate.check_picture_seconds(p.duration_s, "duration_s")
    except ParameterError as exc:
        raise ProjectError(str(exc)) from exc
    p.start_timecode = opt(d, "start_timecode", str, "project", "00:00:00:00")
    try:
        timecode_to_frames(p.start_timecode, p.rate)
    except ValueError as exc:
        raise ProjectError(str(exc)) from exc
    p.sample_rate = opt(d, "sample_rate", int, "project", 48000)
    if p.sample_rate not in SAMPLE_RATES:
        raise ProjectError(f"sample_rate {p.sample_rate} is not one of {SAMPLE_RATES}")
    video = opt(d, "video", dict, "project", None)
    p.video = VideoRef.from_json(video) if video is not None else None
    curves = opt(d, "curves", dict, "project", None)
    if curves is not None:
        from triergon_studio.core.curves import LoudnessCurve

        try:
            p.curves = LoudnessCurve.from_json(curves)
        except StudioError as exc:
            raise ProjectError(f"has unreadable curves ({exc})") from exc
    p.prompts = Prompts.from_json(opt(d, "prompts", dict, "project", {}))
    p.settings = GenerationSettings.from_json(opt(d, "settings", dict, "project", {}))
    p.takes = tuple(
        Take.from_json(t, f"takes[{i}]") for i, t in enumerate(opt(d, "takes", list, "project", []))
    )
    p.lanes = tuple(
        Lane.from_json(x, f"lanes[{i}]") for i, x in enumerate(opt(d, "lanes", list, "project", []))
    )
    p.markers = tuple(
        Marker.from_json(x, f"markers[{i}]") for i, x in enumerate(opt(d, "markers", list, "project", []))
    )
    p.regions = tuple(
        Region.from_json(x, f"regions[{i}]") for i, x in enumerate(opt(d, "regions", list, "project", []))
    )
    _validate_refs(p)


def _validate_refs(p: Project) -> None:
    ids = [t.id for t in p.takes]
    if len(set(ids)) != len(ids):
        raise ProjectError("has two takes with the same id")
    names = [ln.name.casefold() for ln in p.lanes]
    if len(set(names)) != len(names):
        raise ProjectError("has two lanes with the same name")
    known = set(ids)
    for lane in p.lanes:
        for item in lane.items:
            if item.take_id not in known:
                raise ProjectError(f"lane {lane.name!r} places a take that does not exist ({item.take_id!r})")
    for m in p.markers:
        check(m.time_s, float, "marker.time_s")


def relative_or_absolute(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def video_ref_for(video_path: Path, project_path: Path | None, info: Any) -> tuple[VideoRef, dict[str, Any]]:
    """The project's record of a video the caller has probed (``info``: a ``video.probe.VideoInfo``; core never
    reads video files itself)."""
    abs_video = video_path.resolve()
    rel = relative_or_absolute(abs_video, project_path.parent) if project_path else abs_video.as_posix()
    ref = VideoRef(
        rel,
        VideoFingerprint.compute(abs_video, info.duration_s),
        info.width,
        info.height,
        info.rotation,
        info.frame_count,
        info.is_vfr,
    )
    timing = {
        "fps": info.fps,
        "frame_count": info.frame_count,
        "duration_s": info.duration_s,
        "drop_frame": False,
    }
    return ref, timing
