"""TriErgon model: building every preset on meta, v-prediction, the frame-aligned loudness path, devices."""

from __future__ import annotations

import pytest
import torch

from triergon_studio.engine.config import PRESETS, get_preset
from triergon_studio.engine.device import (
    check_memory,
    estimate_memory,
    oom_guard,
    resolve_device,
    resolve_dtype,
)
from triergon_studio.engine.models.triergon import Conditions, build_model, curve_to_frames
from triergon_studio.engine.weights import randomize_
from triergon_studio.errors import ModelError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_on_meta(name: str) -> None:
    model = build_model(get_preset(name), "meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    counts = model.param_counts()
    assert counts["dit_params"] > 0 and counts["vae_params"] > 0


def test_denoise_v_shapes_and_condition_effects() -> None:
    cfg = get_preset("tiny")
    cfg.dit.lufs_mode = "tokens+frame"
    torch.manual_seed(0)
    model = build_model(cfg, "cpu", build_encoders=False)
    randomize_(model, 1)
    cond = Conditions(
        video_emb=torch.randn(2, 4, 64),
        lufs=torch.rand(2, 2, 60),
        seconds_start=torch.zeros(2),
        seconds_total=torch.tensor([10.0, 10.0]),
    )
    with torch.inference_mode():
        ct = model.condition(cond)
        kw = model.model_kwargs(ct)
        x, t = torch.randn(2, 8, 216), torch.tensor([0.2, 0.8])
        v = model.denoise_v(x, t, **kw)
        assert v.shape == x.shape
        other = dict(kw, frame_cond=kw["frame_cond"].flip(-1))
        assert not torch.allclose(v, model.denoise_v(x, t, **other))  # the frame path is live
        assert model.frame_condition(cond.lufs, 216).shape == (2, 2, 216)


def test_curve_to_frames_alignment() -> None:
    # a step at 5 s: frames whose centre is before 5 s - 1/12 s see 0, after 5 s + 1/12 s see 1
    curve = torch.zeros(1, 2, 60)
    curve[..., 30:] = 1.0
    rate = 44100 / 2048
    frames = curve_to_frames(curve, 216, rate)
    centres = (torch.arange(216) + 0.5) / rate
    assert torch.all(frames[0, 0, centres < 5 - 1 / 12] == 0)
    assert torch.all(frames[0, 0, centres > 5 + 1 / 12] == 1)
    # past the end the last value holds
    assert curve_to_frames(torch.ones(1, 2, 6), 100, rate)[0, 0, -1] == 1


def test_device_and_precision_choice() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None).type in ("cpu", "cuda", "mps")
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(ModelError, match="unsupported precision"):
        resolve_dtype("fp8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            resolve_device("cuda")


def test_memory_estimate_and_refusal() -> None:
    cfg = get_preset("tri-ergon-l")
    n = 1_213_383_682
    small = estimate_memory(cfg, n, 2, 10.0)
    big = estimate_memory(cfg, n, 2, 60.0)
    assert small.weights_bytes == 2 * n and big.activation_bytes > small.activation_bytes
    with pytest.raises(ModelError, match="GiB"):
        check_memory(cfg, 10**13, torch.device("cpu"), torch.float32, 60.0)


def test_oom_guard_turns_oom_into_model_error() -> None:
    with pytest.raises(ModelError, match="out of memory"), oom_guard("testing"):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    with pytest.raises(ValueError), oom_guard("testing"):
        raise ValueError("other")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tri_ergon_s_bf16_on_cuda() -> None:
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.engine.families.triergon import TriErgonModel
    from triergon_studio.takes import generate_takes, run_to_end

    model = build_model(get_preset("tri-ergon-s"), "cuda", dtype=torch.bfloat16, build_encoders=False)
    randomize_(model, 0)
    spec = TakeSpec(span=TimeSpan(0, 10.0), steps=4, cfg=7.0, seed=0)
    (take,) = run_to_end(generate_takes(spec, TriErgonModel(model)))
    assert take.audio.shape == (441000, 2) and next(model.dit.parameters()).dtype == torch.bfloat16
