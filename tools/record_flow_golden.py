"""Record what the two rectified-flow loops gave before they were merged into
``engine.sampling.flow.steps_flow``, so the suite can prove the merged loop gives the same values.

The family goldens (tests/fixtures/sa3_golden.npz, tests/fixtures/sao/) pin the loops without inpainting;
this pins their inpainting rules (Stable Audio 3 pastes, Stable Audio Open Small projects) and a consumer
replacing ``x`` between steps, on a toy velocity.

Run once, with the package of commit 34b0370 (the two loops) first on the path, from the repo root:
    git archive 34b0370 triergon_studio | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old .venv/bin/python tools/record_flow_golden.py tests/fixtures/flow_golden.npz
The toy velocity, the inputs and the consumer are also what tests/engine/test_flow_sampler.py runs.
"""

from __future__ import annotations

import sys
from collections.abc import Generator

import numpy as np
import torch

from triergon_studio.engine.sampler_step import SamplerStep

SHIFT = {"type": "logsnr", "rate": 0.0, "anchor_logsnr": -6.2, "logsnr_end": 2.0}


def toy_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # a smooth nonlinear velocity, elementwise (no reduction whose order a thread count could change)
    return torch.tanh(x * 0.8 - t[:, None, None] * 1.1) * 0.9 + 0.2 * x


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(21)
    x = torch.randn(1, 4, 16, generator=g)
    known = torch.randn(1, 4, 16, generator=g)
    mask = torch.zeros(1, 1, 16)
    mask[..., 5:11] = 1
    return x, known, mask.expand(1, 4, 16).contiguous()


def consume(steps: Generator[SamplerStep, None, torch.Tensor], steer: bool) -> np.ndarray:
    """The result, preceded by every yielded ``x`` and ``denoised``; ``steer`` replaces ``x`` each step."""
    seen: list[torch.Tensor] = []
    while True:
        try:
            st = next(steps)
        except StopIteration as stop:
            return torch.stack([*seen, stop.value]).numpy()
        seen += [st.x.clone(), st.denoised.clone()]
        if steer:
            st.x = st.x * 0.95 + 0.02


def main(out: str) -> None:
    # the two loops, as they were at 34b0370 (these names are gone since the merge)
    from triergon_studio.engine.families.sao_sampling import flow_schedule, steps_flow
    from triergon_studio.engine.sampling.flow import build_schedule, flow_sampler

    data: dict[str, np.ndarray] = {}
    for steer in (False, True):
        tag = "steered" if steer else "plain"
        for sampler in ("pingpong", "euler", "dpmpp"):
            x, known, mask = inputs()
            sigmas = build_schedule(6, 0.9, SHIFT, 16)
            gen = torch.Generator().manual_seed(5)
            run = flow_sampler(sampler)(toy_velocity, x, sigmas, generator=gen, inpaint=(known, mask))
            data[f"paste/{sampler}/{tag}"] = consume(run, steer)
        for sampler in ("pingpong", "euler"):
            x, known, mask = inputs()
            ts = flow_schedule(6, 0.9)
            gen = torch.Generator().manual_seed(5)
            run = steps_flow(toy_velocity, x, ts, sampler=sampler, generator=gen, inpaint=(known, mask))
            data[f"project/{sampler}/{tag}"] = consume(run, steer)
    np.savez_compressed(out, **data)
    print(f"wrote {out}: {len(data)} arrays")


if __name__ == "__main__":
    main(sys.argv[1])
