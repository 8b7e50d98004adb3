"""Picture-exact delivery: one stem per lane plus the mix, a review video, a REAPER project and a report.

Every WAV is exactly ``picture_samples(frame_count, fps, sr)`` long and starts at the picture's first frame;
takes are resampled to the delivery rate and placed at their lane offsets. Files are written under hidden
temporary names and renamed only when everything has been written, so an interrupted export leaves no
half-written file under a final name. Existing files are never replaced unless ``force`` is set.

Rendering and writing stream by blocks (``export_render``, ``export_write``): memory stays flat however long
the picture is; the only up-front refusal for size is a disk-space check.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.core.project import Project
from triergon_studio.core.timecode import seconds_to_samples, timecode_to_samples
from triergon_studio.errors import CancelledError, ExportError, StudioError

BITS = ("24", "32f")
TARGETS = ("none", "r128", "a85", "stream", "apple", "custom")
MUX = ("none", "mp4", "mov")


@dataclass
class ExportSettings:
    sample_rate: int = 48000
    bits: str = "24"
    target: str = "none"
    target_lufs: float | None = None  # for target="custom"
    true_peak_dbtp: float | None = None  # ceiling for "custom" (presets carry their own)
    mux: str = "none"
    reaper: bool = False
    force: bool = False
    resume: bool = False  # finish an export that was interrupted while its files were being moved into place

    def validate(self, where: Path) -> None:
        if self.sample_rate not in (44100, 48000):
            raise ExportError(f"delivery sample rate must be 44100 or 48000, not {self.sample_rate}", where)
        if self.bits not in BITS:
            raise ExportError(f"bit depth must be one of {BITS}, not {self.bits!r}", where)
        if self.target not in TARGETS:
            raise ExportError(f"loudness target must be one of {TARGETS}, not {self.target!r}", where)
        if self.target == "custom" and (self.target_lufs is None or self.true_peak_dbtp is None):
            raise ExportError("a custom loudness target needs target_lufs and true_peak_dbtp", where)
        if self.target == "custom":  # the same ranges normalize enforces (core.validate.check_target)
            from triergon_studio.core.validate import check_target
            from triergon_studio.errors import ParameterError

            try:
                check_target(self.target_lufs, self.true_peak_dbtp)
            except ParameterError as exc:
                raise ExportError(str(exc), where) from exc
        if self.mux not in MUX:
            raise ExportError(f"review video must be one of {MUX}, not {self.mux!r}", where)


@dataclass
class ExportedFile:
    kind: str  # stem | mix | review | reaper | report
    path: Path
    lane: str | None = None
    samples: int | None = None
    loudness: dict[str, float | None] | None = None  # None values: silence (JSON has no -inf)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "file": self.path.name}
        if self.lane is not None:
            d["lane"] = self.lane
        if self.samples is not None:
            d["length_samples"] = self.samples
        if self.loudness is not None:
            d.update(self.loudness)
        d.update(self.extra)
        return d


@dataclass
class ExportResult:
    out_dir: Path
    files: list[ExportedFile]
    picture_samples: int
    time_reference: int
    mix_gain_db: float
    report_path: Path


Progress = Callable[[str, float], None]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "untitled"


def fade_gain(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """[n] float32 gain: equal-power (quarter-sine) fades over the first ``fade_in`` and last ``fade_out``
    samples, 1 elsewhere."""
    g = np.ones(n, np.float32)
    if fade_in > 0:
        k = min(fade_in, n)
        g[:k] *= np.sin(0.5 * np.pi * (np.arange(k) + 0.5) / fade_in).astype(np.float32)
    if fade_out > 0:
        k = min(fade_out, n)
        g[n - k :] *= np.cos(0.5 * np.pi * (np.arange(fade_out - k, fade_out) + 0.5) / fade_out).astype(
            np.float32
        )
    return g


def item_audio(audio: np.ndarray, item: Any, sr: int) -> np.ndarray:
    """A placed take as it sounds on its lane, indexed from the take's first sample: silent outside the trims,
    faded at their edges."""
    t_in = getattr(item, "trim_in_s", 0.0) or 0.0
    t_out = getattr(item, "trim_out_s", None)
    f_in = getattr(item, "fade_in_s", 0.0) or 0.0
    f_out = getattr(item, "fade_out_s", 0.0) or 0.0
    if t_in <= 0 and t_out is None and f_in <= 0 and f_out <= 0:
        return audio
    a = min(len(audio), seconds_to_samples(t_in, sr))
    b = len(audio) if t_out is None else min(len(audio), seconds_to_samples(t_out, sr))
    out = np.zeros_like(audio)
    if b > a:
        g = fade_gain(b - a, seconds_to_samples(f_in, sr), seconds_to_samples(f_out, sr))
        out[a:b] = audio[a:b] * g[:, None]
    return out


def render_lanes(project: Project, sr: int, n: int) -> dict[str, np.ndarray]:
    """Each lane as [n, 2] float32 at ``sr``: takes resampled, placed at their offsets, lane+item gain.

    Whole arrays, for the app's monitoring of a region; ``export_project`` renders the same samples by blocks
    (``export_render.LaneRenderer``)."""
    from triergon_studio.audio.io import read_audio

    cache: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for lane in project.lanes:
        buf = np.zeros((n, 2), np.float32)
        for item in lane.items:
            take = project.take(item.take_id)
            if take.id not in cache:
                path = project.take_path(take)
                if not path.is_file():
                    raise ExportError(f"take {take.name!r} is missing its audio file", path)
                cache[take.id], _ = read_audio(path, sample_rate=sr)
            audio = item_audio(cache[take.id], item, sr)
            start = seconds_to_samples(item.offset_s, sr)
            a0, b0 = max(0, -start), min(len(audio), n - start)  # part of the take inside the picture
            if b0 > a0:
                gain = np.float32(10 ** ((lane.gain_db + item.gain_db) / 20))
                buf[start + a0 : start + b0] += audio[a0:b0] * gain
        out[lane.name] = buf
    return out


def audible_lanes(project: Project) -> list[str]:
    solo = [ln.name for ln in project.lanes if ln.solo]
    return solo if solo else [ln.name for ln in project.lanes if not ln.mute]


def export_project(
    project: Project,
    out_dir: str | Path,
    settings: ExportSettings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Render and write the whole delivery. Raises ExportError (or CancelledError) and then leaves no
    file under a final name that was not there before."""
    s = settings or ExportSettings()
    out = Path(out_dir)
    s.validate(out)
    if project.frame_count <= 0:
        raise ExportError("the project has no picture length (no video frames)", project.path)
    sr = s.sample_rate
    n = project.picture_samples(sr)
    base = _safe(project.name)
    finals = {f"stem:{ln.name}": out / f"{base}_{_safe(ln.name)}.wav" for ln in project.lanes}
    finals["mix"] = out / f"{base}_MIX.wav"
    if len(set(finals.values())) != len(finals):
        raise ExportError("two lanes map to the same file name; rename one", out)
    if s.mux != "none":
        finals["review"] = out / f"{base}_review.{s.mux}"
    if s.reaper:
        finals["reaper"] = out / f"{base}.rpp"
    finals["report"] = out / f"{base}_export.json"
    journal = _journal_path(out, base)
    if journal.exists():
        if s.resume:
            return _resume(journal, out, progress)
        if not s.force:
            raise ExportError(
                f"holds an unfinished export of {project.name!r} ({_journal_state(journal, out)}); "
                "run export again with --resume to finish it, or --force to redo it",
                out,
            )
        _discard(journal, out)
    elif s.resume:
        raise ExportError("has no unfinished export to resume", out)
    existing = [p.name for p in finals.values() if p.exists()]
    if existing and not s.force:
        raise ExportError(f"would overwrite {', '.join(existing)}; use --force to replace them", out)
    video = project.video_abspath()
    if s.mux != "none" and (video is None or not video.is_file()):
        raise ExportError("the review video needs the project's video, which is missing; relink it", video)
    if s.reaper and video is not None and not video.is_file():  # an .rpp pointing at nothing opens broken
        raise ExportError(
            "the REAPER project would point at the project's video, which is missing; relink it "
            "or export without --reaper",
            video,
        )
    if out.exists() and not out.is_dir():
        raise ExportError("is a file, not a folder to export into", out)
    from triergon_studio.audio.export_write import check_disk, disk_needed, write_stems

    check_disk(disk_needed(n, len(project.lanes), s.bits, s.target != "none", s.mux != "none"), out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(out)
        staging = out / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
    except OSError as exc:
        raise ExportError(f"cannot create the export folder: {exc.strerror or exc}", out) from exc

    shown = ("", -1.0)

    def step(message: str, fraction: float) -> None:
        nonlocal shown
        if cancel is not None and cancel.is_set():
            raise CancelledError("export cancelled", out)
        # Called once per block: report a new stage, or every whole percent of one.
        if progress is not None and (message != shown[0] or fraction - shown[1] >= 0.01):
            shown = (message, fraction)
            progress(message, fraction)

    temps: dict[str, Path] = {}
    moving = False
    try:
        step("Rendering lanes", 0.0)
        audible = audible_lanes(project)
        time_ref = timecode_to_samples(project.start_timecode, project.rate, sr)
        # Block by block (memory flat in the picture's length): the same samples as render_lanes + normalize.
        keys = [f"stem:{ln.name}" for ln in project.lanes] + ["mix"]
        written, gain_db, limited, review_mix = write_stems(
            project, s, n, staging, {k: finals[k].name for k in keys}, audible, time_ref, step
        )
        files: list[ExportedFile] = []
        for key in keys:
            lane = key[5:] if key.startswith("stem:") else None
            temps[key] = staging / finals[key].name
            clipped, loud = written[key]
            extra: dict[str, Any] = {"in_mix": lane in audible} if lane is not None else {}
            extra["clipped_samples"] = clipped
            files.append(ExportedFile("stem" if lane else "mix", finals[key], lane, n, loud, extra))
        if s.mux != "none":
            from triergon_studio.video.mux import mux_review

            step(f"Writing {finals['review'].name}", 0.75)
            temps["review"] = staging / finals["review"].name
            assert video is not None and review_mix is not None
            mux_review(video, review_mix, sr, temps["review"], s.mux)
            review_mix.path.unlink(missing_ok=True)
            files.append(
                ExportedFile(
                    "review", finals["review"], extra={"container": s.mux, "video_copied_from": video.name}
                )
            )
        if s.reaper:
            step(f"Writing {finals['reaper'].name}", 0.85)
            temps["reaper"] = staging / finals["reaper"].name
            _write_reaper(temps["reaper"], project, files, sr, n / sr, video, out)
            files.append(ExportedFile("reaper", finals["reaper"]))
        report = _report(project, s, files, n, time_ref, gain_db, limited)
        temps["report"] = staging / finals["report"].name
        _write_text(temps["report"], json.dumps(report, indent=1))
        step("Finishing", 0.95)
        # Commit: the journal names every file; the report moves last, so a folder with a report and no
        # journal holds a finished export, and one with a journal is detectably unfinished (--resume).
        order = [k for k in temps if k != "report"] + ["report"]
        _write_text(
            journal,
            json.dumps(
                {
                    "format": JOURNAL_FORMAT,
                    "version": 1,
                    "project": project.name,
                    "staging": staging.name,
                    "files": [finals[k].name for k in order],
                }
            ),
        )
        moving = True
        for key in order:
            _move(temps[key], finals[key])
        journal.unlink()
        moving = False
        temps.clear()
    except StudioError:
        raise
    except OSError as exc:
        if moving:
            raise ExportError(
                f"stopped while moving files into place ({exc.strerror or exc}); run export "
                "again with --resume to finish it",
                out,
            ) from exc
        raise ExportError(f"could not be written: {exc.strerror or exc}", out) from exc
    finally:
        if not moving:  # nothing under a final name yet (or everything is): the staging folder goes
            shutil.rmtree(staging, ignore_errors=True)
    if progress is not None:
        progress("Done", 1.0)
    return ExportResult(
        out, [*files, ExportedFile("report", finals["report"])], n, time_ref, gain_db, finals["report"]
    )


STAGING_PREFIX = ".triergon-export-"
JOURNAL_SUFFIX = ".export-pending.json"
JOURNAL_FORMAT = "triergon-export-journal"
_LEGACY_PARTIAL = re.compile(r"^\..+\.partial-(\d+)(\.[A-Za-z0-9]+)?$")  # what exports wrote before staging
_STAGING = re.compile(r"^" + re.escape(STAGING_PREFIX) + r"(\d+)-[0-9a-f]+$")


def _move(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _journal_path(out: Path, base: str) -> Path:
    return out / f".{base}{JOURNAL_SUFFIX}"


def _read_journal(journal: Path) -> dict[str, Any]:
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(
            "unfinished-export journal is unreadable; use --force to redo the export", journal
        ) from exc
    if (
        not isinstance(data, dict)
        or data.get("format") != JOURNAL_FORMAT
        or not isinstance(data.get("files"), list)
        or not isinstance(data.get("staging"), str)
        or not _STAGING.match(data["staging"])
    ):
        raise ExportError("is not an export journal of this program; use --force to redo the export", journal)
    if any(not isinstance(f, str) or "/" in f or "\\" in f or f.startswith(".") for f in data["files"]):
        raise ExportError("export journal names a file outside the export folder", journal)
    return data


def _journal_state(journal: Path, out: Path) -> str:
    try:
        files = _read_journal(journal)["files"]
    except ExportError:
        return "its journal is unreadable"
    done = sum((out / f).exists() for f in files[:-1])
    return f"{done} of {len(files)} files in place, no report yet"


def _discard(journal: Path, out: Path) -> None:
    try:
        shutil.rmtree(out / _read_journal(journal)["staging"], ignore_errors=True)
    except ExportError:
        pass
    journal.unlink(missing_ok=True)


def _resume(journal: Path, out: Path, progress: Progress | None) -> ExportResult:
    """Move the rest of an interrupted export's files into place, the report last."""
    data = _read_journal(journal)
    staging = out / data["staging"]
    for name in data["files"]:
        src, dst = staging / name, out / name
        if src.exists():
            try:
                os.replace(src, dst)
            except OSError as exc:
                raise ExportError(f"cannot move {name} into place: {exc.strerror or exc}", out) from exc
        elif not dst.exists():
            raise ExportError(
                f"cannot resume: {name} is missing from the staging folder; use --force to redo the export",
                out,
            )
    journal.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    report_path = out / data["files"][-1]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    files = [
        ExportedFile(
            f["kind"],
            out / f["file"],
            f.get("lane"),
            f.get("length_samples"),
            extra={k: v for k, v in f.items() if k == "clipped_samples"},
        )
        for f in report["files"]
    ]
    if progress is not None:
        progress("Done", 1.0)
    return ExportResult(
        out,
        [*files, ExportedFile("report", report_path)],
        int(report["picture_samples"]),
        int(report["bext_time_reference"]),
        float(report["mix_gain_db"]),
        report_path,
    )


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove what an export of this program killed mid-way left behind: staging folders whose process is
    gone and that no unfinished-export journal still needs, and the hidden ``.NAME.partial-PID.ext`` files
    of older versions whose process is gone. Returns what was removed."""
    needed = set()
    for j in out.glob(f".*{JOURNAL_SUFFIX}"):
        try:
            needed.add(_read_journal(j)["staging"])
        except ExportError:
            continue
    removed = []
    for entry in out.iterdir():
        m = _STAGING.match(entry.name) if entry.is_dir() else _LEGACY_PARTIAL.match(entry.name)
        if m is None or entry.name in needed or _pid_alive(int(m.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _write_text(path: Path, text: str) -> None:
    from triergon_studio.core.atomic import atomic_write_text

    atomic_write_text(path, text + "\n")


def _write_reaper(
    path: Path,
    project: Project,
    files: list[ExportedFile],
    sr: int,
    length_s: float,
    video: Path | None,
    out: Path,
) -> None:
    from triergon_studio.audio.reaper import RppItem, RppTrack, write_rpp

    lanes = {ln.name: ln for ln in project.lanes}
    tracks = []
    if video is not None:
        try:
            vfile = os.path.relpath(video, out)
        except ValueError:
            vfile = str(video)
        tracks.append(RppTrack("VIDEO", (RppItem(video.name, vfile, 0.0, length_s, "VIDEO"),)))
    for f in files:
        if f.kind == "stem":
            lane = lanes[f.lane or ""]
            tracks.append(
                RppTrack(
                    f.lane or "",
                    (RppItem(f.path.name, f.path.name, 0.0, length_s),),
                    mute=lane.mute,
                    solo=lane.solo,
                )
            )
    start_s = float(timecode_to_samples(project.start_timecode, project.rate, 1_000_000)) / 1_000_000
    from triergon_studio.audio.reaper import RppTextError

    try:
        _write_rpp_checked(path, write_rpp, tracks, project, sr, start_s)
    except RppTextError as exc:
        raise ExportError(f"cannot write the REAPER project: {exc}", out) from exc


def _write_rpp_checked(
    path: Path, write_rpp: Any, tracks: list[Any], project: Project, sr: int, start_s: float
) -> None:
    from triergon_studio.audio.reaper import RppProject

    write_rpp(
        path,
        RppProject(
            tracks=tracks,
            fps=project.fps,
            drop_frame=project.drop_frame,
            sample_rate=sr,
            start_offset_s=start_s,
            markers=[(m.time_s, m.name) for m in project.markers],
            regions=[(r.start_s, r.end_s, r.name) for r in project.regions],
        ),
    )


def _report(
    project: Project,
    s: ExportSettings,
    files: list[ExportedFile],
    n: int,
    time_ref: int,
    gain_db: float,
    limited: bool,
) -> dict[str, Any]:
    return {
        "format": "triergon-export-report",
        "version": 1,
        "project": project.name,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "video": project.video.path if project.video else None,
        "fps": {
            "num": project.fps.numerator,
            "den": project.fps.denominator,
            "drop_frame": project.drop_frame,
        },
        "frame_count": project.frame_count,
        "start_timecode": project.start_timecode,
        "sample_rate": s.sample_rate,
        "bits": s.bits,
        "picture_samples": n,
        "bext_time_reference": time_ref,
        "loudness_target": s.target,
        "mix_gain_db": round(gain_db, 3),
        "mix_limited": limited,
        "files": [f.to_json() for f in files],
    }
