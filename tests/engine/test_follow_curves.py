"""Follow curves (issue 13) through the one use case: shape, guide and shape+guide on the tiny model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from triergon_studio.core.curves import LoudnessCurve
from triergon_studio.core.take_spec import TakeSpec, TimeSpan
from triergon_studio.engine.families.triergon import TriErgonModel
from triergon_studio.engine.weights import random_model
from triergon_studio.errors import ModelError
from triergon_studio.takes import generate_takes, make_takes, run_to_end

SR = 44100


@pytest.fixture(scope="module")
def model() -> TriErgonModel:
    return TriErgonModel(random_model("tiny", seed=0).eval())


def _curve(duration: float) -> LoudnessCurve:
    n = int(np.ceil(duration * 6 - 1e-9))
    t = np.arange(n) / 6
    return LoudnessCurve(-50 + 30 * t / t[-1], np.where((t % 1) < 0.5, -25.0, -70.0), duration)


def _spec(mode: str, duration: float = 1.5, **kw: object) -> TakeSpec:
    return TakeSpec(
        span=TimeSpan(0.0, duration), curves=_curve(duration), follow_curves=mode, steps=4, seed=3, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["shape", "guide", "shape+guide"])
def test_modes_run_and_record(model: TriErgonModel, mode: str, tmp_path: Path) -> None:
    spec = _spec(mode, extra={"guide_budget": 2.0})
    (rec,) = run_to_end(make_takes(spec, model, [tmp_path / "t.wav"]))
    assert rec.n_samples == spec.n_samples(SR)
    meta = rec.record["metadata"]
    assert rec.record["settings"]["follow_curves"] == mode
    if "guide" in mode:
        assert meta["guide_passes"] == 2 and meta["guide_budget"] == 2
    else:
        assert "guide_passes" not in meta
    if "shape" in mode:
        assert rec.record["settings"]["init_noise"] == pytest.approx(0.7)


def test_shape_and_guide_change_the_take(model: TriErgonModel) -> None:
    off = run_to_end(generate_takes(_spec("off"), model))[0].audio
    shaped = run_to_end(generate_takes(_spec("shape"), model))[0].audio
    guided = run_to_end(generate_takes(_spec("guide", extra={"guide_budget": 2.0}), model))[0].audio
    assert not np.allclose(off, shaped) and not np.allclose(off, guided)


def test_follow_without_curves_or_with_bad_knobs_is_refused(model: TriErgonModel) -> None:
    with pytest.raises(ModelError, match="needs curves"):
        run_to_end(generate_takes(TakeSpec(span=TimeSpan(0.0, 1.0), follow_curves="guide", steps=2), model))
    with pytest.raises(ModelError, match="guide_budget"):
        run_to_end(generate_takes(_spec("guide", extra={"guide_budget": 0.0}), model))


def test_short_curves_file_is_one_line_naming_it(model: TriErgonModel, tmp_path: Path) -> None:
    path = tmp_path / "short.json"
    _curve(1.0).save(path)
    spec = TakeSpec(span=TimeSpan(0.0, 3.0), curves=LoudnessCurve.load(path), follow_curves="guide", steps=2)
    with pytest.raises(ModelError) as err:
        run_to_end(generate_takes(spec, model))
    assert "\n" not in str(err.value) and "take ends at 3.00 s" in str(err.value)


def test_seed_search_picks_a_candidate_and_its_take_is_that_seeds_take(model: TriErgonModel) -> None:
    """``guide_seeds``: short unguided candidates judged against the curve; the take is the picked seed's own
    guided take, and the record says which seeds were tried and how far each was from the curve."""
    knobs = {"guide_budget": 2.0, "guide_seed_steps": 2.0}
    progress = []
    gen = generate_takes(_spec("guide", extra={**knobs, "guide_seeds": 3.0}), model)
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            (take,) = stop.value
            break
    meta = take.record["metadata"]
    seeds, errors, picked = (
        meta["seed_search_seeds"],
        meta["seed_search_errors_lu"],
        meta["seed_search_picked"],
    )
    assert len(seeds) == 3 and seeds[0] == 3 and len(set(seeds)) == 3 and len(errors) == 3
    assert picked == seeds[int(np.argmin(errors))]
    assert take.seed == 3  # the take keeps the seed it was asked for: the same seed picks the same candidate
    assert progress[-1].step == progress[-1].total  # the search's steps are counted in the progress
    assert any("seed 3/3" in p.message for p in progress)
    spec = _spec("guide", extra=knobs)
    direct = run_to_end(generate_takes(dataclasses.replace(spec, seed=picked), model))[0]
    np.testing.assert_array_equal(take.audio, direct.audio)


@pytest.mark.parametrize(
    ("knob", "value"), [("guide_seeds", 0.0), ("guide_seeds", 17.0), ("guide_seed_steps", 0.0)]
)
def test_seed_search_knobs_are_checked_before_any_work(model: TriErgonModel, knob: str, value: float) -> None:
    with pytest.raises(ModelError, match=knob):
        run_to_end(generate_takes(_spec("guide", extra={knob: value}), model))
