"""Generation from the window: gather what to generate from the project, queue the job, show its progress,
and turn the results into takes (one undo step).

``gather_spec`` is the one place where the window's state becomes a request for the engine; everything the
job needs is copied there, on the UI thread, so the job never reads the live project.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from triergon_studio.ui.jobs import (
    GeneratedTake,
    JobProgress,
    ModelHost,
    generation_job,
    predict_job,
    regenerate_job,
)
from triergon_studio.ui.worker import Job, JobQueue

if TYPE_CHECKING:
    from triergon_studio.core.project import Project
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
        jobs.job_started.connect(self._on_started)
        jobs.job_yielded.connect(self._on_progress)
        jobs.job_errored.connect(self._on_error)
        jobs.job_aborted.connect(lambda job: self._set_text(f"Cancelled: {job.name}"))
        jobs.job_finished.connect(self._on_finished)
        jobs.queue_changed.connect(lambda *_: self._set_text(self._last_text))
        panel.set_models(model_names())

    @property
    def project(self) -> Project:
        return self._project()

    # ---- the request ------------------------------------------------------------------------------------
    def gather_spec(self, region: tuple[float, float] | None) -> dict[str, Any]:
        """Everything the job needs, copied from the project on the UI thread.

        The one place that builds the engine request: ``takes.spec_from_project`` replaces the body.
        ``region`` (video seconds) limits the span; otherwise the settings' span, else the whole picture.
        """
        p = self.project
        s = p.settings
        span = region or s.span or (0.0, float(p.duration_s))
        start, end = float(span[0]), float(span[1])
        refs = p.prompts.references
        return {
            "model": s.model,
            "video_path": str(p.video_abspath()) if p.video is not None else None,
            "use_video": p.prompts.use_video,
            "text": p.prompts.text.strip() or None,
            "reference_path": refs[0].path if refs else None,
            "reference_in_s": refs[0].in_s if refs else 0.0,
            "reference_out_s": refs[0].out_s if refs else None,
            "curves": p.curves,
            "start_s": start,
            "duration_s": end - start,
            "steps": int(s.steps),
            "cfg": float(s.cfg),
            "sampler": s.sampler,
            "conform": bool(s.conform),
            "frame_count": int(p.frame_count),
            "fps": p.fps,
        }

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

    def generate(self, region: tuple[float, float] | None = None) -> None:
        self._flush()
        p = self.project
        if p.path is None and not self._save_as():
            self._report("Save the project first: takes are written into its folder", "job")
            return
        spec = self.gather_spec(region)
        if spec["duration_s"] <= 0:
            self._report("Nothing to generate: the project has no picture span", "job")
            return
        seeds = self.next_seeds()
        stem = (p.prompts.text.strip().split("\n")[0][:24] or "take").replace(" ", "_")
        paths = [p.new_take_path(stem) for _ in seeds]
        label = "Generate region" if region else "Generate"
        n = len(seeds)
        self.jobs.submit(
            Job(
                f"{label} ({n} take{'s' if n > 1 else ''})",
                generation_job(self.model_host, spec, seeds, paths),
                on_return=self._adder(p, stem),
            )
        )

    def regenerate_region(self) -> None:
        """Regenerate the selected region of the selected take (inpainting: the rest stays sample for sample);
        without a selected take, generate a new take for the region only."""
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
        if source is None:
            self.generate(region)
            return
        start = float(source.metadata.get("start_s", 0.0)) if isinstance(source.metadata, dict) else 0.0
        lo, hi = max(region[0], start), min(region[1], start + source.duration_s)
        if hi <= lo:
            self._report(
                f"The region {region[0]:.2f}-{region[1]:.2f} s is outside {source.name} "
                f"({start:.2f}-{start + source.duration_s:.2f} s)",
                "job",
            )
            return
        if p.path is None and not self._save_as():
            return
        spec = {**self.gather_spec(region), "start_s": start, "duration_s": source.duration_s}
        stem = f"{source.name}_regen".replace(" ", "_")
        seed = self.next_seeds()[0]
        job = regenerate_job(
            self.model_host, spec, p.take_path(source), start, (lo, hi), seed, p.new_take_path(stem)
        )
        self.jobs.submit(
            Job(f"Regenerate {lo:.2f}-{hi:.2f} s of {source.name}", job, on_return=self._adder(p, stem))
        )

    def cancel(self) -> None:
        if self.jobs.cancel_current():
            self._set_text("Cancelling…")

    def _adder(self, p: Project, stem: str) -> Callable[[list[GeneratedTake]], None]:
        settings, prompts, curves = p.settings, p.prompts, p.curves

        def done(results: list[GeneratedTake]) -> None:
            from triergon_studio.core.model import Take, new_id

            if self.project is not p:
                return  # another project was opened meanwhile: the files stay in the old one's folder
            first = None
            with p.undo.macro(f"Generate {len(results)} take(s)"):
                for r in results:
                    take_settings = dataclasses.replace(
                        settings, seed=int(r.seed), span=(r.start_s, r.start_s + float(r.duration_s))
                    )
                    rel = Path(r.path).relative_to(p.folder).as_posix()
                    take = Take(
                        id=new_id(),
                        name=f"{stem} {len(p.takes) + 1}",
                        path=rel,
                        duration_s=float(r.duration_s),
                        sample_rate=int(r.sample_rate),
                        prompts=prompts,
                        settings=take_settings,
                        curves=curves.to_json() if curves is not None else None,
                        metadata={**r.metadata, "start_s": r.start_s, "seed": int(r.seed)},
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
