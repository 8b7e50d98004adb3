"""Record sampler outputs before the step-generator rewrite (issue 10), so the suite can prove the new
samplers give identical results for the same seed.

Run once, at commit 6e75751 (callback samplers), from the repo root:
    .venv/bin/python tools/record_sampler_golden.py tests/fixtures/sampler_golden.npz
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from triergon_studio.engine.pipeline import GenerationRequest, generate, run_to_end

from triergon_studio.engine.sampling import SAMPLERS, VDenoiser, polyexponential_sigmas
from triergon_studio.engine.weights import load_model


def toy_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # a smooth nonlinear v-model, deterministic and cheap
    return torch.tanh(x * 0.7 + t[:, None, None] * 1.3) * 0.9 - 0.1 * x


def main(out: str) -> None:
    data: dict[str, np.ndarray] = {}
    sigmas = polyexponential_sigmas(12, 0.3, 500.0)
    for name, sampler in SAMPLERS.items():
        g = torch.Generator().manual_seed(11)
        x = torch.randn(2, 4, 16, generator=g) * sigmas[0]
        known = torch.randn(2, 4, 16, generator=g)
        mask = torch.zeros(2, 4, 16)
        mask[..., 5:11] = 1
        data[f"toy/{name}"] = sampler(VDenoiser(toy_model), x.clone(), sigmas, generator=g).numpy()
        g = torch.Generator().manual_seed(12)
        x = torch.randn(2, 4, 16, generator=g) * sigmas[0]
        data[f"toy_inpaint/{name}"] = sampler(
            VDenoiser(toy_model), x, sigmas, generator=g, inpaint=(known, mask)
        ).numpy()
    model = load_model("tiny-random")
    for name in SAMPLERS:
        req = GenerationRequest(duration_s=0.25, steps=5, cfg=3.0, seed=7, sampler=name, text="a door slams")
        data[f"tiny/{name}"] = run_to_end(generate(req, model)).audio
    np.savez_compressed(out, **data)
    print(f"wrote {out}: {len(data)} arrays")


if __name__ == "__main__":
    main(sys.argv[1])
