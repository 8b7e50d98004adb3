"""The project's files: new, open, save, save as, recent files, autosave and crash recovery, drops.

``ProjectFiles`` talks to the window through ``FilesHost`` (a protocol), so it never imports the window. The
autosave interval is ``core.autosave.AUTOSAVE_INTERVAL_S``; the timer only asks the project's ``Autosaver``,
which writes the sidecar when there are unsaved changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from triergon_studio.core.autosave import AUTOSAVE_INTERVAL_S, Autosaver
from triergon_studio.errors import StudioError

if TYPE_CHECKING:
    from triergon_studio.core.project import Project

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a")
PROJECT_SUFFIXES = (".json", ".triergon")


def file_filter(label: str, suffixes: tuple[str, ...]) -> str:
    return f"{label} ({' '.join('*' + s for s in suffixes)});;All files (*)"


VIDEO_FILTER = file_filter("Video", VIDEO_SUFFIXES)
AUDIO_FILTER = file_filter("Audio", AUDIO_SUFFIXES)
PROJECT_FILTER = file_filter("Tri-Ergon project", PROJECT_SUFFIXES)
MAX_RECENT = 8


class FilesHost(Protocol):
    """What the file actions need from the window."""

    project: Project
    settings: QSettings

    def set_project(self, project: Project) -> None: ...
    def show_error(self, message: str, key: str = "error") -> None: ...
    def show_status(self, message: str, ms: int = 4000) -> None: ...
    def load_reference(self, path: str) -> None: ...
    def flush_edits(self) -> None: ...
    def refresh_title(self) -> None: ...


class ProjectFiles(QObject):
    def __init__(self, host: FilesHost, dialog_parent: QWidget, recent_menu: QMenu) -> None:
        super().__init__(dialog_parent)
        self.host = host
        self.parent_widget = dialog_parent
        self.recent_menu = recent_menu
        self.autosaver: Autosaver | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(int(AUTOSAVE_INTERVAL_S * 1000))
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        self.refresh_recent()

    @property
    def project(self) -> Project:
        return self.host.project

    def attach(self, project: Project) -> None:
        """One autosaver per open project, made when it is opened (it compares against that revision)."""
        self.autosaver = Autosaver(project, interval_s=0.0)

    # ---- asking ---------------------------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """Ask before losing unsaved changes. True when it is fine to go on. Discard also removes the
        autosave sidecar: the user chose to lose those changes, so the next open must not offer them."""
        answer = QMessageBox.question(
            self.parent_widget,
            "Unsaved changes",
            f"Save the changes to {self.project.name} first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            self.discard_autosave()
            return True
        return False

    def discard_autosave(self) -> None:
        from triergon_studio.core import autosave

        if self.project.path is not None:
            autosave.discard_recovery(self.project.path)

    # ---- new / open -----------------------------------------------------------------------------------
    def new_from_video(self, video: str | None = None, project_path: str | None = None) -> bool:
        if self.project.is_dirty and not self.confirm_discard():
            return False
        if video is None:
            video, _ = QFileDialog.getOpenFileName(
                self.parent_widget, "New project from video", "", VIDEO_FILTER
            )
            if not video:
                return False
        if project_path is None:
            suggested = str(Path(video).with_suffix(".triergon.json"))
            project_path, _ = QFileDialog.getSaveFileName(
                self.parent_widget, "Save the new project as", suggested, PROJECT_FILTER
            )
            if not project_path:
                return False
        from triergon_studio.video.project_video import new_project

        try:
            project = new_project(video, project_path)
            project.save(overwrite=True)
        except StudioError as exc:
            self.host.show_error(str(exc), "open")
            return False
        self.host.set_project(project)
        self.add_recent(str(project.path))
        return True

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def open_project(self, path: str, ask_recovery: bool = True) -> bool:
        from triergon_studio.core import autosave
        from triergon_studio.core.project import Project

        if self.project.is_dirty and not self.confirm_discard():
            return False
        try:
            if ask_recovery and autosave.has_recovery(path):
                answer = QMessageBox.question(
                    self.parent_widget,
                    "Recover unsaved work",
                    f"{Path(path).name} was not closed cleanly. Recover the autosaved changes?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.Yes,
                )
                if answer == QMessageBox.StandardButton.Yes:
                    project = autosave.recover(path)
                else:
                    autosave.discard_recovery(path)
                    project = Project.load(path)
            else:
                project = Project.load(path)
        except StudioError as exc:
            self.host.show_error(str(exc), "open")
            return False
        except Exception as exc:  # noqa: BLE001 - a broken file is a message (the traceback goes to the log)
            from triergon_studio.ui.errorlog import user_message

            self.host.show_error(user_message(exc, f"{path}: cannot open the project"), "open")
            return False
        self.host.set_project(project)
        self.add_recent(str(Path(path).resolve()))
        status = project.video_status() if project.video is not None else "ok"
        if status != "ok":
            self.host.show_error(
                f"{project.video_abspath()}: the project's video is {status}; relink it", "video"
            )
        return True

    # ---- save -----------------------------------------------------------------------------------------
    def save(self) -> bool:
        self.host.flush_edits()
        if self.project.path is None:
            return self.save_as()
        try:
            self.project.save()
        except StudioError as exc:
            self.host.show_error(str(exc), "save")
            return False
        self.host.show_status(f"Saved {self.project.path}")
        return True

    def save_as(self, path: str | None = None) -> bool:
        self.host.flush_edits()
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.parent_widget, "Save project as", str(self.project.path or ""), PROJECT_FILTER
            )
            if not path:
                return False
        try:
            # The file dialog already asked about replacing an existing file.
            self.project.save(path, overwrite=True)
        except StudioError as exc:
            self.host.show_error(str(exc), "save")
            return False
        self.add_recent(str(self.project.path))
        self.host.refresh_title()
        return True

    def autosave(self) -> None:
        saver = self.autosaver
        if saver is None or saver.project is not self.project:
            saver = self.autosaver = Autosaver(self.project, interval_s=0.0)
        saver.autosave_now()
        if saver.last_error:
            self.host.show_status(saver.last_error, 8000)

    # ---- recent files ---------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.host.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_files() if p != path]
        self.host.settings.setValue("recent", items[:MAX_RECENT])
        self.refresh_recent()

    def refresh_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for path in self.recent_files():
            act = menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_project(p))
        menu.setEnabled(bool(menu.actions()))

    # ---- drops ----------------------------------------------------------------------------------------
    def handle_drop(self, paths: list[str]) -> None:
        for path in paths:
            suffix = Path(path).suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                self.new_from_video(path)
                return
            if suffix in AUDIO_SUFFIXES:
                self.host.load_reference(path)
                return
            if suffix in PROJECT_SUFFIXES:
                self.open_project(path)
                return
        if paths:
            self.host.show_error(
                f"{paths[0]}: not a video, an audio file or a project "
                f"(video: {' '.join(VIDEO_SUFFIXES)}; audio: {' '.join(AUDIO_SUFFIXES)})",
                "drop",
            )
