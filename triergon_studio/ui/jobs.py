"""Job factories for the worker: load the model, generate takes, predict curves.

Each factory returns a callable ``(cancel: threading.Event) -> generator`` that runs on the worker thread;
torch and the engine are imported there, never on the UI thread. Jobs yield ``JobProgress`` and return plain
data; the window turns the results into project changes on the UI thread.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class JobProgress:
    step: int
    total: int
    message: str = ""
    stage: str = "sampling"  # loading | sampling | writing | predicting

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)


@dataclass
class GeneratedTake:
    """One variation, already written to ``path`` (a take file inside the project)."""

    path: Path
    seed: int
    duration_s: float
    sample_rate: int
    start_s: float
    metadata: dict[str, Any] = field(default_factory=dict)


class ModelHost:
    """Keeps the loaded model between jobs (loaded lazily, on the worker thread, the first time)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.name: str | None = None
        self.model: Any | None = None
        self._lock = threading.Lock()

    def ensure(self, name: str) -> Generator[JobProgress, None, Any]:
        with self._lock:
            if self.model is not None and self.name == name:
                return self.model
        yield JobProgress(0, 1, f"Loading model {name}…", "loading")
        from triergon_studio.engine.pipeline import load_model

        model = load_model(name, device=self.device)  # ModelError (no weights, unknown name) -> message
        with self._lock:
            self.model, self.name = model, name
        yield JobProgress(1, 1, f"Model {name} ready", "loading")
        return model


def _fill(cls: Any, values: dict[str, Any]) -> Any:
    """Build ``cls`` from the values whose names it declares (the engine owns the request's shape)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def _relay(gen: Generator[Any, None, Any], label: str) -> Generator[JobProgress, None, Any]:
    """Pass an engine generator's sampler progress on as job progress; return its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield JobProgress(int(p.step), int(p.total), f"{label}: step {p.step}/{p.total}")


def generation_job(host: ModelHost, spec: dict[str, Any], seeds: list[int],
                   out_paths: list[Path]) -> Any:
    """``spec`` is a snapshot of the project's prompts, curves and settings taken on the UI thread."""

    def run(cancel: threading.Event) -> Generator[JobProgress, None, list[GeneratedTake]]:
        from triergon_studio.audio.io import write_wav
        from triergon_studio.engine import pipeline

        model = yield from host.ensure(spec["model"])
        results: list[GeneratedTake] = []
        for k, (seed, path) in enumerate(zip(seeds, out_paths, strict=True)):
            request = _fill(pipeline.GenerationRequest, {**spec, "seed": seed, "variations": 1})
            gen = pipeline.generate(request, model=model, cancel=cancel)
            label = f"take {k + 1}/{len(seeds)}" if len(seeds) > 1 else "take"
            t0 = time.monotonic()
            out = yield from _relay(gen, f"Sampling {label}")
            audio = np.asarray(out.audio, dtype=np.float32)
            sr = int(out.sample_rate)
            meta = {**dict(getattr(out, "metadata", {}) or {}), "seconds": round(time.monotonic() - t0, 3)}
            if spec.get("conform") and spec.get("curves") is not None:
                yield JobProgress(0, 1, f"Conforming {label} to the curve", "writing")
                audio, meta["conform_mae_lu"] = _conform(audio, sr, spec["curves"], float(spec["start_s"]))
            yield JobProgress(1, 1, f"Writing {label}", "writing")
            write_wav(path, audio, sr, bits="32f")
            results.append(GeneratedTake(path, seed, audio.shape[0] / float(sr), sr, float(spec["start_s"]), meta))
        return results

    return run


def regenerate_job(host: ModelHost, spec: dict[str, Any], take_path: Path, take_start_s: float,
                   region: tuple[float, float], seed: int, out_path: Path) -> Any:
    """Regenerate ``region`` (video seconds) of an existing take by latent inpainting; the rest of the take
    is kept sample for sample. The result is written as a new take."""

    def run(cancel: threading.Event) -> Generator[JobProgress, None, list[GeneratedTake]]:
        from triergon_studio.audio.io import read_audio, write_wav
        from triergon_studio.engine import pipeline

        model = yield from host.ensure(spec["model"])
        audio, sr = read_audio(take_path, sample_rate=int(model.sample_rate))
        request = _fill(pipeline.GenerationRequest, {**spec, "seed": seed, "variations": 1})
        a, b = region[0] - take_start_s, region[1] - take_start_s
        gen = pipeline.regenerate_region(audio, a, b, request, model=model, cancel=cancel)
        out = yield from _relay(gen, f"Regenerating {region[0]:.2f}-{region[1]:.2f} s")
        yield JobProgress(1, 1, "Writing the regenerated take", "writing")
        new = np.asarray(out.audio, dtype=np.float32)
        write_wav(out_path, new, int(out.sample_rate), bits="32f")
        return [GeneratedTake(out_path, seed, new.shape[0] / float(out.sample_rate), int(out.sample_rate),
                              take_start_s, dict(getattr(out, "metadata", {}) or {}))]

    return run


def _conform(audio: np.ndarray, sr: int, curves: Any, start_s: float) -> tuple[np.ndarray, float]:
    """Conform a take to the part of the project's curve it covers (``audio.conform``)."""
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.core.curves import LoudnessCurve

    duration = audio.shape[0] / float(sr)
    first = int(round(start_s * curves.rate_hz))
    n = int(np.ceil(duration * curves.rate_hz - 1e-9))
    part = LoudnessCurve(curves.left[first:first + n], curves.right[first:first + n], duration, curves.rate_hz,
                         curves.source)
    res = conform_to_curve(audio, sr, part)
    return np.asarray(res.audio, dtype=np.float32), float(res.mae_lu)


def predict_job(host: ModelHost, model_name: str, video_path: Path, duration_s: float) -> Any:
    def run(cancel: threading.Event) -> Generator[JobProgress, None, Any]:
        from triergon_studio.engine import pipeline

        model = yield from host.ensure(model_name)
        yield JobProgress(0, 1, "Predicting the L/R curves from the picture (T_LUFS)", "predicting")
        curves = pipeline.predict_curves(str(video_path), model=model, cancel=cancel)
        yield JobProgress(1, 1, "Curves predicted", "predicting")
        return curves

    return run


def measure_reference(path: str, in_s: float, out_s: float | None, duration_s: float) -> Any:
    """Curves measured on the chosen region of a reference sound, laid over the picture from 0 s."""
    from triergon_studio.audio.io import read_audio
    from triergon_studio.audio.loudness import measure_curves
    from triergon_studio.core.curves import CurveSource, LoudnessCurve, frame_count

    audio, sr = read_audio(path)
    a = int(in_s * sr)
    b = audio.shape[0] if out_s is None else int(out_s * sr)
    measured = measure_curves(audio[a:b], sr)
    n = frame_count(duration_s)
    left = np.full(n, -70.0)
    right = np.full(n, -70.0)
    m = min(n, measured.n_frames)
    left[:m], right[:m] = measured.left[:m], measured.right[:m]
    return LoudnessCurve(left, right, duration_s, source=CurveSource.MEASURED)
