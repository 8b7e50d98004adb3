"""User-facing error messages, and the log file that keeps the tracebacks behind them.

The window shows one line per failure (what went wrong and what to do); the traceback goes to a rotating log
file that Help > Show log opens. Qt-free, so the worker thread and the background pool can call it.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from triergon_studio.errors import CancelledError, StudioError

LOG_DIR_ENV = "TRIERGON_LOG_DIR"  # tests (and users who want it elsewhere) point the log here
LOG_NAME = "triergon-studio.log"
LOGGER = logging.getLogger("triergon_studio")
_handler: RotatingFileHandler | None = None


def log_dir() -> Path:
    """``$TRIERGON_LOG_DIR``, else the XDG state folder (``~/.local/state/triergon-studio``)."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "triergon-studio"


def log_path() -> Path:
    return log_dir() / LOG_NAME


def setup_logging() -> Path:
    """Attach the file handler once (again if the folder changed, as tests do). Returns the log's path."""
    global _handler
    path = log_path()
    if _handler is not None and Path(_handler.baseFilename) == path.resolve():
        return path
    if _handler is not None:
        LOGGER.removeHandler(_handler)
        _handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    _handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOGGER.addHandler(_handler)
    LOGGER.setLevel(logging.INFO)
    return path


def log_exception(exc: BaseException, context: str = "") -> None:
    """Write ``exc`` with its traceback to the log file."""
    setup_logging()
    LOGGER.error("%s", context or "error", exc_info=(type(exc), exc, exc.__traceback__))


def user_message(exc: BaseException, context: str = "") -> str:
    """One line for the window, never a traceback. Anything that is not a ``StudioError`` (a clear message
    by contract) is also logged with its traceback, and the line says where the details are."""
    if isinstance(exc, StudioError):
        return str(exc)
    log_exception(exc, context)
    line = _line(exc, context)
    return line[:1].upper() + line[1:]


def _line(exc: BaseException, context: str) -> str:
    name = type(exc).__name__
    text = " ".join(str(exc).split())
    where = f"{context}: " if context else ""
    if isinstance(exc, MemoryError) or "OutOfMemory" in name or "out of memory" in text.lower():
        return f"{where}out of memory. Try fewer steps, a shorter span or a smaller model."
    if isinstance(exc, FileNotFoundError):
        return f"{where}file not found: {getattr(exc, 'filename', None) or text}"
    if isinstance(exc, PermissionError):
        return f"{where}permission denied: {getattr(exc, 'filename', None) or text}"
    return f"{where or 'Something went wrong: '}an internal error ({name}). Details are in the log (Help > Show log)."


def install_excepthook() -> None:
    """Uncaught exceptions in Qt slots go to the log instead of only to stderr."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(exc, CancelledError):
            setup_logging()
            LOGGER.error("uncaught exception", exc_info=(kind, exc, tb))
        previous(kind, exc, tb)

    sys.excepthook = hook
