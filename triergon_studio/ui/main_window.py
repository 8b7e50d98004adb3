"""The main window: picture, prompts and settings, timeline, takes, transport, meter and status bar.

It takes a ``core.project.Project``, listens to ``project.changed`` and changes it only through the project's
undoable commands. Long work runs in the job queue (generation, prediction) or the background pool (file
reads, measurements); the UI thread never decodes video, reads audio or touches torch.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from triergon_studio.ui import curve_ops as ops
from triergon_studio.ui import window_actions
from triergon_studio.ui.background import run_async
from triergon_studio.ui.banner import Banner
from triergon_studio.ui.curve_toolbar import CurveToolbar
from triergon_studio.ui.jobs import ModelHost, measure_reference
from triergon_studio.ui.meter_widget import LoudnessMeter
from triergon_studio.ui.playback import PlaybackController
from triergon_studio.ui.prompt_panel import PromptPanel
from triergon_studio.ui.takes_panel import LaneMixer, TakesPanel
from triergon_studio.ui.timefmt import timecode_at
from triergon_studio.ui.timeline import Timeline, waveform_envelope
from triergon_studio.ui.transport import Transport
from triergon_studio.ui.transport_bar import TransportBar
from triergon_studio.ui.video_view import FrameProvider, VideoView
from triergon_studio.ui.worker import JobQueue

AUTOSAVE_MS = 60_000


class MainWindow(QMainWindow):
    def __init__(self, project: Any | None = None, settings: QSettings | None = None,
                 open_audio: bool = True, device: str = "cpu") -> None:
        super().__init__()
        from triergon_studio.core.project import Project

        self.setObjectName("mainWindow")
        self.resize(1480, 940)
        self.settings = settings or QSettings("TriErgon", "TriErgonStudio")
        self.project: Any = project if project is not None else Project()
        self.jobs = JobQueue(self)
        self.model_host = ModelHost(device)
        self.provider: FrameProvider | None = None
        self.waveforms: dict[str, Any] = {}
        self.last_error = ""
        self._job_t0 = 0.0
        self._selected_take: str | None = None

        # ---- widgets ------------------------------------------------------------------------------
        self.banner = Banner()
        self.video_view = VideoView()
        self.transport = Transport(self.project.fps, self.project.duration_s, self)
        self.transport_bar = TransportBar(self.transport)
        self.prompt_panel = PromptPanel()
        self.takes_panel = TakesPanel()
        self.lane_mixer = LaneMixer()
        self.meter = LoudnessMeter()
        self.timeline = Timeline(self.project, lambda t: timecode_at(self.project, t))
        self.curve_editor = self.timeline.curve_editor
        self.curve_toolbar = CurveToolbar(self.curve_editor)
        self.playback = PlaybackController(self.transport, self.meter, self)

        # Named for automation and accessibility.
        self.prompt_text = self.prompt_panel.prompt_text
        self.reference_audio = self.prompt_panel.reference
        self.generate_button = self.prompt_panel.generate_button
        self.cancel_button = self.prompt_panel.cancel_button
        self.progress_bar = self.prompt_panel.progress
        self.takes_list = self.takes_panel.tree
        self.play_button = self.transport_bar.play_button

        prompt_scroll = QScrollArea()
        prompt_scroll.setWidget(self.prompt_panel)
        prompt_scroll.setWidgetResizable(True)
        prompt_scroll.setMinimumWidth(360)
        prompt_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.video_view, 1)
        cl.addWidget(self.transport_bar)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.takes_panel)
        right.addWidget(self.lane_mixer)
        right.addWidget(self.meter)
        right.setSizes([300, 140, 170])
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(prompt_scroll)
        top.addWidget(centre)
        top.addWidget(right)
        top.setSizes([380, 680, 360])
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(0)
        bl.addWidget(self.curve_toolbar)
        bl.addWidget(self.timeline)
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(bottom)
        main.setSizes([430, 510])
        root = QWidget()
        rl = QVBoxLayout(root)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addWidget(self.banner)
        rl.addWidget(main, 1)
        self.setCentralWidget(root)
        self.setAcceptDrops(True)

        self.status_model = QLabel("Model: not loaded")
        self.status_device = QLabel("Audio: –")
        self.status_job = QLabel("Idle")
        self.status_job.setObjectName("jobState")
        for w in (self.status_model, self.status_device):
            self.statusBar().addPermanentWidget(w)
        self.statusBar().addWidget(self.status_job, 1)

        window_actions.build_menus(self)
        self._connect()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()
        self.prompt_panel.set_models(window_actions.model_names())
        if open_audio:
            self.playback.open_device(self.settings.value("audio/device"))
        else:
            self.playback.status = "Audio output disabled. Playback is silent; export still works."
            self.playback.device_status.emit(self.playback.status)
        self.transport_bar.set_devices(self.playback.output_devices())
        self.set_project(self.project)

    # ---- wiring -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        t = self.transport
        t.position_changed.connect(self._on_position)
        self.timeline.scrub.connect(self._scrub)
        self.transport_bar.device_chosen.connect(self._choose_device)
        self.playback.device_status.connect(self._on_device_status)
        self.playback.error.connect(self.show_error)
        self.curve_editor.selection_changed.connect(self._on_region_selection)
        p = self.prompt_panel
        p.generate_requested.connect(self.generate)
        p.cancel_requested.connect(self.cancel_generation)
        p.predict_requested.connect(self.predict_curves)
        p.regenerate_region_requested.connect(self.regenerate_region)
        p.prompts_edited.connect(self._push_prompts)
        p.settings_edited.connect(self._push_settings)
        p.reference.file_chosen.connect(self.load_reference)
        p.reference.cleared.connect(self._clear_reference)
        p.reference.region_changed.connect(self._reference_region)
        p.reference.play_requested.connect(self._play_reference)
        p.reference.measure_button.clicked.connect(self.measure_from_reference)
        tp = self.takes_panel
        tp.take_selected.connect(self._on_take_selected)
        tp.rename_requested.connect(self._rename_take)
        tp.delete_requested.connect(lambda tid: self._guard(self.project.remove_take, tid))
        tp.place_requested.connect(self._place_first_lane)
        self.timeline.lanes.take_dropped.connect(
            lambda tid, lane, off: self._guard(self.project.place_take, tid, lane, self._snap_frame(off)))
        self.timeline.lanes.snap_time = self._snap_frame  # drops and moves land on the same frames
        self.timeline.lanes.item_moved.connect(lambda iid, off: self._guard(self.project.move_item, iid, off))
        self.lane_mixer.lane_changed.connect(self._lane_changed)
        self.lane_mixer.guide_changed.connect(self.playback.set_guide)
        self.jobs.job_started.connect(self._on_job_started)
        self.jobs.job_yielded.connect(self._on_job_progress)
        self.jobs.job_errored.connect(self._on_job_error)
        self.jobs.job_aborted.connect(lambda job: self._set_job_text(f"Cancelled: {job.name}"))
        self.jobs.job_finished.connect(self._on_job_finished)

    def set_project(self, project: Any) -> None:
        """Show another project (after New / Open)."""
        old = self.project
        if old is not project:
            old.changed.disconnect(self._on_project_changed)
            old.undo.changed.disconnect(self._update_title)
        self.project = project
        project.changed.connect(self._on_project_changed)
        project.undo.changed.connect(self._update_title)
        self.curve_editor.set_project(project)
        window_actions.attach_autosaver(self)
        window_actions.bind_undo(self)
        self.transport.set_media(project.fps, project.duration_s)
        self.timeline.set_duration(project.duration_s)
        self.waveforms.clear()
        self._open_video()
        self.playback.set_project(project)
        self.lane_mixer.guide.setEnabled(project.video is not None)
        self.prompt_panel.show_prompts(project.prompts)
        self.prompt_panel.show_settings(project.settings)
        self._show_references()
        self._refresh_takes()
        self._refresh_lanes()
        self._update_title()
        self._on_position(0.0)

    def _on_project_changed(self, what: str) -> None:
        if what == "prompts":
            self.prompt_panel.show_prompts(self.project.prompts)
            self._show_references()
        elif what == "settings":
            self.prompt_panel.show_settings(self.project.settings)
        elif what == "takes":
            self._refresh_takes()
            self._refresh_lanes()
            self.playback.rebuild()
        elif what == "lanes":
            self._refresh_lanes()
            self.playback.rebuild()
        elif what in ("video", "timing"):
            self.transport.set_media(self.project.fps, self.project.duration_s)
            self.timeline.set_duration(self.project.duration_s)
            self._open_video()
        self._update_title()

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
            self.show_error(f"{path}: the project's video is missing; relink it or open another project")
            return
        try:
            self.provider = FrameProvider(path)
        except Exception as exc:  # noqa: BLE001 - a broken video is a message, not a crash
            from triergon_studio.ui.worker import describe_error

            self.show_error(describe_error(exc))
            return
        self.provider.failed.connect(self.show_error)
        self.video_view.set_provider(self.provider)
        duration = self.project.duration_s

        def thumbs() -> list[Any]:
            from triergon_studio.video.sampling import thumbnails

            return thumbnails(path, max(4, min(40, int(duration / 1.5) or 4)), 54)

        run_async(thumbs, lambda images: self.timeline.ruler.set_thumbnails(list(images), duration),
                  lambda msg: self.statusBar().showMessage(f"Thumbnails: {msg}", 5000), context=self)

    def _on_position(self, t: float) -> None:
        tc = timecode_at(self.project, t)
        self.transport_bar.show_time(tc)
        self.timeline.set_playhead(t)
        if self.provider is not None:
            self.video_view.show_frame(self.transport.frame_at(t), tc)

    def _scrub(self, t: float) -> None:
        if self.transport.playing:
            self.transport.stop()
        self.transport.seek(t)

    def _snap_frame(self, t: float) -> float:
        return ops.snap_time(t, ops.SnapMode.FRAMES, float(self.project.fps), 0.0)

    def _on_region_selection(self) -> None:
        region = self.curve_editor.region
        self.transport.set_loop(*(region if region else (None, None)))

    # ---- prompts and settings -----------------------------------------------------------------------
    def _push_prompts(self) -> None:
        text = self.prompt_panel.prompt_text.toPlainText()
        use = self.prompt_panel.use_picture.isChecked()
        pr = self.project.prompts
        if text != pr.text or use != pr.use_video:
            from dataclasses import replace

            self.project.set_prompts(replace(pr, text=text, use_video=use), "Edit prompts")

    def _push_settings(self) -> None:
        p = self.prompt_panel
        span = None
        if p.span.currentIndex() == 1 and self.curve_editor.region is not None:
            span = self.curve_editor.region
        changes = dict(model=p.model.currentText(), **p.chosen_settings(), seed=p.seed.value(),
                       seed_locked=p.seed_locked.isChecked(), variations=p.variations.value(),
                       conform=p.conform.isChecked(), span=span)
        s = self.project.settings
        if any(getattr(s, k) != v for k, v in changes.items()):
            self.project.set_settings(**changes)

    def load_reference(self, path: str) -> None:
        from triergon_studio.core.model import ReferenceClip

        def read() -> Any:
            from triergon_studio.audio.io import read_audio

            return read_audio(path)

        def shown(result: Any) -> None:
            audio, sr = result
            self.prompt_panel.reference.show_audio(path, audio, sr)
            self._reference_audio = (audio, sr)
            refs = self.project.prompts.references
            if refs and refs[0].path == path:
                return
            clip = ReferenceClip(path, 0.0, None)
            if refs:
                self.project.set_reference(0, clip)
            else:
                self.project.add_reference(clip)
            self.prompt_panel.refresh_task()

        run_async(read, shown, lambda msg: (self.prompt_panel.reference.show_error(msg), self.show_error(msg)), context=self)

    def _show_references(self) -> None:
        refs = self.project.prompts.references
        ref_widget = self.prompt_panel.reference
        if not refs:
            ref_widget.clear()
        elif ref_widget.path != refs[0].path:
            self.load_reference(refs[0].path)
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
        ref = getattr(self, "_reference_audio", None)
        if ref is None or self.playback.player is None:
            self.statusBar().showMessage("Reference playback needs an audio device", 4000)
            return
        from triergon_studio.audio.io import resample

        audio, sr = ref
        lo, hi = self.prompt_panel.reference.selected_region()
        clip = audio[int(lo * sr):int(hi * sr)]
        self.transport.stop()
        clip = resample(clip, sr, self.playback.sr) if sr != self.playback.sr else clip
        self.playback.player.load(clip, self.playback.sr)
        self.playback.player.play()
        QTimer.singleShot(int(1000 * clip.shape[0] / self.playback.sr) + 200, self.playback.rebuild)

    # ---- curves -------------------------------------------------------------------------------------
    def predict_curves(self) -> None:
        window_actions.submit_predict(self)

    def measure_from_reference(self) -> None:
        ref = self.prompt_panel.reference
        if ref.path is None:
            self.show_error("Open a reference sound first, then measure its curves")
            return
        lo, hi = ref.selected_region()
        path, duration = ref.path, self.project.duration_s or (hi - lo)
        run_async(lambda: measure_reference(path, lo, hi, duration),
                  lambda curve: self.project.set_curves(curve, "Measure curves from reference audio"),
                  self.show_error, context=self)

    # ---- generation ---------------------------------------------------------------------------------
    def generate(self, region: tuple[float, float] | None = None) -> None:
        self.prompt_panel.flush()
        self._push_settings()
        window_actions.submit_generation(self, region)

    def regenerate_region(self) -> None:
        region = self.curve_editor.region
        if region is None:
            self.show_error("Select a region on the curve editor (Select tool, R) to regenerate it")
            return
        self.generate(region)

    def cancel_generation(self) -> None:
        if self.jobs.cancel_current():
            self._set_job_text("Cancelling…")

    def next_seeds(self) -> list[int]:
        s = self.project.settings
        n = max(1, int(s.variations))
        if s.seed_locked:
            return [int(s.seed) + k for k in range(n)]
        return [random.randrange(0, 2**31 - 1) for _ in range(n)]

    def _on_job_started(self, job: Any) -> None:
        import time

        self._job_t0 = time.monotonic()
        self.prompt_panel.set_running(True)
        waiting = len(self.jobs.pending)
        self._set_job_text(f"Running: {job.name}" + (f" ({waiting} queued)" if waiting else ""))

    def _on_job_progress(self, job: Any, progress: Any) -> None:
        import time

        bar = self.prompt_panel.progress
        frac = getattr(progress, "fraction", 0.0)
        bar.setValue(int(round(100 * frac)))
        elapsed = time.monotonic() - self._job_t0
        eta = ""
        if getattr(progress, "stage", "") == "sampling" and 0 < frac < 1 and progress.step > 0:
            if "sample_t0" not in job.meta or progress.step == 1:
                job.meta["sample_t0"], job.meta["sample_step0"] = time.monotonic(), progress.step
            done = progress.step - job.meta["sample_step0"]
            if done > 0:
                rate = (time.monotonic() - job.meta["sample_t0"]) / done
                eta = f" · ETA {rate * (progress.total - progress.step):.0f} s"
        bar.setFormat(f"%p%{eta}")
        self._set_job_text(f"{job.name}: {progress.message} · {elapsed:.0f} s{eta}")
        if getattr(progress, "stage", "") == "loading":
            self.status_model.setText(f"Model: {progress.message}")

    def _on_job_finished(self, job: Any) -> None:
        if not self.jobs.is_busy():
            self.prompt_panel.set_running(False)
            if not self.status_job.text().startswith(("Cancelled", "Failed")):
                self._set_job_text("Idle")
        if self.model_host.name:
            self.status_model.setText(f"Model: {self.model_host.name} ({self.model_host.device})")

    def _on_job_error(self, job: Any, message: str) -> None:
        self.show_error(message)
        self._set_job_text(f"Failed: {job.name}: {message}")

    def _set_job_text(self, text: str) -> None:
        self.status_job.setText(text)
        self.prompt_panel.job_label.setText(text)

    # ---- takes and lanes ----------------------------------------------------------------------------
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
            return (report.integrated_lufs, report.true_peak_dbtp, measure_curves(audio, sr),
                    waveform_envelope(audio, sr))

        def done(result: tuple[float, float, Any, Any]) -> None:
            self.takes_panel.set_stats(take.id, result[0], result[1])
            self._take_curves[take.id] = result[2]
            self.waveforms[take.id] = result[3]
            self._refresh_lanes()
            if self._selected_take == take.id:
                self.curve_editor.set_reference_curve(result[2])

        if not hasattr(self, "_take_curves"):
            self._take_curves: dict[str, Any] = {}
        run_async(measure, done, lambda msg: self.statusBar().showMessage(msg, 6000), context=self)

    def _on_take_selected(self, take_id: str | None) -> None:
        self._selected_take = take_id
        curves = getattr(self, "_take_curves", {})
        self.curve_editor.set_reference_curve(curves.get(take_id) if take_id else None)
        self.playback.set_audition(take_id)

    def _rename_take(self, take_id: str, name: str) -> None:
        if name and name != self.project.take(take_id).name:
            self._guard(self.project.rename_take, take_id, name)

    def _place_first_lane(self, take_id: str) -> None:
        if self.project.lanes:
            self._guard(self.project.place_take, take_id, self.project.lanes[0].name, 0.0)

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

    # ---- audio device -------------------------------------------------------------------------------
    def _choose_device(self, device: Any) -> None:
        self.transport.stop()
        if self.playback.open_device(device):
            self.settings.setValue("audio/device", device)

    def _on_device_status(self, text: str) -> None:
        if text:
            self.banner.show_message(text, "warning")
            self.status_device.setText("Audio: none")
        else:
            self.status_device.setText(f"Audio: {self.playback.device or 'default'} @ {self.playback.sr} Hz")

    # ---- messages, files, close ---------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message, 10000)

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run a project edit; a refused edit becomes a message in the window."""
        from triergon_studio.errors import StudioError

        try:
            return fn(*args)
        except StudioError as exc:
            self.show_error(str(exc))
            return None

    def _update_title(self) -> None:
        dirty = "*" if self.project.is_dirty else ""
        self.setWindowTitle(f"{self.project.name}{dirty} — Tri-Ergon Studio")
        window_actions.refresh_undo(self)

    def autosave(self) -> None:
        window_actions.autosave(self)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.project.is_dirty and not window_actions.confirm_discard(self):
            event.ignore()
            return
        self.transport.stop()
        self.jobs.shutdown()
        self.playback.close_device()
        if self.provider is not None:
            self.video_view.set_provider(None)
            self.provider.close()
            self.provider = None
        event.accept()

    def keyPressEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.matches(QKeySequence.StandardKey.Cancel) and self.jobs.is_busy():
            self.cancel_generation()
            return
        super().keyPressEvent(ev)

    def dragEnterEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: Any) -> None:  # noqa: N802
        window_actions.handle_drop(self, [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()])

