"""Menus, shortcuts and the file / job actions of the main window (kept apart so each file stays short)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from triergon_studio.ui.jobs import generation_job, predict_job
from triergon_studio.ui.worker import Job

if TYPE_CHECKING:
    from triergon_studio.ui.main_window import MainWindow

VIDEO_FILTER = "Video (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.mxf);;All files (*)"
PROJECT_FILTER = "Tri-Ergon project (*.json *.triergon);;All files (*)"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a"}
MAX_RECENT = 8


def model_names() -> list[str]:
    """Model choices without importing torch: presets by name plus bundled model folders."""
    from triergon_studio.engine.model_paths import named_models

    names = ["compact", "tiny-random", "compact-random"]
    return names + [n for n in named_models() if n not in names]


def _act(win: MainWindow, menu: Any, text: str, slot: Any, shortcut: Any = None, name: str = "") -> QAction:
    act = QAction(text, win)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    act.triggered.connect(lambda _=False: slot())
    if name:
        act.setObjectName(name)
    menu.addAction(act)
    return act


def build_menus(win: MainWindow) -> None:
    bar = win.menuBar()
    f = bar.addMenu("&File")
    _act(win, f, "New project from video…", lambda: new_from_video(win), QKeySequence.StandardKey.New)
    _act(win, f, "Open…", lambda: open_dialog(win), QKeySequence.StandardKey.Open)
    win.recent_menu = f.addMenu("Open recent")
    f.addSeparator()
    _act(win, f, "Save", lambda: save(win), QKeySequence.StandardKey.Save)
    _act(win, f, "Save as…", lambda: save_as(win), QKeySequence.StandardKey.SaveAs)
    f.addSeparator()
    win.export_action = _act(win, f, "Export…", lambda: open_export(win), "Ctrl+E", "exportAction")
    f.addSeparator()
    _act(win, f, "Quit", win.close, QKeySequence.StandardKey.Quit)
    e = bar.addMenu("&Edit")
    win.undo_action = _act(win, e, "Undo", lambda: win.project.undo.undo(), QKeySequence("Ctrl+Z"))
    win.redo_action = _act(win, e, "Redo", lambda: win.project.undo.redo(), QKeySequence("Ctrl+Shift+Z"))
    t = bar.addMenu("&Transport")
    tr = win.transport
    _act(win, t, "Play / stop", tr.toggle, "Space")
    _act(win, t, "Shuttle back", tr.shuttle_back, "J")
    _act(win, t, "Pause", tr.pause, "K")
    _act(win, t, "Shuttle forward", tr.shuttle_forward, "L")
    _act(win, t, "Step back one frame", lambda: tr.step(-1), "Left")
    _act(win, t, "Step forward one frame", lambda: tr.step(1), "Right")
    _act(win, t, "Go to start", tr.home, "Home")
    _act(win, t, "Go to end", tr.end, "End")
    _act(win, t, "Loop region", lambda: win.transport_bar.loop_box.toggle(), "Ctrl+L")
    g = bar.addMenu("&Generate")
    win.generate_action = _act(win, g, "Generate", win.generate, "Ctrl+Return")
    _act(win, g, "Generate (keypad Enter)", win.generate, "Ctrl+Enter")
    _act(win, g, "Cancel", win.cancel_generation, "Ctrl+.")
    _act(win, g, "Regenerate region", win.regenerate_region, "Ctrl+Shift+Return")
    g.addSeparator()
    _act(win, g, "Predict curves from video", win.predict_curves, "Ctrl+Shift+P")
    _act(win, g, "Measure curves from reference audio", win.measure_from_reference, "Ctrl+Shift+M")
    c = bar.addMenu("&Curves")
    for act in win.curve_toolbar.actions():
        if act.text():
            c.addAction(act)
    win.export_button = _export_button(win)
    refresh_recent(win)


def _export_button(win: MainWindow) -> Any:
    from PySide6.QtWidgets import QPushButton

    b = QPushButton("Export…")
    b.setObjectName("exportButton")
    b.setToolTip("Export stems, mix, BWF, review video, REAPER project (Ctrl+E)")
    b.clicked.connect(lambda: open_export(win))
    win.transport_bar.layout().addWidget(b)
    return b


def bind_undo(win: MainWindow) -> None:
    refresh_undo(win)


def refresh_undo(win: MainWindow) -> None:
    u = win.project.undo
    win.undo_action.setEnabled(u.can_undo)
    win.redo_action.setEnabled(u.can_redo)
    win.undo_action.setText(f"Undo {u.undo_text}".strip())
    win.redo_action.setText(f"Redo {u.redo_text}".strip())


# ---- files -------------------------------------------------------------------------------------------
def confirm_discard(win: MainWindow) -> bool:
    """Ask before losing unsaved changes. True when it is fine to go on."""
    answer = QMessageBox.question(
        win, "Unsaved changes", f"Save the changes to {win.project.name} first?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save)
    if answer == QMessageBox.StandardButton.Save:
        return save(win)
    return answer == QMessageBox.StandardButton.Discard


def new_from_video(win: MainWindow, video: str | None = None, project_path: str | None = None) -> bool:
    if win.project.is_dirty and not confirm_discard(win):
        return False
    if video is None:
        video, _ = QFileDialog.getOpenFileName(win, "New project from video", "", VIDEO_FILTER)
        if not video:
            return False
    if project_path is None:
        suggested = str(Path(video).with_suffix(".triergon.json"))
        project_path, _ = QFileDialog.getSaveFileName(win, "Save the new project as", suggested, PROJECT_FILTER)
        if not project_path:
            return False
    from triergon_studio.core.project import Project
    from triergon_studio.errors import StudioError

    try:
        project = Project.new_from_video(video, project_path)
        project.save(overwrite=True)
    except StudioError as exc:
        win.show_error(str(exc))
        return False
    win.set_project(project)
    add_recent(win, str(project.path))
    return True


def open_dialog(win: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(win, "Open project", "", PROJECT_FILTER)
    if path:
        open_project(win, path)


def open_project(win: MainWindow, path: str, ask_recovery: bool = True) -> bool:
    from triergon_studio.core import autosave
    from triergon_studio.core.project import Project
    from triergon_studio.errors import StudioError

    if win.project.is_dirty and not confirm_discard(win):
        return False
    try:
        if ask_recovery and autosave.has_recovery(path):
            answer = QMessageBox.question(
                win, "Recover unsaved work",
                f"{Path(path).name} was not closed cleanly. Recover the autosaved changes?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if answer == QMessageBox.StandardButton.Yes:
                project = autosave.recover(path)
            else:
                autosave.discard_recovery(path)
                project = Project.load(path)
        else:
            project = Project.load(path)
    except StudioError as exc:
        win.show_error(str(exc))
        return False
    win.set_project(project)
    add_recent(win, str(Path(path).resolve()))
    status = project.video_status() if project.video is not None else "ok"
    if status != "ok":
        win.show_error(f"{project.video_abspath()}: the project's video is {status}; relink it")
    return True


def save(win: MainWindow) -> bool:
    from triergon_studio.errors import StudioError

    if win.project.path is None:
        return save_as(win)
    try:
        win.project.save()
    except StudioError as exc:
        win.show_error(str(exc))
        return False
    win.statusBar().showMessage(f"Saved {win.project.path}", 4000)
    return True


def save_as(win: MainWindow, path: str | None = None) -> bool:
    from triergon_studio.errors import StudioError

    if path is None:
        path, _ = QFileDialog.getSaveFileName(win, "Save project as", str(win.project.path or ""), PROJECT_FILTER)
        if not path:
            return False
    try:
        # The file dialog already asked about replacing an existing file.
        win.project.save(path, overwrite=True)
    except StudioError as exc:
        win.show_error(str(exc))
        return False
    add_recent(win, str(win.project.path))
    win._update_title()
    return True


def recent_files(win: MainWindow) -> list[str]:
    value = win.settings.value("recent", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent(win: MainWindow, path: str) -> None:
    items = [path] + [p for p in recent_files(win) if p != path]
    win.settings.setValue("recent", items[:MAX_RECENT])
    refresh_recent(win)


def refresh_recent(win: MainWindow) -> None:
    menu = win.recent_menu
    menu.clear()
    for path in recent_files(win):
        act = menu.addAction(path)
        act.triggered.connect(lambda _=False, p=path: open_project(win, p))
    menu.setEnabled(bool(menu.actions()))


def autosave(win: MainWindow) -> None:
    from triergon_studio.core.autosave import Autosaver

    saver = getattr(win, "_autosaver", None)
    if saver is None or saver.project is not win.project:
        saver = win._autosaver = Autosaver(win.project, interval_s=0.0)
    saver.autosave_now()
    if saver.last_error:
        win.statusBar().showMessage(saver.last_error, 8000)


def attach_autosaver(win: MainWindow) -> None:
    """One autosaver per open project, made when it is opened (it compares against that revision)."""
    from triergon_studio.core.autosave import Autosaver

    win._autosaver = Autosaver(win.project, interval_s=0.0)


def handle_drop(win: MainWindow, paths: list[str]) -> None:
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            new_from_video(win, path)
            return
        if suffix in AUDIO_SUFFIXES:
            win.load_reference(path)
            return
        if suffix == ".json":
            open_project(win, path)
            return
    if paths:
        win.show_error(f"{paths[0]}: not a video, an audio file or a project")


def open_export(win: MainWindow) -> None:
    from triergon_studio.ui.export_dialog import ExportDialog

    if win.project.path is None:
        win.show_error("Save the project before exporting (the export goes next to it)")
        return
    dialog = ExportDialog(win.project, win)
    dialog.exec()


# ---- jobs --------------------------------------------------------------------------------------------
def submit_predict(win: MainWindow) -> None:
    p = win.project
    video = p.video_abspath() if p.video is not None else None
    if video is None:
        win.show_error("Open a video first: the curves are predicted from the picture")
        return

    def done(curve: Any) -> None:
        win.project.set_curves(curve, "Predict curves from video")

    name = win.prompt_panel.model.currentText() or p.settings.model
    win.jobs.submit(Job("Predict curves", predict_job(win.model_host, name, Path(video), p.duration_s),
                        on_return=done, kind="predict"))


def submit_generation(win: MainWindow, region: tuple[float, float] | None = None) -> None:
    from triergon_studio.core.take_spec import spec_from_project
    from triergon_studio.errors import StudioError

    p = win.project
    if p.path is None and not save_as(win):
        win.show_error("Save the project first: takes are written into its folder")
        return
    if p.video is None and p.duration_s <= 0:
        win.show_error("Nothing to generate: the project has no picture span")
        return
    seeds = win.next_seeds()
    source = p.take(win._selected_take) if region and win._selected_take else None
    try:
        spec = spec_from_project(p, region=region, source_take=source, seed=seeds[0])
    except StudioError as exc:
        win.show_error(str(exc))
        return
    stem = (p.prompts.text.strip().split("\n")[0][:24] or "take").replace(" ", "_")
    if source is not None:
        stem = f"{source.name}_regen".replace(" ", "_")
    paths = [p.new_take_path(stem) for _ in range(spec.variations)]

    def done(results: list[Any]) -> None:
        from triergon_studio.core.model import new_id
        from triergon_studio.core.take_sidecar import take_from_record

        proj = win.project
        if proj is not p:
            return
        first = None
        with proj.undo.macro(f"Generate {len(results)} take(s)"):
            for r in results:
                rel = Path(r.path).relative_to(proj.folder).as_posix()
                take = take_from_record(r.record, take_id=new_id(), name=f"{stem} {len(proj.takes) + 1}", path=rel,
                                        duration_s=float(r.duration_s), sample_rate=int(r.sample_rate),
                                        metadata={"start_s": r.start_s, "seed": int(r.seed)})
                proj.add_take(take)
                first = first or take.id
        if first is not None:
            win.takes_panel.select(first)

    if source is not None and region is not None:
        name = f"Regenerate {region[0]:.2f}-{region[1]:.2f} s of {source.name}"
    else:
        label = "Generate region" if region else "Generate"
        name = f"{label} ({len(paths)} take{'s' if len(paths) > 1 else ''})"
    win.jobs.submit(Job(name, generation_job(win.model_host, spec, paths), on_return=done))
