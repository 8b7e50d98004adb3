"""The merged rectified-flow loop (``engine.sampling.flow.steps_flow``): the values the two loops it replaced
gave with inpainting and a steering consumer (recorded at 34b0370 by tools/record_flow_golden.py), what each
inpainting rule keeps, its errors, and the grad mode a consumer sees between steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tools.record_flow_golden import SHIFT, consume, inputs, toy_velocity
from triergon_studio.engine.sampler_step import drive
from triergon_studio.engine.sampling.flow import (
    FLOW_SAMPLERS,
    build_schedule,
    logsnr_schedule,
    steps_flow,
)
from triergon_studio.errors import ModelError

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "flow_golden.npz"


CASES = [
    (rule, sampler, steer)
    for steer in (False, True)
    for rule, samplers in (("paste", FLOW_SAMPLERS), ("project", ("pingpong", "euler")))
    for sampler in samplers
]


@pytest.mark.parametrize(("rule", "sampler", "steer"), CASES)
def test_the_merged_loop_gives_what_the_two_loops_gave(rule: str, sampler: str, steer: bool) -> None:
    x, known, mask = inputs()
    ts = build_schedule(6, 0.9, SHIFT, 16) if rule == "paste" else logsnr_schedule(6, 0.9)
    gen = torch.Generator().manual_seed(5)
    run = steps_flow(
        toy_velocity, x, ts, sampler=sampler, generator=gen, inpaint=(known, mask), inpaint_rule=rule
    )
    want = np.load(GOLDEN)[f"{rule}/{sampler}/{'steered' if steer else 'plain'}"]
    np.testing.assert_allclose(consume(run, steer), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("sampler", FLOW_SAMPLERS)
def test_what_each_inpainting_rule_keeps(sampler: str) -> None:
    x, known, mask = inputs()
    keep = mask == 0
    ts = logsnr_schedule(5, 1.0)
    for rule in ("paste", "project"):
        run = steps_flow(
            toy_velocity,
            x,
            ts,
            sampler=sampler,
            generator=torch.Generator().manual_seed(1),
            inpaint=(known, mask),
            inpaint_rule=rule,
        )
        states, shown = [], []
        while True:
            try:
                st = next(run)
            except StopIteration as stop:
                out = stop.value
                break
            states.append(st.x[keep])
            shown.append(st.denoised[keep])
        assert torch.equal(out[keep], known[keep])  # the known region comes back exactly
        assert not torch.allclose(out[~keep], known[~keep], atol=0.1)  # and only that region
        if rule == "paste":  # the state is the model's own; what it shows has the known latents
            assert all(torch.equal(s, known[keep]) for s in shown)
            assert not torch.allclose(states[0], known[keep], atol=0.1)
        else:  # the state's known region is the known latents at the state's noise level, exact at 0
            assert torch.equal(states[-1], known[keep])
            assert not torch.allclose(states[0], known[keep], atol=0.1)


def test_bad_sampler_or_missing_inpainting_rule() -> None:
    x, known, mask = inputs()
    ts = logsnr_schedule(3)
    with pytest.raises(ModelError, match="unknown sampler 'heun'.*pingpong"):
        next(steps_flow(toy_velocity, x, ts, sampler="heun"))
    with pytest.raises(ModelError, match="inpainting rule None.*paste, project"):
        next(steps_flow(toy_velocity, x, ts, sampler="euler", inpaint=(known, mask)))
    # without inpainting no rule is needed
    assert drive(steps_flow(toy_velocity, x, ts, sampler="euler")).shape == x.shape


def test_the_consumer_has_gradients_between_steps_and_the_network_does_not() -> None:
    modes: list[bool] = []

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        modes.append(torch.is_grad_enabled())
        return toy_velocity(x, t)

    x, _, _ = inputs()
    run = steps_flow(velocity, x, logsnr_schedule(3), sampler="pingpong", generator=torch.Generator())
    between: list[bool] = []
    for st in run:
        between.append(torch.is_grad_enabled())
        assert not st.x.requires_grad
    assert modes == [False] * 3 and between == [True] * 3
