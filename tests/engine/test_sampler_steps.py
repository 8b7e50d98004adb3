"""The step-generator samplers give exactly what the callback samplers gave before the rewrite (values
recorded at 6e75751 by tools/record_sampler_golden.py), and a consumer can steer them between steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from triergon_studio.engine.sampling import (
    SAMPLERS,
    STEP_SAMPLERS,
    VDenoiser,
    get_step_sampler,
    polyexponential_sigmas,
)
from triergon_studio.errors import CancelledError

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "sampler_golden.npz"


def toy_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x * 0.7 + t[:, None, None] * 1.3) * 0.9 - 0.1 * x


@pytest.mark.parametrize("name", sorted(STEP_SAMPLERS))
def test_step_samplers_match_values_recorded_before_the_rewrite(name: str) -> None:
    golden = np.load(GOLDEN)
    sigmas = polyexponential_sigmas(12, 0.3, 500.0)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 4, 16, generator=g) * sigmas[0]
    known = torch.randn(2, 4, 16, generator=g)
    mask = torch.zeros(2, 4, 16)
    mask[..., 5:11] = 1
    gen = STEP_SAMPLERS[name](VDenoiser(toy_model), x.clone(), sigmas, generator=g)
    steps = 0
    while True:
        try:
            st = next(gen)
            steps += 1
            assert st.step == steps and st.total == 12
        except StopIteration as stop:
            out = stop.value
            break
    np.testing.assert_allclose(out.numpy(), golden[f"toy/{name}"], rtol=0, atol=1e-6)
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 4, 16, generator=g) * sigmas[0]
    out = SAMPLERS[name](VDenoiser(toy_model), x, sigmas, generator=g, inpaint=(known, mask))
    np.testing.assert_allclose(out.numpy(), golden[f"toy_inpaint/{name}"], rtol=0, atol=1e-6)


def test_a_consumer_can_replace_x_between_steps() -> None:
    sigmas = polyexponential_sigmas(6, 0.3, 500.0)
    x = torch.randn(1, 2, 8, generator=torch.Generator().manual_seed(0)) * sigmas[0]
    plain = SAMPLERS["euler"](VDenoiser(toy_model), x.clone(), sigmas)
    gen = get_step_sampler("euler")(VDenoiser(toy_model), x.clone(), sigmas)
    out = None
    while out is None:
        try:
            st = next(gen)
            if st.step == st.total - 1:
                st.x = st.x + 5.0  # a push before the last step, at the lowest noise level
        except StopIteration as stop:
            out = stop.value
    assert (out - plain).abs().max() > 0.1


def test_cancel_lands_within_one_step() -> None:
    sigmas = polyexponential_sigmas(10, 0.3, 500.0)
    x = torch.randn(1, 2, 8) * sigmas[0]
    seen: list[int] = []
    flag = {"stop": False}

    def cb(i: int, n: int, d: torch.Tensor) -> None:
        seen.append(i)
        flag["stop"] = i == 3

    with pytest.raises(CancelledError):
        SAMPLERS["dpmpp-2m"](VDenoiser(toy_model), x, sigmas, callback=cb, cancel=lambda: flag["stop"])
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("name", sorted(STEP_SAMPLERS))
def test_make_takes_matches_the_old_pipeline_sample_for_sample(name: str, tmp_path: Path) -> None:
    from triergon_studio.audio.io import read_audio
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.takes import load_model, make_takes, run_to_end

    golden = np.load(GOLDEN)
    spec = TakeSpec(span=TimeSpan(0, 0.25), text="a door slams", steps=5, cfg=3.0, seed=7, sampler=name)
    (rec,) = run_to_end(make_takes(spec, load_model("tiny-random"), [tmp_path / "t.wav"]))
    audio, _ = read_audio(rec.path)
    np.testing.assert_allclose(audio, golden[f"tiny/{name}"], rtol=0, atol=1e-5)  # float rounding only
