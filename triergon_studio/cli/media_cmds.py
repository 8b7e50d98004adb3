"""Media and project commands: probe, new, add-take, export.

Heavy modules (av, numpy, scipy) are imported inside the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe", help="print a video's frame rate, frame count, size, rotation and audio as JSON"
    )
    p.add_argument("video", type=Path)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("new", help="create a project for a video")
    p.add_argument("video", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="project file to write (PROJECT.json)")
    p.add_argument("--start-timecode", default=None, help="timecode of the first frame, e.g. 01:00:00:00")
    p.add_argument("--drop-frame", action="store_true", help="drop-frame timecode (29.97 / 59.94 only)")
    p.add_argument("--sample-rate", type=int, default=48000, choices=(44100, 48000))
    p.add_argument("--force", action="store_true", help="replace an existing project file")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("add-take", help="import library audio as a take and place it on a lane")
    p.add_argument("project", type=Path)
    p.add_argument("audio", type=Path)
    p.add_argument("--lane", default="FOLEY")
    p.add_argument("--at", type=float, default=0.0, metavar="SECONDS", help="offset from the first frame")
    p.add_argument("--name", default=None)
    p.set_defaults(func=cmd_add_take)

    p = sub.add_parser(
        "export", help="write stems, the mix, and optionally a review video and REAPER project"
    )
    p.add_argument("project", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write into")
    p.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        choices=(44100, 48000),
        help="delivery rate (default: the project's)",
    )
    p.add_argument("--bits", default="24", choices=("24", "32f"))
    p.add_argument("--target", default="none", choices=("none", "r128", "a85", "stream", "apple", "custom"))
    p.add_argument("--lufs", type=float, default=None, help="integrated loudness for --target custom")
    p.add_argument(
        "--true-peak", type=float, default=None, help="true-peak ceiling (dBTP) for --target custom"
    )
    p.add_argument("--mux", default="none", choices=("none", "mp4", "mov"))
    p.add_argument("--reaper", action="store_true", help="also write a REAPER project (.rpp)")
    p.add_argument("--force", action="store_true", help="replace files that already exist")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an export that was interrupted while its files were moved into place",
    )
    p.set_defaults(func=cmd_export)


def cmd_probe(args: argparse.Namespace) -> int:
    from triergon_studio.video.probe import probe

    print(json.dumps(probe(args.video).to_json_dict(), indent=1))
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from triergon_studio.errors import ProjectError
    from triergon_studio.video.project_video import new_project

    out: Path = args.output
    if out.exists() and not args.force:
        raise ProjectError("already exists; use --force to replace it", out)
    project = new_project(args.video, out)
    project.sample_rate = args.sample_rate
    if args.drop_frame:
        project.set_drop_frame(True)
    if args.start_timecode:
        project.set_start_timecode(args.start_timecode)
    project.undo.clear()  # a new project starts with an empty history
    project.save(out, overwrite=args.force)
    print(
        json.dumps(
            {
                "project": str(project.path),
                "video": project.video.path if project.video else None,
                "fps": str(project.rate),
                "frame_count": project.frame_count,
                "lanes": [ln.name for ln in project.lanes],
            },
            indent=1,
        )
    )
    return 0


def cmd_add_take(args: argparse.Namespace) -> int:
    from triergon_studio.audio.io import read_audio, write_wav
    from triergon_studio.core.model import Take, new_id
    from triergon_studio.core.project import Project
    from triergon_studio.core.take_sidecar import read_sidecar
    from triergon_studio.core.validate import check_offset_s
    from triergon_studio.errors import ParameterError

    try:
        check_offset_s(args.at, "--at")
    except ParameterError as exc:  # name the project the take was meant for
        raise ParameterError(str(exc), args.project) from exc
    project = Project.load(args.project)
    project.lane(args.lane)  # fail before copying anything if the lane does not exist
    made = read_sidecar(args.audio)  # written by `generate`: keep how the take was made
    audio, sr = read_audio(args.audio)
    name = args.name or args.audio.stem
    dest = project.new_take_path(name)
    write_wav(dest, audio, sr, bits="32f")  # lossless copy of what was read, inside the project folder
    meta = {**(made["metadata"] if made else {}), "imported_from": str(args.audio.resolve())}
    take = Take(
        id=new_id(),
        name=name,
        path=dest.relative_to(project.folder).as_posix(),
        duration_s=len(audio) / sr,
        sample_rate=sr,
        source="generated" if made else "imported",
        prompts=made["prompts"] if made else None,
        settings=made["settings"] if made else None,
        curves=made["curves"] if made else None,
        metadata=meta,
    )
    try:
        project.add_take(take, lane=args.lane, offset_s=args.at)
        project.save()
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    print(
        json.dumps(
            {
                "take_id": take.id,
                "file": take.path,
                "source": take.source,
                "lane": project.lane(args.lane).name,
                "offset_s": args.at,
                "duration_s": round(take.duration_s, 6),
            },
            indent=1,
        )
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from triergon_studio.audio.export import ExportSettings, export_project
    from triergon_studio.core.project import Project

    project = Project.load(args.project)
    settings = ExportSettings(
        sample_rate=args.sample_rate or project.sample_rate,
        bits=args.bits,
        target=args.target,
        target_lufs=args.lufs,
        true_peak_dbtp=args.true_peak,
        mux=args.mux,
        reaper=args.reaper,
        force=args.force,
        resume=args.resume,
    )

    def progress(message: str, fraction: float) -> None:
        print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr)

    result = export_project(project, args.output, settings, progress=progress)
    for f in result.files:
        if f.extra.get("clipped_samples"):
            print(
                f"warning: {f.path}: {f.extra['clipped_samples']} sample(s) clipped at full scale; lower the "
                f"lane gain, use --target or --bits 32f",
                file=sys.stderr,
            )
    print(
        json.dumps(
            {
                "report": str(result.report_path),
                "picture_samples": result.picture_samples,
                "time_reference": result.time_reference,
                "mix_gain_db": round(result.mix_gain_db, 3),
                "files": [str(f.path) for f in result.files],
            },
            indent=1,
        )
    )
    return 0
