"""Application start-up: the window appears first; torch and the model load later, on demand."""

from __future__ import annotations

import sys
from pathlib import Path

from triergon_studio.errors import StudioError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf"}


def make_app() -> object:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("TriErgon")
    app.setApplicationName("Tri-Ergon Studio")
    from importlib import resources

    style = resources.files("triergon_studio") / "resources" / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def open_target(win: object, target: str | None) -> None:
    from triergon_studio.ui import window_actions

    if not target:
        return
    path = Path(target)
    if not path.exists():
        raise StudioError("does not exist", path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        project_path = path.with_suffix(".triergon.json")
        if project_path.exists():
            window_actions.open_project(win, str(project_path))
        else:
            window_actions.new_from_video(win, str(path), str(project_path))
    else:
        window_actions.open_project(win, str(path))


def main(target: str | None = None, open_audio: bool = True, device: str = "cpu") -> int:
    if target and not Path(target).exists():
        raise StudioError("does not exist", target)  # before any window: the CLI prints it and exits 2
    app = make_app()
    from triergon_studio.ui.main_window import MainWindow

    win = MainWindow(open_audio=open_audio, device=device)
    win.show()
    open_target(win, target)
    return int(app.exec())  # type: ignore[attr-defined]
