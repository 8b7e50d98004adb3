"""``triergon-studio app [PROJECT_OR_VIDEO]``: open the desktop app. Qt is imported inside the handler."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("app", help="open the desktop app (a project file, or a video to start one)")
    p.add_argument(
        "target",
        nargs="?",
        default=None,
        metavar="PROJECT_OR_VIDEO",
        help="a project .json to open, or a video to start a new project next to it",
    )
    p.add_argument("--no-audio", action="store_true", help="do not open an audio output device")
    p.add_argument("--device", default="cpu", help="torch device for generation (cpu, cuda, cuda:1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from triergon_studio.ui.app import main

    return main(args.target, open_audio=not args.no_audio, device=args.device)
