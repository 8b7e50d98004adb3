"""The app's progress bar for the long calls (issue 14, item 10): loading a model, predicting curves (T_LUFS
and motion) and decoding a take each give a determinate bar that moves, only forward, and ends at 100 %."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model folder (config, safetensors, manifest with checksums) with the tiny preset's weights."""
    from triergon_studio.engine.weights import random_model, save_model_dir

    return save_model_dir(
        random_model("tiny", seed=0), None, tmp_path_factory.mktemp("models") / "tiny-folder"
    )


def record_bar(win: Any) -> list[tuple[str, int, int]]:
    """(stage, bar value, bar maximum) after every progress report the window handled; the bar's shown text
    goes to ``win.bar_texts``."""
    seen: list[tuple[str, int, int]] = []
    bar = win.prompt_panel.progress
    win.bar_texts = []

    def on_progress(job: Any, progress: Any) -> None:  # connected after the controller's: the bar is updated
        seen.append((progress.stage, bar.value(), bar.maximum()))
        win.bar_texts.append(bar.text())

    win.jobs.job_yielded.connect(on_progress)
    return seen


def check_stage(seen: list[tuple[str, int, int]], stage: str) -> list[int]:
    values = [v for s, v, _ in seen if s == stage]
    assert values, f"no {stage} progress"
    assert all(m == 100 for s, _, m in seen if s == stage), "the bar must be determinate (0..100)"
    assert values == sorted(values), f"{stage} went backwards: {values}"
    assert values[-1] == 100, f"{stage} ends at {values[-1]} %"
    assert len({v for v in values if 0 < v < 100}) >= 2, f"{stage} did not move: {values}"
    return values


def test_loading_and_decoding_move_the_bar(window, qtbot, model_folder: Path) -> None:
    win = window
    win.prompt_panel.model.setCurrentText(str(model_folder))
    win.project.set_settings(model=str(model_folder), steps=2, seed=3, seed_locked=True)
    seen = record_bar(win)
    win.generation.generate()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=120000)
    assert len(win.project.takes) == 1, win.last_error
    check_stage(seen, "loading")
    check_stage(seen, "decoding")
    everything = [v for s, v, _ in seen if s != "loading"]  # the generation after the load
    assert everything == sorted(everything) and everything[-1] == 100
    assert win.status_model.text().startswith("Model: ")


def test_curve_prediction_shows_a_percentage(window, qtbot, model_folder: Path) -> None:
    win = window
    win.prompt_panel.model.setCurrentText(str(model_folder))
    seen = record_bar(win)
    win.generation.predict_curves()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=120000)
    assert win.project.curves is not None, win.last_error
    predicting = [(s, v, m) for s, v, m in seen if s == "predicting"]
    check_stage(predicting, "predicting")
    assert any(t.endswith("%") and t[:-1].isdigit() and 0 < int(t[:-1]) < 100 for t in win.bar_texts)

    del seen[:]
    win.project.undo.undo()
    win.generation.predict_motion_curves()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=60000)
    assert win.project.curves is not None, win.last_error
    check_stage(seen, "predicting")


def test_cancel_while_predicting_from_motion(window, qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The motion job stops at its next frame report when cancelled (no curves arrive). The frame decoding is
    held after a tenth of its frames until the test has cancelled, so the job cannot finish first."""
    import threading

    import triergon_studio.video.sampling as sampling

    real, gate = sampling.sample_frames_6fps, threading.Event()

    def held(path: Any, size: Any = None, rate_hz: int = 6, progress: Any = None) -> Any:
        def report(message: str, fraction: float) -> None:
            progress(message, fraction)
            if fraction >= 0.1:  # a tenth of the frames: the bar shows a few percent
                gate.wait(10)

        return real(path, size, rate_hz, report)

    monkeypatch.setattr(sampling, "sample_frames_6fps", held)
    win = window
    seen = record_bar(win)
    win.generation.predict_motion_curves()
    qtbot.waitUntil(lambda: any(s == "predicting" and 0 < v < 100 for s, v, _ in seen), timeout=30000)
    win.generation.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=30000)
    assert win.project.curves is None
    assert win.status_job.text().startswith("Cancelled")
