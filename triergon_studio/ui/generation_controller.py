"""Generation from the window: gather what to generate from the project, queue the job, show its progress,
and turn the results into takes (one undo step).

``gather_spec`` is the one place where the window's state becomes a request for the engine; everything the
job needs is copied there, on the UI thread, so the job never reads the live project.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from triergon_studio.ui.jobs import (
    JobProgress,
    ModelHost,
    generation_job,
    motion_job,
    predict_job,
)
from triergon_studio.ui.worker import Job, JobQueue

if TYPE_CHECKING:
    from triergon_studio.core.model import Take
    from triergon_studio.core.project import Project
    from triergon_studio.core.take_spec import TakeSpec
    from triergon_studio.takes import TakeRecord
    from triergon_studio.ui.prompt_panel import PromptPanel


def model_names() -> list[str]:
    """Model choices without importing torch: presets by name plus bundled model folders."""
    names = ["compact", "tiny-random", "compact-random"]
    root = Path(__file__).resolve().parents[2] / "model_weights"
    if root.is_dir():
        names += [
            p.name for p in sorted(root.iterdir()) if (p / "manifest.json").is_file() and p.name not in names
        ]
    return names


class GenerationController(QObject):
    """Owns the job queue's generation and prediction jobs for one window."""

    takes_added = Signal(str)  # id of the first new take (the window selects it)

    def __init__(
        self,
        *,
        jobs: JobQueue,
        model_host: ModelHost,
        panel: PromptPanel,
        status_job: QLabel,
        status_model: QLabel,
        project: Callable[[], Project],
        region: Callable[[], tuple[float, float] | None],
        selected_take: Callable[[], str | None],
        save_as: Callable[[], bool],
        report: Callable[[str, str], None],
        clear_report: Callable[[str], None],
        flush: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.model_host = model_host
        self.panel = panel
        self.status_job = status_job
        self.status_model = status_model
        self._project = project
        self._region = region
        self._selected_take = selected_take
        self._save_as = save_as
        self._report = report
        self._clear_report = clear_report
        self._flush = flush  # pending prompt and settings edits reach the project before a request is built
        self._job_t0 = 0.0
        self._last_text = ""
        self.engine_location = ""  # "" = this computer; else a Ray address (Generate > Engine location)
        jobs.job_started.connect(self._on_started)
        jobs.job_yielded.connect(self._on_progress)
        jobs.job_errored.connect(self._on_error)
        jobs.job_aborted.connect(lambda job: self._set_text(f"Cancelled: {job.name}"))
        jobs.job_finished.connect(self._on_finished)
        jobs.queue_changed.connect(lambda *_: self._set_text(self._last_text))
        panel.set_models(model_names())
        panel.model.currentTextChanged.connect(lambda *_: self.refresh_model())

    def refresh_model(self) -> None:
        """Ask the model's family what the chosen model can do (torch-free) and show it in the panel."""
        from triergon_studio.errors import StudioError

        name = self.panel.model.currentText().strip() or "compact"
        try:
            from triergon_studio.engine.families.registry import describe

            info = describe(name)
        except StudioError as exc:
            self.panel.show_model(None, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - an unreadable config is a note, not a crash (details logged)
            from triergon_studio.ui.errorlog import user_message

            self.panel.show_model(None, user_message(exc, f"{name}: cannot read the model's description"))
            return
        self.panel.show_model(info)

    @property
    def project(self) -> Project:
        return self._project()

    # ---- the request ------------------------------------------------------------------------------------
    def gather_spec(
        self, region: tuple[float, float] | None, source_take: Take | None = None, seed: int | None = None
    ) -> TakeSpec:
        """The one place the window's state becomes a request: the project's ``TakeSpec`` (a snapshot taken on
        the UI thread, so the job never reads the live project). ``region`` (video seconds) limits the span;
        with ``source_take`` only that region of the take is regenerated (inpainted in a window around it)."""
        from triergon_studio.core.take_spec import spec_from_project

        return spec_from_project(self.project, region=region, source_take=source_take, seed=seed)

    def next_seeds(self) -> list[int]:
        s = self.project.settings
        n = max(1, int(s.variations))
        if s.seed_locked:
            return [int(s.seed) + k for k in range(n)]
        return [random.randrange(0, 2**31 - 1) for _ in range(n)]

    # ---- commands -------------------------------------------------------------------------------------
    def predict_curves(self) -> None:
        p = self.project
        video = p.video_abspath() if p.video is not None else None
        if video is None:
            self._report("Open a video first: the curves are predicted from the picture", "job")
            return

        def done(curve: Any) -> None:
            if self.project is p:
                p.set_curves(curve, "Predict curves from video")

        name = self.panel.model.currentText() or p.settings.model
        self.jobs.submit(
            Job(
                "Predict curves",
                predict_job(self.model_host, name, Path(video), p.duration_s),
                on_return=done,
                kind="predict",
            )
        )

    def predict_motion_curves(self) -> None:
        """Curves from the motion in the picture (training-free, every model): seeds the curve editor."""
        p = self.project
        video = p.video_abspath() if p.video is not None else None
        if video is None:
            self._report("Open a video first: the curves are predicted from the picture", "job")
            return

        def done(curve: Any) -> None:
            if self.project is p:
                p.set_curves(curve, "Predict curves from motion")

        self.jobs.submit(
            Job("Predict curves from motion", motion_job(Path(video)), on_return=done, kind="predict")
        )

    def generate(self, region: tuple[float, float] | None = None, source_take: Take | None = None) -> None:
        from triergon_studio.errors import StudioError

        self._flush()
        p = self.project
        if p.path is None and not self._save_as():
            self._report("Save the project first: takes are written into its folder", "job")
            return
        if p.video is None and p.duration_s <= 0:
            self._report("Nothing to generate: the project has no picture span", "job")
            return
        seeds = self.next_seeds()
        try:
            spec = self.gather_spec(region, source_take, seeds[0])
        except StudioError as exc:
            self._report(str(exc), "job")
            return
        stem = (p.prompts.text.strip().split("\n")[0][:24] or "take").replace(" ", "_")
        if source_take is not None and region is not None:
            stem = f"{source_take.name}_regen".replace(" ", "_")
            name = f"Regenerate {region[0]:.2f}-{region[1]:.2f} s of {source_take.name}"
        else:
            n = spec.variations
            name = f"{'Generate region' if region else 'Generate'} ({n} take{'s' if n > 1 else ''})"
        paths = [p.new_take_path(stem) for _ in range(spec.variations)]
        self.jobs.submit(
            Job(
                name,
                generation_job(self.model_host, spec, paths, self.engine_location),
                on_return=self._adder(p, stem),
            )
        )

    def regenerate_region(self) -> None:
        """Regenerate the selected region of the selected take (only the region and its context window are
        sampled; the rest stays sample for sample); without a selected take, generate the region as a new take."""
        self._flush()
        region = self._region()
        if region is None:
            self._report(
                "Select a region first (Select tool R, or I and O at the playhead) to regenerate it", "job"
            )
            return
        p = self.project
        take_id = self._selected_take()
        source = p.take(take_id) if take_id else None
        if source is not None:
            start = float(source.metadata.get("start_s", 0.0)) if isinstance(source.metadata, dict) else 0.0
            lo, hi = max(region[0], start), min(region[1], start + source.duration_s)
            if hi <= lo:
                self._report(
                    f"The region {region[0]:.2f}-{region[1]:.2f} s is outside {source.name} "
                    f"({start:.2f}-{start + source.duration_s:.2f} s)",
                    "job",
                )
                return
            region = (lo, hi)
        self.generate(region, source)

    def vary_take(self, take_id: str | None = None) -> None:
        """ "Vary this take": the take's file becomes the init audio (``prompts.init_audio``, an undoable edit;
        how much of it survives is ``settings.init_noise``, None = the model's default) and its span is
        generated again. The init audio stays in the prompts until the panel's Clear removes it."""
        from triergon_studio.core.model import ReferenceClip
        from triergon_studio.errors import StudioError

        self._flush()
        p = self.project
        take_id = take_id or self._selected_take()
        if not take_id:
            self._report("Select a take first: Vary makes new takes from the selected one", "job")
            return
        try:
            take = p.take(take_id)
        except StudioError as exc:
            self._report(str(exc), "job")
            return
        start = float(take.metadata.get("start_s", 0.0)) if isinstance(take.metadata, dict) else 0.0
        clip = ReferenceClip(str(p.take_path(take)), 0.0, None)
        if p.prompts.init_audio != clip:
            p.set_prompts(replace(p.prompts, init_audio=clip), f"Vary {take.name}")
        self.generate((start, start + float(take.duration_s)))

    def cancel(self) -> None:
        if self.jobs.cancel_current():
            self._set_text("Cancelling…")

    def _adder(self, p: Project, stem: str) -> Callable[[list[TakeRecord]], None]:
        def done(results: list[TakeRecord]) -> None:
            from triergon_studio.core.model import new_id
            from triergon_studio.core.take_sidecar import take_from_record

            if self.project is not p:
                return  # another project was opened meanwhile: the files stay in the old one's folder
            first = None
            with p.undo.macro(f"Generate {len(results)} take(s)"):
                for r in results:
                    rel = Path(r.path).relative_to(p.folder).as_posix()
                    take = take_from_record(
                        r.record,
                        take_id=new_id(),
                        name=f"{stem} {len(p.takes) + 1}",
                        path=rel,
                        duration_s=float(r.duration_s),
                        sample_rate=int(r.sample_rate),
                        metadata={"start_s": r.start_s, "seed": int(r.seed)},
                    )
                    p.add_take(take)
                    first = first or take.id
            if first is not None:
                self.takes_added.emit(first)

        return done

    # ---- progress -------------------------------------------------------------------------------------
    def _on_started(self, job: Job) -> None:
        self._job_t0 = time.monotonic()
        self._clear_report("job")
        self.panel.set_running(True)
        self._set_text(f"Running: {job.name}")

    def _on_progress(self, job: Job, progress: JobProgress) -> None:
        bar = self.panel.progress
        frac = progress.fraction
        if progress.total <= 1 and progress.step == 0 and progress.stage in ("loading", "predicting"):
            bar.setRange(0, 0)  # no steps to count: a moving bar says it is working, not frozen
        else:
            bar.setRange(0, 100)
            bar.setValue(int(round(100 * frac)))
        elapsed = time.monotonic() - self._job_t0
        eta = ""
        if progress.stage == "sampling" and 0 < frac < 1 and progress.step > 0:
            if "sample_t0" not in job.meta or progress.step == 1:
                job.meta["sample_t0"], job.meta["sample_step0"] = time.monotonic(), progress.step
            done = progress.step - job.meta["sample_step0"]
            if done > 0:
                rate = (time.monotonic() - job.meta["sample_t0"]) / done
                eta = f" · ETA {rate * (progress.total - progress.step):.0f} s"
        bar.setFormat(f"%p%{eta}")
        self._set_text(f"{job.name}: {progress.message} · {elapsed:.0f} s{eta}")
        if progress.stage == "loading":
            self.status_model.setText(f"Model: {progress.message}")

    def _on_finished(self, job: Job) -> None:
        if not self.jobs.is_busy():
            self.panel.set_running(False)
            if not self._last_text.startswith(("Cancelled", "Failed")):
                self._set_text("Idle")
        else:
            self._set_text(self._last_text)
        if self.model_host.name:
            self.status_model.setText(f"Model: {self.model_host.name} ({self.model_host.device})")

    def _on_error(self, job: Job, message: str) -> None:
        self._report(f"{job.name} failed: {message}", "job")
        self._set_text(f"Failed: {job.name}")

    def _set_text(self, text: str) -> None:
        """Job text plus the count of jobs waiting, which stays visible while progress text changes."""
        self._last_text = text
        waiting = len(self.jobs.pending)
        shown = text + (f" · {waiting} queued" if waiting else "")
        self.status_job.setText(shown)
        self.panel.job_label.setText(shown)
