"""Job factories for the worker: load the model, generate takes, predict curves.

Each factory returns a callable ``(cancel: threading.Event) -> generator`` that runs on the worker thread;
torch and the engine are imported there, never on the UI thread. Jobs yield ``JobProgress`` and return plain
data; the window turns the results into project changes on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.core.take_spec import TakeSpec
from triergon_studio.takes import Progress, TakeRecord

# The use case's progress is the job's progress (step, total, message, stage, fraction).
JobProgress = Progress
PERCENT = 1000  # steps of a determinate bar fed by a fraction (loading, curve prediction)


def _as_progress(
    reports: Generator[tuple[str, float], None, Any], stage: str, label: str = ""
) -> Generator[JobProgress, None, Any]:
    """(message, fraction) reports of a blocking call (``core.progress.run_reporting``) as job progress."""
    while True:
        try:
            message, fraction = next(reports)
        except StopIteration as stop:
            return stop.value
        text = f"{label}: {message}" if label and message else message
        yield JobProgress(int(fraction * PERCENT), PERCENT, text, stage)


class ModelHost:
    """Keeps the loaded model between jobs (loaded lazily, on the worker thread, the first time)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.name: str | None = None
        self.model: Any | None = None
        self._lock = threading.Lock()

    def ensure(self, name: str, cancel: threading.Event | None = None) -> Generator[JobProgress, None, Any]:
        """The model, loaded on first use: a determinate bar over the loading stages (checksums, weights read
        and loaded, ...), cancelled at the next stage report when ``cancel`` is set."""
        with self._lock:
            if self.model is not None and self.name == name:
                return self.model
        yield JobProgress(0, PERCENT, f"Loading model {name}…", "loading")
        from triergon_studio.core.progress import run_reporting
        from triergon_studio.takes import load_model

        def load(progress: Any) -> Any:
            return load_model(name, device=self.device, progress=progress)

        # ModelError (no weights, unknown name) -> message
        model = yield from _as_progress(run_reporting(load, cancel, name="load-model"), "loading", name)
        with self._lock:
            self.model, self.name = model, name
        yield JobProgress(PERCENT, PERCENT, f"Model {name} ready", "loading")
        return model


def generation_job(host: ModelHost, spec: TakeSpec, out_paths: list[Path], location: str = "") -> Any:
    """Generate (or regenerate a region of a take) through the one use case, ``takes.make_takes``; ``spec`` is a
    snapshot of the project taken on the UI thread (``core.take_spec.spec_from_project``). ``location``: the
    engine location setting ("" = this computer; else a Ray address, see ``ui.engine_location``)."""

    def run(cancel: threading.Event) -> Generator[JobProgress, None, list[TakeRecord]]:
        from triergon_studio.engine.weights import DEFAULT_MODEL
        from triergon_studio.takes import make_takes

        if location:  # the same use case on a cluster worker; the takes are written here
            from triergon_studio.cluster.remote import remote_engine

            engine = remote_engine(location)
            if engine is not None:
                return (yield from engine.make_takes(spec, out_paths, cancel=cancel))

        model = yield from host.ensure(spec.model or DEFAULT_MODEL, cancel)
        records: list[TakeRecord] = yield from make_takes(spec, model, out_paths, cancel=cancel)
        return records

    return run


def predict_job(host: ModelHost, model_name: str, video_path: Path, duration_s: float) -> Any:
    def run(cancel: threading.Event) -> Generator[JobProgress, None, Any]:
        from triergon_studio.core.progress import run_reporting
        from triergon_studio.takes import predict_curves

        model = yield from host.ensure(model_name, cancel)
        yield JobProgress(0, PERCENT, "Predicting the L/R curves from the picture (T_LUFS)", "predicting")

        def predict(progress: Any) -> Any:
            return predict_curves(model, str(video_path), "t_lufs", progress)

        curves = yield from _as_progress(
            run_reporting(predict, cancel, name="t-lufs"), "predicting", "T_LUFS"
        )
        yield JobProgress(PERCENT, PERCENT, "Curves predicted", "predicting")
        return curves

    return run


def motion_job(video_path: Path) -> Any:
    """The training-free motion curves (any model, no weights): ``video.motion.predict_motion_job``."""

    def run(cancel: threading.Event) -> Generator[JobProgress, None, Any]:
        from triergon_studio.core.progress import run_reporting
        from triergon_studio.video.motion import predict_motion_job

        yield JobProgress(
            0, PERCENT, "Predicting the L/R curves from the motion in the picture", "predicting"
        )

        def predict(progress: Any) -> Any:
            return predict_motion_job(str(video_path), cancel=cancel, report_to=progress)

        result = yield from _as_progress(
            run_reporting(predict, cancel, name="motion"), "predicting", "Motion"
        )
        yield JobProgress(PERCENT, PERCENT, result.status, "predicting")
        return result.curve

    return run


def measure_reference(path: str, in_s: float, out_s: float | None, duration_s: float) -> Any:
    """Curves measured on the chosen region of a reference sound, laid over the picture from 0 s."""
    from triergon_studio.audio.io import read_audio
    from triergon_studio.audio.loudness import measure_curves
    from triergon_studio.core.constants import LUFS_FLOOR
    from triergon_studio.core.curves import CurveSource, LoudnessCurve, frame_count

    audio, sr = read_audio(path)
    a = int(in_s * sr)
    b = audio.shape[0] if out_s is None else int(out_s * sr)
    measured = measure_curves(audio[a:b], sr)
    n = frame_count(duration_s)
    left = np.full(n, LUFS_FLOOR)
    right = np.full(n, LUFS_FLOOR)
    m = min(n, measured.n_frames)
    left[:m], right[:m] = measured.left[:m], measured.right[:m]
    return LoudnessCurve(left, right, duration_s, source=CurveSource.MEASURED)
