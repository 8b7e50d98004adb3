"""Headless commands. Each area registers its subcommands from its own module, and every command calls the
same engine, audio and video code the UI calls.

Heavy imports (torch, Qt) happen inside the command handlers, never at module import, so ``measure`` and
``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from triergon_studio import __version__
from triergon_studio.errors import StudioError

_LOG = logging.getLogger("triergon_studio.cli")

# Each module defines ``register(subparsers)``; a handler is stored with ``set_defaults(func=...)``.
COMMAND_MODULES = (
    "triergon_studio.cli.audio_cmds",
    "triergon_studio.cli.media_cmds",
    "triergon_studio.cli.model_cmds",
    "triergon_studio.cli.predict_cmds",
    "triergon_studio.cli.train_cmds",
    "triergon_studio.cli.app_cmd",
    "triergon_studio.cli.render_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triergon-studio",
        description="Tri-Ergon Studio: video-to-audio Foley with L/R loudness control.",
    )
    parser.add_argument("--version", action="version", version=f"triergon-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet must not break the others
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    caught: list[warnings.WarningMessage] = []
    try:
        # Library warnings (torch, PyAV, ...) are recorded, not printed between the user's lines: a refusal
        # stays one line, and a success shows each warning folded onto one line.
        with warnings.catch_warnings(record=True) as caught:
            rc = args.func(args)
    except StudioError as exc:
        for w in caught:
            _LOG.debug("%s: %s", w.category.__name__, w.message)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `probe VIDEO | head`: the reader left; not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 141
    for w in caught:
        text = " ".join(str(w.message).split())
        print(f"warning: {w.category.__name__}: {text[:300]}", file=sys.stderr)
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
