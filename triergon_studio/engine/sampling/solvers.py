"""Samplers over a decreasing sigma schedule in k-diffusion's VE space (x = x0 + sigma noise).

Every sampler is a step generator, ``steps_<name>(denoiser, x, sigmas, *, generator, inpaint)``, that yields
a ``SamplerStep`` after each step and returns the final x0 estimate: ``x`` is the initial noise already
multiplied by ``sigmas[0]`` and ``sigmas`` ends with 0. The consumer may replace ``step.x`` before asking for
the next step (curve guidance); cancelling is not asking for the next step. ``sample_<name>(..., callback,
cancel)`` drives a step generator to the end for callers that want one call (``sampler_step.drive``). ``inpaint=(known_x0, mask)`` regenerates only
where ``mask == 1``: after each step the region where ``mask == 0`` is reset to ``known_x0`` noised to the
next sigma, so the known part ends exactly equal to ``known_x0``.

The update rules follow Karras et al. 2022 (Euler), Song et al. 2021 (DDIM), Lu et al. 2022
(DPM-Solver++(2M)) and k-diffusion's DPM-Solver++(3M) SDE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from triergon_studio.engine.sampler_step import SamplerStep, StepGenerator, drive
from triergon_studio.engine.sampling.denoiser import Denoiser
from triergon_studio.errors import ModelError

DEFAULT_STEPS = 100
DEFAULT_CFG = 7.0
DEFAULT_SAMPLER = "dpmpp-3m-sde"

Callback = Callable[[int, int, Tensor], None]
Cancel = Callable[[], bool] | Any  # a callable or anything with ``is_set()`` (threading.Event)
Inpaint = tuple[Tensor, Tensor]


class Sampler(Protocol):
    def __call__(
        self,
        denoiser: Denoiser,
        x: Tensor,
        sigmas: Tensor,
        *,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        cancel: Cancel | None = None,
        inpaint: Inpaint | None = None,
    ) -> Tensor: ...


class _Loop:
    """Shared bookkeeping: cancellation, noise, the inpainting projection and progress callbacks."""

    def __init__(
        self,
        x: Tensor,
        sigmas: Tensor,
        generator: torch.Generator | None,
        inpaint: Inpaint | None,
    ) -> None:
        if sigmas.ndim != 1 or sigmas.numel() < 2:
            raise ValueError("sigmas must be a 1-D schedule of at least two values ending in 0")
        self.sigmas = sigmas.to(device=x.device, dtype=torch.float64)
        self.total = sigmas.numel() - 1
        self.generator = generator
        self.known: Tensor | None = None
        self.keep: Tensor | None = None
        if inpaint is not None:
            known, mask = inpaint
            known = known.to(device=x.device, dtype=x.dtype)
            mask = mask.to(device=x.device, dtype=x.dtype)
            if known.shape != x.shape:
                raise ValueError(f"inpaint known_x0 shape {tuple(known.shape)} != x shape {tuple(x.shape)}")
            self.known, self.keep = known, (1 - mask).expand_as(x)

    def noise(self, like: Tensor) -> Tensor:
        return torch.randn(like.shape, generator=self.generator, device=like.device, dtype=like.dtype)

    def sigma(self, i: int) -> float:
        return float(self.sigmas[i])

    def project(self, x: Tensor, sigma: float) -> Tensor:
        """Put the known region back, noised to ``sigma`` with fresh noise."""
        if self.known is None or self.keep is None:
            return x
        target = self.known if sigma == 0 else self.known + self.noise(x) * sigma
        return torch.lerp(x, target, self.keep)

    def step(self, i: int, x: Tensor, denoised: Tensor) -> SamplerStep:
        return SamplerStep(i + 1, self.total, x, denoised, self.sigma(i + 1))


def _denoise(denoiser: Denoiser, x: Tensor, sigma: float) -> Tensor:
    dtype = torch.promote_types(x.dtype, torch.float32)
    return denoiser(x, torch.full((x.shape[0],), sigma, device=x.device, dtype=dtype))


@torch.no_grad()
def steps_euler(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
) -> StepGenerator:
    """First-order Euler on the probability-flow ODE dx/dsigma = (x - D(x)) / sigma."""
    loop = _Loop(x, sigmas, generator, inpaint)
    x = loop.project(x, loop.sigma(0))
    for i in range(loop.total):
        s, s_next = loop.sigma(i), loop.sigma(i + 1)
        denoised = _denoise(denoiser, x, s)
        x = x + (x - denoised) * ((s_next - s) / s)
        x = loop.project(x, s_next)
        st = loop.step(i, x, denoised)
        yield st
        x = st.x
    return x


@torch.no_grad()
def steps_ddim(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
    eta: float = 0.0,
) -> StepGenerator:
    """DDIM written in the variance-preserving form of the v-model (alpha^2 + sigma_vp^2 = 1).

    With eta = 0 (the default, deterministic) this is mathematically the Euler step above; eta > 0 adds
    DDIM's stochastic term, drawn from ``generator``.
    """
    loop = _Loop(x, sigmas, generator, inpaint)
    x = loop.project(x, loop.sigma(0))
    for i in range(loop.total):
        s, s_next = loop.sigma(i), loop.sigma(i + 1)
        denoised = _denoise(denoiser, x, s)
        if s_next == 0:
            x = denoised
        else:
            # VE sigma -> VP (alpha, sigma): alpha = 1/sqrt(1+s^2), sigma_vp = s * alpha.
            a, a_next = 1 / math.sqrt(1 + s * s), 1 / math.sqrt(1 + s_next * s_next)
            sv, sv_next = s * a, s_next * a_next
            eps = (x - denoised) / s
            # DDIM's sigma_t(eta) with abar = alpha^2: sqrt((1-abar')/(1-abar)) sqrt(1 - abar/abar').
            std = eta * (sv_next / sv) * math.sqrt(max(1 - (a / a_next) ** 2, 0.0))
            dir_coef = math.sqrt(max(sv_next**2 - std**2, 0.0))
            x_vp = a_next * denoised + dir_coef * eps
            if std > 0:
                x_vp = x_vp + std * loop.noise(x)
            x = x_vp / a_next
        x = loop.project(x, s_next)
        st = loop.step(i, x, denoised)
        yield st
        x = st.x
    return x


@torch.no_grad()
def steps_dpmpp_2m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
) -> StepGenerator:
    """DPM-Solver++(2M): second-order multistep in lambda = -log sigma, deterministic."""
    loop = _Loop(x, sigmas, generator, inpaint)
    x = loop.project(x, loop.sigma(0))
    old_denoised: Tensor | None = None
    h_last = 0.0
    for i in range(loop.total):
        s, s_next = loop.sigma(i), loop.sigma(i + 1)
        denoised = _denoise(denoiser, x, s)
        if s_next == 0:
            x = denoised
        else:
            h = math.log(s / s_next)
            d = denoised
            if old_denoised is not None:
                r = h_last / h
                d = denoised * (1 + 1 / (2 * r)) - old_denoised * (1 / (2 * r))
            x = x * (s_next / s) - d * math.expm1(-h)
            h_last = h
        old_denoised = denoised
        x = loop.project(x, s_next)
        st = loop.step(i, x, denoised)
        yield st
        x = st.x
    return x


@torch.no_grad()
def steps_dpmpp_3m_sde(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> StepGenerator:
    """DPM-Solver++(3M) SDE (k-diffusion's formulation, the Stable Audio Open default).

    The Brownian increments over a fixed schedule are independent, so each step's normalised increment is
    a standard Gaussian drawn from ``generator``: the same seed gives the same output.
    """
    loop = _Loop(x, sigmas, generator, inpaint)
    x = loop.project(x, loop.sigma(0))
    d_1: Tensor | None = None
    d_2: Tensor | None = None
    h_1: float | None = None
    h_2: float | None = None
    for i in range(loop.total):
        s, s_next = loop.sigma(i), loop.sigma(i + 1)
        denoised = _denoise(denoiser, x, s)
        if s_next == 0:
            x = denoised
        else:
            h = math.log(s / s_next)
            h_eta = h * (eta + 1)
            x = x * math.exp(-h_eta) - denoised * math.expm1(-h_eta)
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None and d_1 is not None and d_2 is not None and h_1 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - d_1) / r0
                d1_1 = (d_1 - d_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * (r0 / (r0 + r1))
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + d1 * phi_2 - d2 * phi_3
            elif h_1 is not None and d_1 is not None:
                x = x + (denoised - d_1) * (phi_2 / (h_1 / h))
            if eta:
                x = x + loop.noise(x) * (s_next * math.sqrt(-math.expm1(-2 * h * eta)) * s_noise)
            h_1, h_2 = h, h_1
        d_1, d_2 = denoised, d_1
        x = loop.project(x, s_next)
        st = loop.step(i, x, denoised)
        yield st
        x = st.x
    return x


def _driven(steps: Callable[..., StepGenerator]) -> Sampler:
    def sample(
        denoiser: Denoiser,
        x: Tensor,
        sigmas: Tensor,
        *,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        cancel: Cancel | None = None,
        inpaint: Inpaint | None = None,
        **options: Any,
    ) -> Tensor:
        result: Tensor = drive(
            steps(denoiser, x, sigmas, generator=generator, inpaint=inpaint, **options), callback, cancel
        )
        return result

    sample.__doc__ = steps.__doc__
    return sample


STEP_SAMPLERS: dict[str, Callable[..., StepGenerator]] = {
    "euler": steps_euler,
    "ddim": steps_ddim,
    "dpmpp-2m": steps_dpmpp_2m,
    "dpmpp-3m-sde": steps_dpmpp_3m_sde,
}
sample_euler = _driven(steps_euler)
sample_ddim = _driven(steps_ddim)
sample_dpmpp_2m = _driven(steps_dpmpp_2m)
sample_dpmpp_3m_sde = _driven(steps_dpmpp_3m_sde)
SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "ddim": sample_ddim,
    "dpmpp-2m": sample_dpmpp_2m,
    "dpmpp-3m-sde": sample_dpmpp_3m_sde,
}


def sampler_key(name: str) -> str:
    """The canonical name (``_`` and ``-`` are interchangeable); ModelError for an unknown one."""
    key = name.strip().lower().replace("_", "-")
    if key not in SAMPLERS:
        raise ModelError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return key


def get_sampler(name: str) -> Sampler:
    """Look a sampler up by its CLI/UI name."""
    return SAMPLERS[sampler_key(name)]


def get_step_sampler(name: str) -> Callable[..., StepGenerator]:
    return STEP_SAMPLERS[sampler_key(name)]
