"""Generation pipeline on the tiny preset with seeded random weights (CPU)."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch

from triergon_studio.engine.models.triergon import Conditions, TriErgon
from triergon_studio.engine.pipeline import (
    GenerationRequest,
    Progress,
    equal_power_crossfade,
    generate,
    generate_takes,
    plan_chunks,
    regenerate_region,
    run_to_end,
)
from triergon_studio.engine.weights import random_model
from triergon_studio.errors import CancelledError, ModelError

SR = 44100


@pytest.fixture(scope="module")
def model() -> TriErgon:
    return random_model("tiny", seed=0).eval()


def _gen(model: TriErgon, **kw: object) -> list:
    kw.setdefault("steps", 3)
    kw.setdefault("seed", 7)
    return run_to_end(generate_takes(GenerationRequest(**kw), model))  # type: ignore[arg-type]


@pytest.mark.parametrize("duration", [1.0, 7.3, 0.0123, 2.345678])
def test_exact_sample_count(model: TriErgon, duration: float) -> None:
    (take,) = _gen(model, duration_s=duration)
    assert take.audio.shape == (round(duration * SR), 2)
    assert take.audio.dtype == np.float32 and np.isfinite(take.audio).all()
    assert take.sample_rate == SR
    assert take.metadata["n_samples"] == round(duration * SR) and take.metadata["chunks"] == 1


def test_sixty_seconds_is_one_chunk(model: TriErgon) -> None:
    assert len(plan_chunks(model, 60 * SR).starts) == 1
    (take,) = _gen(model, duration_s=60.0, steps=2)
    assert take.audio.shape == (60 * SR, 2)


def test_over_sixty_seconds_chunks_with_exact_length(model: TriErgon) -> None:
    n = round(61.37 * SR)
    plan = plan_chunks(model, n)
    assert len(plan.starts) == 2 and plan.overlap_frames > 0
    (take,) = _gen(model, duration_s=61.37, steps=2, curves=np.full((2, 369), -18.0))
    assert take.audio.shape == (n, 2)
    assert take.metadata["chunks"] == 2
    assert np.isfinite(take.audio).all() and np.abs(take.audio[-SR:]).max() > 0


def test_determinism_by_seed_and_variations(model: TriErgon) -> None:
    a = _gen(model, duration_s=1.5, seed=3)[0].audio
    b = _gen(model, duration_s=1.5, seed=3)[0].audio
    c = _gen(model, duration_s=1.5, seed=4)[0].audio
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    takes = _gen(model, duration_s=1.5, seed=3, variations=2)
    assert [t.metadata["seed"] for t in takes] == [3, 4]
    np.testing.assert_allclose(takes[0].audio, a, atol=1e-5)
    np.testing.assert_allclose(takes[1].audio, c, atol=1e-5)


def test_progress_counts_and_preview(model: TriErgon) -> None:
    seen: list[Progress] = []
    run_to_end(generate_takes(GenerationRequest(duration_s=1.0, steps=4, variations=2, preview_every=2, seed=0),
                              model), seen.append)
    assert [p.step for p in seen] == list(range(1, 9))
    assert all(p.total == 8 for p in seen)
    previews = [p for p in seen if p.preview is not None]
    assert len(previews) == 4 and previews[0].preview.shape[1] == 2  # type: ignore[union-attr]
    assert "step" in seen[0].message


def test_cancel_mid_run(model: TriErgon) -> None:
    cancel = threading.Event()
    gen = generate(GenerationRequest(duration_s=1.0, steps=20, seed=0), model, cancel)
    steps = []
    with pytest.raises(CancelledError):
        for p in gen:
            steps.append(p.step)
            if p.step == 3:
                cancel.set()
    assert steps[-1] == 3
    # closing the generator early stops the worker too
    gen2 = generate(GenerationRequest(duration_s=1.0, steps=50, seed=0), model)
    next(gen2)
    gen2.close()
    assert not any(t.name == "triergon-generate" for t in threading.enumerate())


def test_cfg_scale_one_equals_conditional(model: TriErgon) -> None:
    from triergon_studio.engine.sampling import cfg_denoiser

    cond = Conditions(text_emb=torch.randn(1, 4, 64), lufs=torch.rand(1, 2, 30),
                      seconds_start=torch.zeros(1), seconds_total=torch.full((1,), 5.0))
    with torch.inference_mode():
        ct = model.condition(cond)
        ck, uk = model.model_kwargs(ct), model.model_kwargs(ct.unconditional())
        x, sigma = torch.randn(1, 8, 20), torch.full((1,), 2.0)
        d1 = cfg_denoiser(model.denoise_v, ck, uk, 1.0)(x, sigma)
        dc = cfg_denoiser(model.denoise_v, ck, ck, 1.0)(x, sigma)
        torch.testing.assert_close(d1, dc)
        t = torch.atan(sigma) * 2 / torch.pi
        v_c = model.denoise_v(x * (1 / (sigma**2 + 1).sqrt()), t, **ck)
        v_u = model.denoise_v(x * (1 / (sigma**2 + 1).sqrt()), t, **uk)
        assert not torch.allclose(v_c, v_u)
        d7 = cfg_denoiser(model.denoise_v, ck, uk, 7.0)(x, sigma)
        c_skip, c_out = 1 / (sigma**2 + 1), -sigma / (sigma**2 + 1).sqrt()
        torch.testing.assert_close(d7, x * c_skip + (v_u + 7.0 * (v_c - v_u)) * c_out, atol=1e-4, rtol=1e-4)


def test_all_task_ids_through_the_pipeline(model: TriErgon) -> None:
    rng = np.random.default_rng(0)
    outs = {}
    for text, audio, video in itertools.product([False, True], repeat=3):
        pre = {k: rng.standard_normal((4, 64)).astype(np.float32)
               for k, on in (("text", text), ("audio", audio), ("video", video)) if on}
        (take,) = _gen(model, duration_s=0.5, steps=2, prompt_embeddings=pre)
        tid = 4 * text + 2 * audio + video
        assert take.metadata["task_id"] == tid
        outs[tid] = take.audio
    assert all(not np.allclose(outs[0], outs[k]) for k in range(1, 8))


def test_prompts_without_encoders_fail_clearly() -> None:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.triergon import build_model

    bare = build_model(get_preset("tiny"), "cpu", build_encoders=False)
    with pytest.raises(ModelError, match="no prompt encoders"):
        _gen(bare, duration_s=0.5, text="door slam")
    with pytest.raises(ModelError, match="no LUFS predictor"):
        _gen(bare, duration_s=0.5, predict_curves=True, use_video=False,
             video_frames=np.zeros((3, 8, 8, 3), np.uint8))
    with pytest.raises(ModelError, match="duration or a video"):
        _gen(bare)
    with pytest.raises(ModelError, match=r"\[2, frames\]"):
        _gen(bare, duration_s=0.5, curves=np.zeros(10))


def test_text_audio_video_prompts_through_the_encoders(model: TriErgon) -> None:
    assert model.encoders is not None and model.lufs_predictor is not None
    rng = np.random.default_rng(1)
    ref = (0.1 * rng.standard_normal((22050, 1))).astype(np.float32)  # mono at 22.05 kHz: resampled, doubled
    frames = rng.integers(0, 255, (12, 40, 64, 3), dtype=np.uint8)
    (take,) = _gen(model, duration_s=2.0, text="glass bottle crushed underfoot", reference_audio=ref,
                   reference_sr=22050, reference_in_s=0.1, reference_out_s=0.4, video_frames=frames, predict_curves=True)
    assert take.metadata["task_id"] == 7 and take.metadata["curves"] == "predicted"
    (no_video,) = _gen(model, duration_s=2.0, text="glass bottle crushed underfoot", video_frames=frames,
                       use_video=False)
    assert no_video.metadata["task_id"] == 4
    assert not np.allclose(take.audio, no_video.audio)


def test_video_span_prompt_and_length(model: TriErgon, shared_media: object) -> None:
    from pathlib import Path

    video = Path(str(shared_media)) / "car-detection.mp4"
    (take,) = _gen(model, video_path=str(video), span=(2.0, 3.5), steps=2, predict_curves=True)
    assert take.audio.shape == (round(1.5 * SR), 2)
    assert take.metadata["task_id"] == 1 and take.metadata["span"] == [2.0, 3.5]


def test_curves_change_the_output(model: TriErgon) -> None:
    loud = _gen(model, duration_s=1.0, curves=np.full((2, 6), -10.0))[0].audio
    quiet = _gen(model, duration_s=1.0, curves=np.full((2, 6), -60.0))[0].audio
    assert not np.allclose(loud, quiet)


def test_region_regeneration_keeps_outside(model: TriErgon) -> None:
    (take,) = _gen(model, duration_s=4.0, seed=1)
    out = run_to_end(regenerate_region(take.audio, 1.2, 2.5, GenerationRequest(steps=3, seed=9), model))
    a, b = round(1.2 * SR), round(2.5 * SR)
    assert out.audio.shape == take.audio.shape
    np.testing.assert_array_equal(out.audio[:a], take.audio[:a])
    np.testing.assert_array_equal(out.audio[b:], take.audio[b:])
    xf = round(0.05 * SR)
    assert not np.allclose(out.audio[a + xf:b - xf], take.audio[a + xf:b - xf])
    # the crossfade starts from the old audio
    np.testing.assert_allclose(out.audio[a], take.audio[a], atol=0.05 * np.abs(take.audio).max() + 1e-3)
    with pytest.raises(ModelError, match="outside the take"):
        run_to_end(regenerate_region(take.audio, 3.0, 9.0, GenerationRequest(steps=2), model))


def test_equal_power_crossfade() -> None:
    a = np.ones((1000, 2), np.float32)
    out = equal_power_crossfade(a, a)
    power = np.cos(np.linspace(0, np.pi / 2, 1000)) ** 2 + np.sin(np.linspace(0, np.pi / 2, 1000)) ** 2
    np.testing.assert_allclose(power, 1.0)
    assert out[0, 0] == pytest.approx(1.0, abs=2e-3) and out.max() <= np.sqrt(2) + 1e-6
    b = np.zeros((1000, 2), np.float32)
    fade = equal_power_crossfade(a, b)
    assert fade[0, 0] > 0.99 and fade[-1, 0] < 0.01


def test_generate_returns_one_take_and_refuses_variations(model: TriErgon) -> None:
    take = run_to_end(generate(GenerationRequest(duration_s=0.5, steps=2, seed=1), model))
    assert take.audio.shape == (round(0.5 * SR), 2)
    with pytest.raises(ModelError, match="generate_takes"):
        run_to_end(generate(GenerationRequest(duration_s=0.5, variations=2), model))


def test_picture_length_and_span_in_video_time(model: TriErgon) -> None:
    from fractions import Fraction

    from triergon_studio.core.timecode import picture_samples

    fps = Fraction(30000, 1001)
    (take,) = _gen(model, duration_s=1001 / 30000 * 47, frame_count=47, fps=fps, video_path="unused.mp4",
                   use_video=False)
    assert len(take.audio) == picture_samples(47, fps, SR)
    # a curve covering the whole video is cut from the span start: a loud second half vs a quiet one
    curve = np.full((2, 60), -60.0)
    curve[:, 30:] = -6.0
    req = {"video_path": "unused.mp4", "use_video": False, "duration_s": 2.0, "steps": 2, "seed": 2}
    late = _gen(model, start_s=6.0, curves=curve, **req)[0]
    early = _gen(model, start_s=1.0, curves=curve, **req)[0]
    loud = _gen(model, curves=np.full((2, 12), -6.0), duration_s=2.0, steps=2, seed=2)[0]
    np.testing.assert_allclose(late.audio, loud.audio, atol=1e-5)
    assert not np.allclose(early.audio, loud.audio)
    assert late.metadata["span"] == [6.0, 8.0]


def test_reduced_precision_generation() -> None:
    from triergon_studio.engine.pipeline import load_model

    m = load_model("tiny-random", "cpu", torch.bfloat16)
    assert m.dit.transformer.project_in.weight.dtype == torch.bfloat16
    assert m.encoders is not None and next(m.encoders.parameters()).dtype == torch.float32
    take = run_to_end(generate(GenerationRequest(duration_s=0.7, steps=2, seed=1, text="a door",
                                                 curves=np.full((2, 5), -20.0)), m))
    assert take.audio.dtype == np.float32 and take.audio.shape == (round(0.7 * SR), 2)
    assert np.isfinite(take.audio).all() and take.metadata["dtype"] == "bfloat16"


def test_short_window_model_chunks_and_regenerates_inside_a_window() -> None:
    """A model whose window is 3 s: 8 s comes in overlapping chunks, and a region late in a long take is
    regenerated inside a window that does not start at 0."""
    import dataclasses

    m = random_model("tiny", seed=0)
    m.cfg = dataclasses.replace(m.cfg, max_duration_s=3.0)
    plan = plan_chunks(m, 8 * SR)
    assert len(plan.starts) >= 3 and plan.starts[1] == plan.chunk_frames - plan.overlap_frames
    (take,) = _gen(m, duration_s=8.0, steps=2, seed=4)
    assert take.audio.shape == (8 * SR, 2) and take.metadata["chunks"] == len(plan.starts)
    out = run_to_end(regenerate_region(take.audio, 6.0, 6.8, GenerationRequest(steps=2, seed=1), m))
    a, b = 6 * SR, round(6.8 * SR)
    np.testing.assert_array_equal(out.audio[:a], take.audio[:a])
    np.testing.assert_array_equal(out.audio[b:], take.audio[b:])
    assert not np.allclose(out.audio[a:b], take.audio[a:b])
    with pytest.raises(ModelError, match="longer than the model's"):
        run_to_end(regenerate_region(take.audio, 1.0, 7.0, GenerationRequest(steps=2), m))


def test_predict_curves_for_the_ui(model: TriErgon, shared_media: object) -> None:
    from pathlib import Path

    from triergon_studio.engine.pipeline import predict_curves

    video = Path(str(shared_media)) / "car-detection.mp4"
    curve = predict_curves(str(video), model=model)
    assert curve.rate_hz == 6.0 and curve.duration_s == pytest.approx(30.16, abs=0.01)
    assert len(curve.left) == len(curve.right) >= 180
    assert np.all(curve.left >= -70.0) and np.all(curve.left <= 0.0)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        predict_curves(str(video), model=model, cancel=cancel)
