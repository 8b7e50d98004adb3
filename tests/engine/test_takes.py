"""The one use case (``takes.generate_takes`` / ``make_takes``) on the tiny preset with seeded random weights."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.video.video_factory import make_video
from triergon_studio.core.curves import LoudnessCurve
from triergon_studio.core.take_spec import AudioClip, RegionSource, TakeSpec, TimeSpan, VideoSource
from triergon_studio.engine.families.triergon import TriErgonModel
from triergon_studio.engine.models.triergon import Conditions
from triergon_studio.engine.weights import random_model
from triergon_studio.errors import CancelledError, ModelError
from triergon_studio.takes import (
    Progress,
    decode_units,
    equal_power_crossfade,
    generate_takes,
    make_takes,
    plan_chunks,
    predict_curves,
    run_to_end,
)

SR = 44100


@pytest.fixture(scope="module")
def model() -> TriErgonModel:
    return TriErgonModel(random_model("tiny", seed=0).eval())


def _curve(values: np.ndarray | float, duration: float) -> LoudnessCurve:
    n = int(np.ceil(duration * 6 - 1e-9))
    arr = np.broadcast_to(np.asarray(values, dtype=np.float64), (2, n)) if np.ndim(values) < 2 else values
    return LoudnessCurve(arr[0], arr[1], duration)


def _gen(model: Any, embeddings: dict[str, Any] | None = None, **kw: Any) -> list[Any]:
    kw.setdefault("steps", 3)
    kw.setdefault("seed", 7)
    if "duration" in kw:
        kw["span"] = TimeSpan(0.0, kw.pop("duration"))
    return run_to_end(generate_takes(TakeSpec(**kw), model, embeddings=embeddings))  # type: ignore[no-any-return]


@pytest.mark.parametrize("duration", [1.0, 7.3, 0.0123, 2.345678])
def test_exact_sample_count(model: TriErgonModel, duration: float) -> None:
    (take,) = _gen(model, duration=duration)
    assert take.audio.shape == (round(duration * SR), 2)
    assert take.audio.dtype == np.float32 and np.isfinite(take.audio).all()
    meta = take.record["metadata"]
    assert meta["n_samples"] == round(duration * SR) and meta["chunks"] == 1


def test_sixty_seconds_is_one_chunk(model: TriErgonModel) -> None:
    assert len(plan_chunks(model, 60 * SR).starts) == 1
    (take,) = _gen(model, duration=60.0, steps=2)
    assert take.audio.shape == (60 * SR, 2)


def test_over_sixty_seconds_chunks_with_exact_length(model: TriErgonModel) -> None:
    n = round(61.37 * SR)
    plan = plan_chunks(model, n)
    assert len(plan.starts) == 2 and plan.overlap_frames > 0
    (take,) = _gen(model, duration=61.37, steps=2, curves=_curve(-18.0, 61.37))
    assert take.audio.shape == (n, 2) and take.record["metadata"]["chunks"] == 2
    assert np.isfinite(take.audio).all() and np.abs(take.audio[-SR:]).max() > 0


def test_determinism_by_seed_and_variations(model: TriErgonModel) -> None:
    a = _gen(model, duration=1.5, seed=3)[0].audio
    b = _gen(model, duration=1.5, seed=3)[0].audio
    c = _gen(model, duration=1.5, seed=4)[0].audio
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    takes = _gen(model, duration=1.5, seed=3, variations=2)
    assert [t.seed for t in takes] == [3, 4]
    np.testing.assert_allclose(takes[0].audio, a, atol=1e-5)
    np.testing.assert_allclose(takes[1].audio, c, atol=1e-5)


def test_none_means_the_models_defaults(model: TriErgonModel) -> None:
    (take,) = _gen(model, duration=0.3, steps=None)
    s = take.record["settings"]
    d = model.info.defaults
    assert (s["steps"], s["cfg"], s["sampler"]) == (d.steps, d.cfg, d.sampler)
    with pytest.raises(ModelError, match="no sampler"):
        _gen(model, duration=0.3, sampler="heun")


def test_progress_counts_and_preview(model: TriErgonModel) -> None:
    seen: list[Progress] = []
    spec = TakeSpec(span=TimeSpan(0, 1.0), steps=4, variations=2, seed=0)
    run_to_end(generate_takes(spec, model, preview_every=2), seen.append)
    sampling = [p for p in seen if p.stage == "sampling"]
    # each take's decode counts as decode_units(4) == 1 step after its 4 sampler steps
    assert decode_units(4) == 1
    assert [p.step for p in sampling] == [1, 2, 3, 4, 6, 7, 8, 9] and all(p.total == 10 for p in sampling)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    previews = [p for p in sampling if p.preview is not None]
    assert len(previews) == 4 and previews[0].preview.shape[1] == 2  # type: ignore[union-attr]
    assert "step" in sampling[0].message


def test_cancel_lands_within_one_step(model: TriErgonModel) -> None:
    cancel = threading.Event()
    gen = generate_takes(TakeSpec(span=TimeSpan(0, 1.0), steps=20, seed=0), model, cancel=cancel)
    steps = []
    with pytest.raises(CancelledError):
        for p in gen:
            if p.stage == "sampling":
                steps.append(p.step)
                if p.step == 3:
                    cancel.set()
    assert steps[-1] == 3
    # no thread is involved: closing the generator is enough
    gen2 = generate_takes(TakeSpec(span=TimeSpan(0, 1.0), steps=50, seed=0), model)
    next(gen2)
    gen2.close()
    assert threading.active_count() >= 1


def test_cfg_scale_one_equals_conditional(model: TriErgonModel) -> None:
    from triergon_studio.engine.sampling import cfg_denoiser

    net = model.net
    cond = Conditions(
        text_emb=torch.randn(1, 4, 64),
        lufs=torch.rand(1, 2, 30),
        seconds_start=torch.zeros(1),
        seconds_total=torch.full((1,), 5.0),
    )
    with torch.inference_mode():
        ct = net.condition(cond)
        ck, uk = net.model_kwargs(ct), net.model_kwargs(ct.unconditional())
        x, sigma = torch.randn(1, 8, 20), torch.full((1,), 2.0)
        torch.testing.assert_close(
            cfg_denoiser(net.denoise_v, ck, uk, 1.0)(x, sigma),
            cfg_denoiser(net.denoise_v, ck, ck, 1.0)(x, sigma),
        )
        t = torch.atan(sigma) * 2 / torch.pi
        v_c = net.denoise_v(x * (1 / (sigma**2 + 1).sqrt()), t, **ck)
        v_u = net.denoise_v(x * (1 / (sigma**2 + 1).sqrt()), t, **uk)
        assert not torch.allclose(v_c, v_u)
        d7 = cfg_denoiser(net.denoise_v, ck, uk, 7.0)(x, sigma)
        c_skip, c_out = 1 / (sigma**2 + 1), -sigma / (sigma**2 + 1).sqrt()
        torch.testing.assert_close(d7, x * c_skip + (v_u + 7.0 * (v_c - v_u)) * c_out, atol=1e-4, rtol=1e-4)


def test_the_curves_own_cfg_weight(model: TriErgonModel) -> None:
    """``sampling.curve_cfg``: an extra DiT pass a step on the condition without the curve, only with a curve."""
    calls: list[int] = []
    real = model.net.denoise_v

    def counted(x: torch.Tensor, *a: Any, **kw: Any) -> torch.Tensor:
        calls.append(x.shape[0])
        return real(x, *a, **kw)

    sampling = model.net.cfg.sampling
    curve = _curve(np.linspace(-40.0, -10.0, 6), 1.0)
    try:
        model.net.denoise_v = counted  # type: ignore[method-assign]
        plain = _gen(model, duration=1.0, curves=curve)[0].audio
        assert set(calls) == {2}  # the batched CFG pass alone
        sampling.curve_cfg = -0.5
        calls.clear()
        weighted = _gen(model, duration=1.0, curves=curve)[0].audio
        assert calls.count(1) == calls.count(2) > 0  # one more pass of batch 1 a step
        assert not np.allclose(weighted, plain, atol=1e-6)
        calls.clear()
        no_curve = _gen(model, duration=1.0)[0].audio
        assert set(calls) == {2}  # without a curve there is nothing to weigh
        sampling.curve_cfg = 0.0
        assert np.array_equal(no_curve, _gen(model, duration=1.0)[0].audio)
    finally:
        sampling.curve_cfg = 0.0
        del model.net.denoise_v


def test_all_task_ids_through_the_use_case(model: TriErgonModel) -> None:
    rng = np.random.default_rng(0)
    outs = {}
    for text, audio, video in itertools.product([False, True], repeat=3):
        pre = {
            k: rng.standard_normal((4, 64)).astype(np.float32)
            for k, on in (("text", text), ("audio", audio), ("video", video))
            if on
        }
        (take,) = _gen(model, pre, duration=0.5, steps=2)
        tid = 4 * text + 2 * audio + video
        assert take.record["metadata"]["task_id"] == tid
        outs[tid] = take.audio
    assert all(not np.allclose(outs[0], outs[k]) for k in range(1, 8))


def test_negative_prompt_changes_the_unconditional_half(model: TriErgonModel) -> None:
    plain = _gen(model, duration=0.5, text="door slam", cfg=4.0)[0]
    neg = _gen(model, duration=0.5, text="door slam", negative_text="music", cfg=4.0)[0]
    assert not np.allclose(plain.audio, neg.audio)
    assert neg.record["prompts"]["negative_text"] == "music"
    # at CFG 1 only the conditional half runs: the negative prompt has no effect
    one = _gen(model, duration=0.5, text="door slam", cfg=1.0)[0]
    one_neg = _gen(model, duration=0.5, text="door slam", negative_text="music", cfg=1.0)[0]
    np.testing.assert_allclose(one.audio, one_neg.audio, atol=1e-6)


def test_prompts_without_encoders_fail_clearly(tmp_path: Path) -> None:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.triergon import build_model

    bare = TriErgonModel(build_model(get_preset("tiny"), "cpu", build_encoders=False))
    with pytest.raises(ModelError, match="no prompt encoders"):
        _gen(bare, duration=0.5, text="door slam")
    video = VideoSource.from_probe(_probe(make_video(tmp_path / "v.mp4", 12, 6)))
    with pytest.raises(ModelError, match="no LUFS predictor"):
        _gen(bare, span=TimeSpan(0, 2.0), video=video, curve_method="t_lufs", use_video=False)
    with pytest.raises(ModelError, match="time span"):
        _gen(bare, duration=0.0)


def _probe(path: Path) -> Any:
    from triergon_studio.video.probe import probe

    return probe(path)


def test_text_audio_video_prompts_through_the_encoders(model: TriErgonModel, tmp_path: Path) -> None:
    import soundfile as sf

    rng = np.random.default_rng(1)
    ref = tmp_path / "ref.wav"
    sf.write(ref, (0.1 * rng.standard_normal((22050, 1))).astype(np.float32), 22050)  # mono 22.05 kHz
    video = VideoSource.from_probe(_probe(make_video(tmp_path / "v.mp4", 24, 12, size=(64, 40))))
    (take,) = _gen(
        model,
        span=TimeSpan(0, 2.0),
        video=video,
        text="glass bottle crushed underfoot",
        reference=AudioClip(str(ref), 0.1, 0.4),
        curve_method="t_lufs",
    )
    assert take.record["metadata"]["task_id"] == 7 and take.record["metadata"]["curves"] == "predicted"
    (no_video,) = _gen(
        model, span=TimeSpan(0, 2.0), video=video, text="glass bottle crushed underfoot", use_video=False
    )
    assert no_video.record["metadata"]["task_id"] == 4
    assert not np.allclose(take.audio, no_video.audio)


def test_video_span_prompt_and_length(model: TriErgonModel, shared_media: Path) -> None:
    video = VideoSource.from_probe(_probe(Path(shared_media) / "car-detection.mp4"))
    (take,) = _gen(model, span=TimeSpan(2.0, 3.5), video=video, steps=2, curve_method="t_lufs")
    assert take.audio.shape == (round(1.5 * SR), 2)
    assert take.record["metadata"]["task_id"] == 1 and take.record["settings"]["span"] == [2.0, 3.5]


def test_curves_change_the_output(model: TriErgonModel) -> None:
    loud = _gen(model, duration=1.0, curves=_curve(-10.0, 1.0))[0].audio
    quiet = _gen(model, duration=1.0, curves=_curve(-60.0, 1.0))[0].audio
    assert not np.allclose(loud, quiet)


def test_curves_that_do_not_cover_the_span_are_refused(model: TriErgonModel) -> None:
    with pytest.raises(ModelError, match="curves last 1.00 s"):
        _gen(model, duration=3.0, curves=_curve(-20.0, 1.0))


def _write(tmp_path: Path, model: Any, name: str, **kw: Any) -> Any:
    kw.setdefault("steps", 3)
    (rec,) = run_to_end(make_takes(TakeSpec(**kw), model, [tmp_path / name]))
    return rec


def test_region_regeneration_keeps_outside_and_samples_a_small_window(
    model: TriErgonModel, tmp_path: Path
) -> None:
    from triergon_studio.audio.io import read_audio

    base = _write(tmp_path, model, "base.wav", span=TimeSpan(10.0, 30.0), seed=1)
    old, _ = read_audio(base.path)
    region = RegionSource(str(base.path), 10.0, 21.2, 22.5)
    rec = _write(tmp_path, model, "regen.wav", span=TimeSpan(10.0, 30.0), seed=9, region=region)
    new, _ = read_audio(rec.path)
    a, b = round(11.2 * SR), round(12.5 * SR)
    assert new.shape == old.shape
    np.testing.assert_array_equal(new[:a], old[:a])
    np.testing.assert_array_equal(new[b:], old[b:])
    xf = round(0.05 * SR)
    assert not np.allclose(new[a + xf : b - xf], old[a + xf : b - xf])
    lo, hi = rec.record["metadata"]["window_s"]
    assert hi - lo < 1.3 + 2 * 2.0 + 0.2  # the region plus its context, not the whole 20 s take
    with pytest.raises(ModelError, match="outside the take"):
        _write(
            tmp_path,
            model,
            "bad.wav",
            span=TimeSpan(10.0, 30.0),
            region=RegionSource(str(base.path), 10.0, 25.0, 40.0),
        )


def test_equal_power_crossfade() -> None:
    a = np.ones((1000, 2), np.float32)
    out = equal_power_crossfade(a, a)
    assert out[0, 0] == pytest.approx(1.0, abs=2e-3) and out.max() <= np.sqrt(2) + 1e-6
    fade = equal_power_crossfade(a, np.zeros((1000, 2), np.float32))
    assert fade[0, 0] > 0.99 and fade[-1, 0] < 0.01


def test_picture_length_and_span_in_video_time(model: TriErgonModel) -> None:
    from triergon_studio.core.timecode import picture_samples

    fps = Fraction(30000, 1001)
    video = VideoSource("unused.mp4", 47, 30000, 1001)
    (take,) = _gen(model, span=TimeSpan(0, video.duration_s), video=video, use_video=False)
    assert len(take.audio) == picture_samples(47, fps, SR)
    # a curve covering the whole video is cut from the span start: a loud second half vs a quiet one
    long = VideoSource("unused.mp4", 250, 25)
    values = np.full((2, 60), -60.0)
    values[:, 30:] = -6.0
    curve = LoudnessCurve(values[0], values[1], 10.0)
    kw: dict[str, Any] = {"video": long, "use_video": False, "steps": 2, "seed": 2, "curves": curve}
    late = _gen(model, span=TimeSpan(6.0, 8.0), **kw)[0]
    early = _gen(model, span=TimeSpan(1.0, 3.0), **kw)[0]
    loud = _gen(model, duration=2.0, curves=_curve(-6.0, 2.0), steps=2, seed=2)[0]
    np.testing.assert_allclose(late.audio, loud.audio, atol=1e-5)
    assert not np.allclose(early.audio, loud.audio)


def test_reduced_precision_generation() -> None:
    from triergon_studio.takes import load_model

    m = load_model("tiny-random", "cpu", torch.bfloat16)
    assert isinstance(m, TriErgonModel)
    assert m.net.dit.transformer.project_in.weight.dtype == torch.bfloat16
    assert m.net.encoders is not None and next(m.net.encoders.parameters()).dtype == torch.float32
    (take,) = _gen(m, duration=0.7, steps=2, seed=1, text="a door", curves=_curve(-20.0, 0.7))
    assert take.audio.dtype == np.float32 and take.audio.shape == (round(0.7 * SR), 2)
    assert np.isfinite(take.audio).all()


def test_short_window_model_chunks_and_regenerates_inside_a_window(tmp_path: Path) -> None:
    """A model whose window is 3 s: 8 s comes in overlapping chunks, and a region late in a long take is
    regenerated inside a window that does not start at 0."""
    net = random_model("tiny", seed=0)
    net.cfg = dataclasses.replace(net.cfg, max_duration_s=3.0)
    m = TriErgonModel(net)
    plan = plan_chunks(m, 8 * SR)
    assert len(plan.starts) >= 3 and plan.starts[1] == plan.chunk_frames - plan.overlap_frames
    base = _write(tmp_path, m, "t.wav", span=TimeSpan(0, 8.0), steps=2, seed=4)
    assert base.metadata["chunks"] == len(plan.starts)
    rec = _write(
        tmp_path,
        m,
        "r.wav",
        span=TimeSpan(0, 8.0),
        steps=2,
        seed=1,
        region=RegionSource(str(base.path), 0.0, 6.0, 6.8),
    )
    from triergon_studio.audio.io import read_audio

    old, new = read_audio(base.path)[0], read_audio(rec.path)[0]
    a, b = 6 * SR, round(6.8 * SR)
    np.testing.assert_array_equal(new[:a], old[:a])
    np.testing.assert_array_equal(new[b:], old[b:])
    assert not np.allclose(new[a:b], old[a:b])
    with pytest.raises(ModelError, match="longer than the model's"):
        _write(
            tmp_path, m, "x.wav", span=TimeSpan(0, 8.0), region=RegionSource(str(base.path), 0.0, 1.0, 7.0)
        )


def test_predict_curves_for_the_ui(model: TriErgonModel, shared_media: Path) -> None:
    curve = predict_curves(model, str(Path(shared_media) / "car-detection.mp4"))
    assert curve.rate_hz == 6.0 and curve.duration_s == pytest.approx(30.16, abs=0.01)
    assert len(curve.left) == len(curve.right) >= 180
    assert np.all(curve.left >= -70.0) and np.all(curve.left <= 0.0)


def test_init_audio_pulls_the_take_towards_it(model: TriErgonModel, tmp_path: Path) -> None:
    """Audio-to-audio: at a low noise level the sampled latent stays near the init latent; the use case records
    the level."""
    from triergon_studio.engine.families.base import Settings, TakeInputs
    from triergon_studio.engine.sampler_step import drive

    inputs = TakeInputs(n_samples=SR, duration_s=1.0, start_s=0.0)
    cond = model.condition(inputs, Settings(3, 4.0, "dpmpp-2m", "cfg", 0, 0.05, "off"))
    init = torch.randn(1, model.latent_channels, 22, generator=torch.Generator().manual_seed(3))

    def sample(level: float, with_init: bool) -> torch.Tensor:
        st = Settings(3, 4.0, "dpmpp-2m", "cfg", 5, level, "off")
        gen = torch.Generator().manual_seed(5)
        return drive(model.sample(cond, 22, st, gen, init=init if with_init else None))  # type: ignore[no-any-return]

    near, far = sample(0.05, True), sample(0.05, False)
    assert (near - init).abs().mean() < 0.5 * (far - init).abs().mean()
    assert (sample(0.9, True) - init).abs().mean() > (near - init).abs().mean()
    base = _write(tmp_path, model, "base.wav", span=TimeSpan(0, 1.0), seed=1)
    rec = _write(
        tmp_path,
        model,
        "near.wav",
        span=TimeSpan(0, 1.0),
        seed=5,
        init_audio=AudioClip(str(base.path)),
        init_noise=0.05,
    )
    assert rec.record["settings"]["init_noise"] == 0.05
    assert rec.record["prompts"]["init_audio"]["path"] == str(base.path.resolve())
