"""The main window: picture and transport in the centre, docked panels around it (prompts and settings, takes,
lane mixer, meter, the timeline), menus, keys and the status bar.

It takes a ``core.project.Project``, listens to ``project.changed`` and changes it only through the project's
undoable commands. Files are ``ProjectFiles``' job, generation is ``GenerationController``'s. Long work runs in
the job queue (generation, prediction) or the background pool (file reads, measurements); the UI thread never
decodes video, reads audio or touches torch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from triergon_studio.core import curve_ops as ops
from triergon_studio.ui import timefmt
from triergon_studio.ui.background import run_async
from triergon_studio.ui.banner import Banner
from triergon_studio.ui.curve_toolbar import CurveToolbar
from triergon_studio.ui.errorlog import log_path, setup_logging, user_message
from triergon_studio.ui.generation_controller import GenerationController, model_names
from triergon_studio.ui.help_dialogs import FirstRunGuide, LogDialog
from triergon_studio.ui.jobs import ModelHost, measure_reference
from triergon_studio.ui.menus import Item, build_menu
from triergon_studio.ui.meter_widget import LoudnessMeter
from triergon_studio.ui.playback import PlaybackController
from triergon_studio.ui.project_files import ProjectFiles
from triergon_studio.ui.prompt_panel import PromptPanel
from triergon_studio.ui.shortcuts import (
    KeyboardGuard,
    ShortcutMap,
    ShortcutsDialog,
    make_focusable_without_wheel,
)
from triergon_studio.ui.takes_panel import LaneMixer, TakesPanel
from triergon_studio.ui.timeline import Timeline, waveform_envelope
from triergon_studio.ui.transport import Transport
from triergon_studio.ui.transport_bar import TransportBar
from triergon_studio.ui.video_view import FrameProvider, VideoView
from triergon_studio.ui.window_edits import WindowEdits
from triergon_studio.ui.worker import JobQueue

if TYPE_CHECKING:
    from triergon_studio.core.project import Project

MODEL_FOLDERS_KEY = "models/folders"  # QSettings: the model folders the user added, newest first
LAYOUT_VERSION = 2  # bump when the docks change, so an old saved layout is not restored over a new one


class MainWindow(QMainWindow):
    def __init__(
        self,
        project: Project | None = None,
        settings: QSettings | None = None,
        open_audio: bool = True,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        from triergon_studio.core.project import Project

        setup_logging()
        self.setObjectName("mainWindow")
        self.settings = settings or QSettings("TriErgon", "TriErgonStudio")
        self.project: Project = project if project is not None else Project()
        self.jobs = JobQueue(self)
        self.model_host = ModelHost(device)
        self.provider: FrameProvider | None = None
        self.waveforms: dict[str, Any] = {}
        self.take_curves: dict[str, Any] = {}
        self.last_error = ""
        self.selected_take: str | None = None
        self.reference_audio_data: tuple[Any, int] | None = None
        self.time_mode = str(self.settings.value("display/timecode", "auto"))
        self.shortcuts = ShortcutMap(self.settings)

        # ---- widgets ------------------------------------------------------------------------------
        self.banner = Banner()
        self.video_view = VideoView()
        self.transport = Transport(self.project.fps, self.project.duration_s, self)
        self.transport_bar = TransportBar(self.transport)
        self.prompt_panel = PromptPanel()
        self.takes_panel = TakesPanel()
        self.lane_mixer = LaneMixer()
        self.meter = LoudnessMeter()
        self.timeline = Timeline(self.project, self.format_time)
        self.curve_editor = self.timeline.curve_editor
        self.curve_toolbar = CurveToolbar(self.curve_editor)
        self.playback = PlaybackController(self.transport, self.meter, self)
        self.guide = FirstRunGuide(self.settings)

        # Named for automation and accessibility.
        self.prompt_text = self.prompt_panel.prompt_text
        self.reference_audio = self.prompt_panel.reference
        self.generate_button = self.prompt_panel.generate_button
        self.cancel_button = self.prompt_panel.cancel_button
        self.progress_bar = self.prompt_panel.progress
        self.takes_list = self.takes_panel.tree
        self.play_button = self.transport_bar.play_button
        self.start_tc = QLineEdit()
        self.start_tc.setObjectName("startTimecode")
        self.start_tc.setToolTip(
            "Start timecode of the picture's first frame (exports carry it as the BWF TimeReference)"
        )
        self.start_tc.setMaximumWidth(110)
        self.transport_bar.add_widget(QLabel("Start"))
        self.transport_bar.add_widget(self.start_tc)
        self.export_button = self.transport_bar.add_button(
            "Export…",
            "exportButton",
            "Export stems, mix, BWF, review video, REAPER project (Ctrl+E)",
            self.open_export,
        )
        self._build_layout()

        self.status_model = QLabel("Model: not loaded")
        self.status_device = QLabel("Audio: –")
        self.status_time = QLabel("")
        self.status_time.setObjectName("timeModeLabel")
        self.status_job = QLabel("Idle")
        self.status_job.setObjectName("jobState")
        for w in (self.status_time, self.status_model, self.status_device):
            self.statusBar().addPermanentWidget(w)
        self.statusBar().addWidget(self.status_job, 1)

        self.recent_menu = QMenu("Open recent", self)
        self.files = ProjectFiles(self, self, self.recent_menu)
        self.generation = GenerationController(
            jobs=self.jobs,
            model_host=self.model_host,
            panel=self.prompt_panel,
            status_job=self.status_job,
            status_model=self.status_model,
            project=lambda: self.project,
            region=lambda: self.curve_editor.region,
            selected_take=lambda: self.selected_take,
            save_as=self.files.save_as,
            report=lambda text, key: self.show_error(text, key),
            clear_report=self.banner.clear,
            flush=self.flush_edits,
            parent=self,
        )
        from triergon_studio.ui.engine_location import load_location

        self.generation.engine_location = load_location(self.settings).address
        self._restore_model_folders()
        self.edits = WindowEdits(self)
        self._build_menus()
        self._connect()
        make_focusable_without_wheel(self)
        self.keyboard_guard = KeyboardGuard(self, lambda: self.curve_editor)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.keyboard_guard)
        if open_audio:
            self.playback.open_device(self.settings.value("audio/device"))
        else:
            self.playback.status = "Audio output disabled. Playback is silent; export still works."
            self.playback.device_status.emit(self.playback.status)
        self.transport_bar.set_devices(self.playback.output_devices())
        self._restore_layout()
        self.set_project(self.project)

    # ---- layout -----------------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_layout(self) -> None:
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(self.video_view, 1)
        cl.addWidget(self.transport_bar)
        self.setCentralWidget(centre)
        # The guide floats over the picture (placed in resizeEvent), so it never squeezes the layout.
        self.guide.setParent(centre)
        # Prompts run the full height on the left; the timeline spans the rest of the width, as in a DAW.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setDockNestingEnabled(True)
        timeline_box = QWidget()
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(0)
        tl.addWidget(self.curve_toolbar)
        tl.addWidget(self.curve_toolbar.edits_bar)
        tl.addWidget(self.timeline, 1)
        self.prompt_dock = self._dock(
            "Prompts and settings", "promptDock", self.prompt_panel, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.takes_dock = self._dock(
            "Takes", "takesDock", self.takes_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.mixer_dock = self._dock(
            "Lanes", "mixerDock", self.lane_mixer, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.meter_dock = self._dock("Meter", "meterDock", self.meter, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.takes_dock, self.mixer_dock)
        self.tabifyDockWidget(self.mixer_dock, self.meter_dock)
        self.takes_dock.raise_()
        self.timeline_dock = self._dock(
            "Timeline", "timelineDock", timeline_box, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.prompt_dock, self.takes_dock], [350, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.timeline_dock], [420], Qt.Orientation.Vertical)
        self.setAcceptDrops(True)
        self.resize(1366, 768)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)
        columns = self.settings.value("takes/hidden_columns")
        if columns:
            self.takes_panel.set_hidden_columns(
                [int(c) for c in (columns if isinstance(columns, list) else [columns])]
            )

    def _save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("takes/hidden_columns", self.takes_panel.hidden_columns())

    def _build_menus(self) -> None:
        bar, sc, files, gen, tr, ed = (
            self.menuBar(),
            self.shortcuts,
            self.files,
            self.generation,
            self.transport,
            self.edits,
        )
        build_menu(
            bar,
            "&File",
            [
                Item("file.new", lambda: files.new_from_video()),
                Item("file.open", files.open_dialog),
                self.recent_menu,
                None,
                Item("file.save", files.save),
                Item("file.save_as", lambda: files.save_as()),
                None,
                Item("file.export", self.open_export, name="exportAction"),
                None,
                Item("file.quit", self.close),
            ],
            sc,
            self,
        )
        edit = build_menu(
            bar,
            "&Edit",
            [
                Item("edit.undo", lambda: self.project.undo.undo(), name="undoAction"),
                Item("edit.redo", lambda: self.project.undo.redo(), name="redoAction"),
                None,
                Item("edit.mark_in", ed.mark_in),
                Item("edit.mark_out", ed.mark_out),
                Item("edit.marker", ed.add_marker),
                Item("edit.prev_marker", lambda: ed.jump_marker(-1)),
                Item("edit.next_marker", lambda: ed.jump_marker(1)),
                None,
                Item("edit.nudge_left", lambda: ed.nudge(-1)),
                Item("edit.nudge_right", lambda: ed.nudge(1)),
                Item("edit.trim_start", ed.trim_start),
                Item("edit.trim_end", ed.trim_end),
                Item("edit.fade_in", ed.fade_in),
                Item("edit.fade_out", ed.fade_out),
                Item("edit.remove_item", ed.remove_item),
            ],
            sc,
            self,
        )
        self.undo_action, self.redo_action = edit.actions()[0], edit.actions()[1]
        build_menu(
            bar,
            "&Transport",
            [
                Item("transport.play", tr.toggle),
                Item("transport.back", tr.shuttle_back),
                Item("transport.pause", tr.pause),
                Item("transport.forward", tr.shuttle_forward),
                Item("transport.step_back", lambda: tr.step(-1)),
                Item("transport.step_forward", lambda: tr.step(1)),
                Item("transport.home", tr.home),
                Item("transport.end", tr.end),
                Item("transport.loop", lambda: self.transport_bar.loop_box.toggle()),
            ],
            sc,
            self,
        )
        view = build_menu(
            bar,
            "&View",
            [
                Item("view.zoom_in", lambda: self.timeline.zoom(2.0, self.transport.position_s)),
                Item("view.zoom_out", lambda: self.timeline.zoom(0.5, self.transport.position_s)),
                Item("view.zoom_fit", self.timeline.zoom_fit),
                None,
                Item(
                    "view.focus_prompt", lambda: self.prompt_text.setFocus(Qt.FocusReason.ShortcutFocusReason)
                ),
                None,
            ],
            sc,
            self,
        )
        for dock in (self.prompt_dock, self.takes_dock, self.mixer_dock, self.meter_dock, self.timeline_dock):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        times = view.addMenu("Time display")
        group = QActionGroup(self)
        for mode, label in (
            ("auto", "Automatic (SMPTE where the rate has a base)"),
            ("smpte", "SMPTE timecode"),
            ("time", "Clock time HH:MM:SS.mmm"),
            ("frames", "Frame numbers"),
        ):
            act = times.addAction(label)
            act.setCheckable(True)
            act.setChecked(mode == self.time_mode)
            act.setObjectName(f"time:{mode}")
            act.triggered.connect(lambda _=False, m=mode: self.set_time_mode(m))
            group.addAction(act)
        build_menu(
            bar,
            "&Generate",
            [
                Item("generate.run", gen.generate, name="generateAction"),
                Item("generate.cancel", gen.cancel),
                Item("generate.region", gen.regenerate_region),
                None,
                Item("generate.predict", gen.predict_curves),
                Item("generate.vary", gen.vary_take, label="Vary selected take", name="varyAction"),
                Item("generate.predict_motion", gen.predict_motion_curves, name="predictMotionAction"),
                Item("generate.measure", self.measure_from_reference),
                None,
                Item(
                    "generate.location",
                    self.choose_engine_location,
                    label="Engine location…",
                    name="engineLocationAction",
                ),
            ],
            sc,
            self,
        )
        build_menu(
            bar,
            "&Models",
            [
                Item(
                    "models.add_folder",
                    self.prompt_panel.choose_model_folder,
                    label="Add model folder…",
                    name="addModelFolderAction",
                )
            ],
            sc,
            self,
        )
        curves = bar.addMenu("&Curves")
        for act in self.curve_toolbar.all_actions():
            if act.text():
                curves.addAction(act)
        build_menu(
            bar,
            "&Help",
            [
                Item("help.shortcuts", self.show_shortcuts),
                Item("help.log", self.show_log, label="Show log", name="showLogAction"),
                Item("help.guide", self.show_guide, label="Getting started", name="guideAction"),
            ],
            sc,
            self,
        )

    def choose_engine_location(self) -> None:
        """Generate on this computer or on a Ray cluster (remembered between sessions)."""
        from triergon_studio.ui.engine_location import EngineLocationDialog, load_location, save_location

        dialog = EngineLocationDialog(load_location(self.settings), self)
        if dialog.exec():
            save_location(self.settings, dialog.result_location)
            self.generation.engine_location = dialog.result_location.address

    # ---- wiring -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.transport.position_changed.connect(self._on_position)
        self.timeline.scrub.connect(self._scrub)
        self.transport_bar.device_chosen.connect(self._choose_device)
        self.playback.device_status.connect(self._on_device_status)
        self.playback.error.connect(lambda msg: self.show_error(msg, "playback"))
        self.curve_editor.selection_changed.connect(self._on_region_selection)
        p = self.prompt_panel
        p.generate_requested.connect(self.generation.generate)
        p.cancel_requested.connect(self.generation.cancel)
        p.predict_requested.connect(self.generation.predict_curves)
        p.regenerate_region_requested.connect(self.generation.regenerate_region)
        p.prompts_edited.connect(self._push_prompts)
        p.settings_edited.connect(self._push_settings)
        p.add_model_requested.connect(self._add_model_folder)
        p.init_audio_cleared.connect(self._clear_init_audio)
        p.reference.file_chosen.connect(self.load_reference)
        p.reference.cleared.connect(self._clear_reference)
        p.reference.region_changed.connect(self._reference_region)
        p.reference.play_requested.connect(self._play_reference)
        p.reference.measure_button.clicked.connect(self.measure_from_reference)
        tp = self.takes_panel
        tp.take_selected.connect(self._on_take_selected)
        tp.rename_requested.connect(self._rename_take)
        tp.delete_requested.connect(lambda tid: self.guard(self.project.remove_take, tid))
        tp.place_requested.connect(self._place_first_lane)
        tp.vary_requested.connect(self.generation.vary_take)
        self.generation.takes_added.connect(tp.select)
        lanes = self.timeline.lanes
        lanes.take_dropped.connect(
            lambda tid, lane, off: self.guard(self.project.place_take, tid, lane, self.snap_frame(off))
        )
        lanes.snap_time = self.snap_frame  # drops and moves land on the same frames
        lanes.item_moved.connect(lambda iid, off: self.guard(self.project.move_item, iid, off))
        self.lane_mixer.lane_changed.connect(self._lane_changed)
        self.lane_mixer.guide_changed.connect(self.playback.set_guide)
        self.start_tc.editingFinished.connect(self._start_tc_edited)
        self.guide.dismissed.connect(lambda: self.curve_editor.setFocus())

    def set_project(self, project: Project) -> None:
        """Show another project (after New / Open)."""
        old = self.project
        if old is not project:
            old.changed.disconnect(self._on_project_changed)
            old.undo.changed.disconnect(self.refresh_title)
        if old is not project or not getattr(self, "_shown_once", False):
            project.changed.connect(self._on_project_changed)
            project.undo.changed.connect(self.refresh_title)
            self._shown_once = True
        self.project = project
        for key in ("open", "video", "job", "playback", "save", "drop", "reference", "error"):
            self.banner.clear(key)  # messages about the old project no longer apply
        self.curve_editor.set_project(project)
        self.files.attach(project)
        self.transport.set_media(project.fps, project.duration_s)
        self.timeline.set_duration(project.duration_s)
        self.waveforms.clear()
        self.take_curves.clear()
        self.selected_take = None
        self._open_video()
        self.playback.set_project(project)
        self.lane_mixer.guide.setEnabled(project.video is not None)
        self.prompt_panel.show_prompts(project.prompts)
        self.prompt_panel.show_settings(project.settings)
        self.generation.refresh_model()
        self._show_references()
        self._refresh_takes()
        self._refresh_lanes()
        self._refresh_timing()
        self.refresh_title()
        self._on_position(0.0)
        if FirstRunGuide.wanted(self.settings):
            self.show_guide()
        else:
            self.guide.hide()

    def _on_project_changed(self, what: str) -> None:
        if what == "prompts":
            self.prompt_panel.show_prompts(self.project.prompts)
            self._show_references()
        elif what == "settings":
            self.prompt_panel.show_settings(self.project.settings)
            self.generation.refresh_model()
        elif what == "takes":
            self._refresh_takes()
            self._refresh_lanes()
            self.playback.rebuild()
        elif what == "lanes":
            self._refresh_lanes()
            self.playback.rebuild()
        elif what == "markers":
            self.timeline.ruler.set_markers([(m.time_s, m.name) for m in self.project.markers])
        elif what in ("video", "timing"):
            self.transport.set_media(self.project.fps, self.project.duration_s)
            self.timeline.set_duration(self.project.duration_s)
            self._refresh_timing()
            if what == "video":
                self._open_video()
        self.refresh_title()

    # ---- time display -----------------------------------------------------------------------------
    def format_time(self, t: float) -> str:
        return timefmt.format_time(self.project, t, self.time_mode)

    def set_time_mode(self, mode: str) -> None:
        if mode not in timefmt.DISPLAY_MODES:
            raise ValueError(f"unknown time display {mode!r}")
        self.time_mode = mode
        self.settings.setValue("display/timecode", mode)
        self._refresh_timing()
        self._on_position(self.transport.position_s)

    def _refresh_timing(self) -> None:
        self.status_time.setText(timefmt.mode_note(self.project, self.time_mode))
        self.start_tc.setText(self.project.start_timecode)
        self.timeline.ruler.getAxis("top").picture = None  # the ticks' text changes with the mode
        self.timeline.ruler.getAxis("top").update()
        self.timeline.ruler.set_markers([(m.time_s, m.name) for m in self.project.markers])

    def _start_tc_edited(self) -> None:
        text = self.start_tc.text().strip()
        if text and text != self.project.start_timecode:
            if self.guard(self.project.set_start_timecode, text, key="timecode") is None:
                self.start_tc.setText(self.project.start_timecode)
            else:
                self.banner.clear("timecode")

    # ---- picture ----------------------------------------------------------------------------------
    def _open_video(self) -> None:
        if self.provider is not None:
            self.video_view.set_provider(None)
            self.provider.close()
            self.provider = None
        path = self.project.video_abspath() if self.project.video is not None else None
        if path is None:
            self.video_view.set_message("Open a video (File > New project from video) or drop one here")
            self.timeline.ruler.set_thumbnails([], 0.0)
            return
        if not Path(path).is_file():
            self.video_view.set_message(f"Video not found: {path}")
            self.show_error(
                f"{path}: the project's video is missing; relink it or open another project", "video"
            )
            return
        try:
            self.provider = FrameProvider(path)
        except Exception as exc:  # noqa: BLE001 - a broken video is a message, not a crash
            self.show_error(user_message(exc, f"{path}: cannot read the video"), "video")
            return
        self.provider.failed.connect(lambda msg: self.show_error(msg, "video"))
        self.video_view.set_provider(self.provider)
        duration = self.project.duration_s

        def thumbs() -> list[Any]:
            from triergon_studio.video.sampling import thumbnails

            return thumbnails(path, max(4, min(40, int(duration / 1.5) or 4)), 54)

        run_async(
            thumbs,
            lambda images: self.timeline.ruler.set_thumbnails(list(images), duration),
            lambda msg: self.statusBar().showMessage(f"Thumbnails: {msg}", 5000),
            context=self,
        )

    def _on_position(self, t: float) -> None:
        text = self.format_time(t)
        self.transport_bar.show_time(text)
        self.timeline.set_playhead(t)
        if self.provider is not None:
            self.video_view.show_frame(self.transport.frame_at(t), text)

    def _scrub(self, t: float) -> None:
        if self.transport.playing:
            self.transport.stop()
        self.transport.seek(t)

    def snap_frame(self, t: float) -> float:
        return ops.snap_time(t, ops.SnapMode.FRAMES, float(self.project.fps), 0.0)

    def _on_region_selection(self) -> None:
        region = self.curve_editor.region
        self.transport.set_loop(*(region if region else (None, None)))

    # ---- prompts and settings ---------------------------------------------------------------------
    def flush_edits(self) -> None:
        """Push pending prompt and settings edits (before saving or generating)."""
        self.prompt_panel.flush()
        self._push_settings()

    def _push_prompts(self) -> None:
        # Surrounding whitespace is not part of a prompt (a stray key press must not change the take).
        text = self.prompt_panel.prompt_text.toPlainText().strip()
        use = self.prompt_panel.use_picture.isChecked()
        negative = self.prompt_panel.negative_text.text().strip()
        pr = self.project.prompts
        if text != pr.text or use != pr.use_video or negative != pr.negative_text:
            self.project.set_prompts(
                replace(pr, text=text, use_video=use, negative_text=negative), "Edit prompts"
            )

    def _clear_init_audio(self) -> None:
        pr = self.project.prompts
        if pr.init_audio is not None:
            self.project.set_prompts(replace(pr, init_audio=None), "Stop varying a take")

    def _push_settings(self) -> None:
        p = self.prompt_panel
        span = None
        if p.span.currentIndex() == 1 and self.curve_editor.region is not None:
            span = self.curve_editor.region
        changes = dict(
            model=p.model.currentText(),
            **p.chosen_settings(),
            seed=p.seed.value(),
            seed_locked=p.seed_locked.isChecked(),
            variations=p.variations.value(),
            conform=p.conform.isChecked(),
            span=span,
        )
        s = self.project.settings
        if any(getattr(s, k) != v for k, v in changes.items()):
            self.project.set_settings(**changes)

    def model_folders(self) -> list[str]:
        """The model folders the user added (Models > Add model folder…), newest first."""
        value = self.settings.value(MODEL_FOLDERS_KEY) or []
        return [str(x) for x in ([value] if isinstance(value, str) else value)]  # one item reads back as str

    def _restore_model_folders(self) -> None:
        names = model_names()
        # A folder that was moved or deleted since is not offered (choosing it would only fail).
        names += [f for f in self.model_folders() if f not in names and Path(f).is_dir()]
        self.prompt_panel.set_models(names)

    def _add_model_folder(self, folder: str) -> None:
        from triergon_studio.engine.families.registry import describe
        from triergon_studio.errors import StudioError

        try:
            describe(folder)  # torch-free: the folder's config names a family this app knows
        except StudioError as exc:
            self.show_error(str(exc), "model")
            return
        extra = [x for x in self.model_folders() if x != folder]
        self.settings.setValue(MODEL_FOLDERS_KEY, [folder, *extra][:8])
        self.prompt_panel.add_model(folder)
        self.banner.clear("model")

    def load_reference(self, path: str, in_s: float = 0.0, out_s: float | None = None) -> None:
        from triergon_studio.core.model import ReferenceClip

        def read() -> Any:
            from triergon_studio.audio.io import read_audio

            return read_audio(path)

        def shown(result: Any) -> None:
            audio, sr = result
            self.prompt_panel.reference.show_audio(path, audio, sr, in_s, out_s)
            self.reference_audio_data = (audio, sr)
            self.banner.clear("reference")
            refs = self.project.prompts.references
            if refs and refs[0].path == path:
                self.prompt_panel.refresh_task()
                return
            clip = ReferenceClip(path, 0.0, None)
            if refs:
                self.project.set_reference(0, clip)
            else:
                self.project.add_reference(clip)
            self.prompt_panel.refresh_task()

        def failed(msg: str) -> None:
            self.prompt_panel.reference.show_error(msg)
            self.show_error(msg, "reference")

        run_async(read, shown, failed, context=self)

    def _show_references(self) -> None:
        refs = self.project.prompts.references
        ref_widget = self.prompt_panel.reference
        if not refs:
            ref_widget.clear()
        elif ref_widget.path != refs[0].path:
            self.load_reference(refs[0].path, refs[0].in_s, refs[0].out_s)
        self.prompt_panel.refresh_task()

    def _clear_reference(self) -> None:
        if self.project.prompts.references:
            self.project.remove_reference(0)

    def _reference_region(self, lo: float, hi: float) -> None:
        from triergon_studio.core.model import ReferenceClip

        refs = self.project.prompts.references
        if refs:
            self.project.set_reference(0, ReferenceClip(refs[0].path, max(0.0, lo), hi))

    def _play_reference(self) -> None:
        ref = self.reference_audio_data
        if ref is None or self.playback.player is None:
            self.show_status("Reference playback needs an audio device")
            return
        from triergon_studio.audio.io import resample

        audio, sr = ref
        lo, hi = self.prompt_panel.reference.selected_region()
        clip = audio[int(lo * sr) : int(hi * sr)]
        self.transport.stop()
        clip = resample(clip, sr, self.playback.sr) if sr != self.playback.sr else clip
        self.playback.player.load(clip, self.playback.sr)
        self.playback.player.play()
        QTimer.singleShot(int(1000 * clip.shape[0] / self.playback.sr) + 200, self.playback.rebuild)

    def measure_from_reference(self) -> None:
        ref = self.prompt_panel.reference
        if ref.path is None:
            self.show_error("Open a reference sound first, then measure its curves", "reference")
            return
        lo, hi = ref.selected_region()
        path, duration = ref.path, self.project.duration_s or (hi - lo)
        run_async(
            lambda: measure_reference(path, lo, hi, duration),
            lambda curve: self.project.set_curves(curve, "Measure curves from reference audio"),
            lambda msg: self.show_error(msg, "reference"),
            context=self,
        )

    # ---- takes and lanes --------------------------------------------------------------------------
    def _refresh_takes(self) -> None:
        self.takes_panel.show_takes(list(self.project.takes))
        for take in self.project.takes:
            if self.takes_panel.stats(take.id) is None:
                self._measure_take(take)

    def _measure_take(self, take: Any) -> None:
        path = self.project.take_path(take)

        def measure() -> tuple[float, float, Any, Any]:
            from triergon_studio.audio.io import read_audio
            from triergon_studio.audio.loudness import measure, measure_curves

            audio, sr = read_audio(path)
            report = measure(audio, sr)
            # Fine enough that a zoomed-in take still reads as a waveform, bounded for long takes.
            points = min(2000.0, max(150.0, 400_000.0 / max(1.0, audio.shape[0] / sr)))
            return (
                report.integrated_lufs,
                report.true_peak_dbtp,
                measure_curves(audio, sr),
                waveform_envelope(audio, sr, points_per_s=points),
            )

        def done(result: tuple[float, float, Any, Any]) -> None:
            self.takes_panel.set_stats(take.id, result[0], result[1])
            self.take_curves[take.id] = result[2]
            self.waveforms[take.id] = result[3]
            self._refresh_lanes()
            if self.selected_take == take.id:
                self._show_take_curve(take.id)

        run_async(measure, done, lambda msg: self.show_status(msg, 6000), context=self)

    def _show_take_curve(self, take_id: str | None) -> None:
        from triergon_studio.ui.playback import take_start

        curve = self.take_curves.get(take_id) if take_id else None
        offset = take_start(self.project, take_id) if curve is not None and take_id else 0.0
        self.curve_editor.set_reference_curve(curve, offset)

    def _on_take_selected(self, take_id: str | None) -> None:
        self.selected_take = take_id
        self._show_take_curve(take_id)
        self.playback.set_audition(take_id)

    def _rename_take(self, take_id: str, name: str) -> None:
        if name and name != self.project.take(take_id).name:
            self.guard(self.project.rename_take, take_id, name)

    def _place_first_lane(self, take_id: str) -> None:
        if self.project.lanes:
            self.guard(self.project.place_take, take_id, self.project.lanes[0].name, 0.0)

    def _lane_changed(self, name: str, mute_flag: int, solo_flag: int, gain_db: float) -> None:
        mute, solo = bool(mute_flag), bool(solo_flag)
        lane = self.project.lane(name)
        with self.project.undo.macro(f"Mix {name}"):
            if lane.mute != mute:
                self.project.set_lane_mute(name, mute)
            if lane.solo != solo:
                self.project.set_lane_solo(name, solo)
            if abs(lane.gain_db - gain_db) > 1e-9:
                self.project.set_lane_gain(name, gain_db)

    def _refresh_lanes(self) -> None:
        lanes = list(self.project.lanes)
        self.timeline.lanes.set_lanes(lanes, self.waveforms)
        self.lane_mixer.show_lanes(lanes)
        make_focusable_without_wheel(self.lane_mixer)

    # ---- audio device -----------------------------------------------------------------------------
    def _choose_device(self, device: Any) -> None:
        self.transport.stop()
        if self.playback.open_device(device):
            self.settings.setValue("audio/device", device)

    def _on_device_status(self, text: str) -> None:
        if text:
            self.banner.show_message(text, "warning", "audio")
            self.status_device.setText("Audio: none")
        else:
            self.banner.clear("audio")
            self.status_device.setText(f"Audio: {self.playback.device or 'default'} @ {self.playback.sr} Hz")

    # ---- messages, help, files, close -------------------------------------------------------------
    def show_error(self, message: str, key: str = "error") -> None:
        self.last_error = message
        self.banner.show_message(message, "error", key)
        self.statusBar().showMessage(message, 10000)

    def show_status(self, message: str, ms: int = 4000) -> None:
        self.statusBar().showMessage(message, ms)

    def guard(self, fn: Any, *args: Any, key: str = "edit") -> Any:
        """Run a project edit; a refused edit becomes a message in the window. True-ish on success."""
        from triergon_studio.errors import StudioError

        try:
            result = fn(*args)
        except StudioError as exc:
            self.show_error(str(exc), key)
            return None
        self.banner.clear(key)
        return True if result is None else result

    def refresh_title(self) -> None:
        dirty = "*" if self.project.is_dirty else ""
        self.setWindowTitle(f"{self.project.name}{dirty} — Tri-Ergon Studio")
        u = self.project.undo
        self.undo_action.setEnabled(u.can_undo)
        self.redo_action.setEnabled(u.can_redo)
        self.undo_action.setText(f"Undo {u.undo_text}".strip())
        self.redo_action.setText(f"Redo {u.redo_text}".strip())

    def show_shortcuts(self) -> None:
        extra = [
            (a.text(), a.shortcut().toString())
            for a in self.curve_toolbar.all_actions()
            if a.text() and not a.shortcut().isEmpty()
        ]
        ShortcutsDialog(self.shortcuts, extra, self).exec()

    def show_log(self) -> LogDialog:
        dialog = LogDialog(log_path(), self)
        dialog.show()
        return dialog

    def show_guide(self) -> None:
        self.guide.show()
        self._place_guide()

    def open_export(self) -> None:
        from triergon_studio.ui.export_dialog import ExportDialog

        if self.project.path is None:
            self.show_error("Save the project before exporting (the export goes next to it)", "export")
            return
        self.flush_edits()
        ExportDialog(self.project, self).exec()

    def autosave(self) -> None:
        self.files.autosave()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.flush_edits()
        if self.project.is_dirty and not self.files.confirm_discard():
            event.ignore()
            return
        self._save_layout()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.keyboard_guard)
        self.files.timer.stop()
        self.transport.stop()
        self.jobs.shutdown()
        self.playback.close_device()
        if self.provider is not None:
            self.video_view.set_provider(None)
            self.provider.close()
            self.provider = None
        event.accept()

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._place_guide()

    def _place_guide(self) -> None:
        centre = self.centralWidget()
        if centre is None:
            return
        width = max(200, centre.width() - 16)
        self.guide.setFixedWidth(width)
        self.guide.adjustSize()
        self.guide.move(8, 8 + (self.banner.height() if self.banner.isVisible() else 0))
        self.guide.raise_()

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        if ev.key() == Qt.Key.Key_Escape and self.jobs.is_busy():
            self.generation.cancel()
            return
        super().keyPressEvent(ev)

    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:  # noqa: N802
        self.files.handle_drop([u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()])
