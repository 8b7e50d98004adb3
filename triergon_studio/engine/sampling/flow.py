"""Samplers for rectified-flow models in ``t`` (x_t = (1 - t) x0 + t noise; the network predicts the velocity
``noise - x0``), written as step generators: each yields a ``SamplerStep`` after every step and continues from
``step.x`` as the consumer left it (curve guidance may replace it).

- ``pingpong``: Stable Audio 3's post-trained (``rf_denoiser``) sampler: denoise fully, then re-noise to the
  next ``t`` with fresh noise.
- ``euler``: first-order ODE steps (the base ``rectified_flow`` checkpoints' default).
- ``dpmpp``: DPM-Solver++(2M) for flows.

The timestep schedule is upstream's ``build_schedule`` with its distribution shifts (Stability-AI/
stable-audio-3 ``inference/sampling.py`` and ``inference/distribution_shift.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import torch
from torch import Tensor

from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x [B, C, T], t [B]) -> v
Inpaint = tuple[Tensor, Tensor]  # (known latents, mask == 1 where generated)
FLOW_SAMPLERS = ("pingpong", "euler", "dpmpp")


def shift_schedule(t: Tensor, shift: dict[str, Any], seq_len: int) -> Tensor:
    """Warp a linear ``t`` grid by upstream's sampling distribution shift (``type``: logsnr, flux, full, none)."""
    kind = shift.get("type", "full")
    seq_len = max(int(seq_len), 1)
    if kind == "none":
        return t
    if kind == "logsnr":
        anchor_len = float(shift.get("anchor_length", 2000))
        start = float(shift.get("anchor_logsnr", -6.2)) - float(shift.get("rate", 1.0)) * math.log2(
            seq_len / anchor_len
        )
        end = float(shift.get("logsnr_end", 2.0))
        out = torch.sigmoid(-(end - t * (end - start)))
        out = torch.where(t <= 0, torch.zeros_like(out), out)
        return torch.where(t >= 1, torch.ones_like(out), out)
    if kind == "flux":
        lo, hi = int(shift.get("min_length", 256)), int(shift.get("max_length", 4096))
        a_lo = math.log(max(float(shift.get("alpha_min", 1.0)), 1e-8))
        a_hi = math.log(max(float(shift.get("alpha_max", 1.0)), 1e-8))
        span = math.log(hi) - math.log(lo) or 1e-8
        frac = (math.log(min(max(seq_len, lo), hi)) - math.log(lo)) / span
        alpha = math.exp(a_lo + frac * (a_hi - a_lo))
        return alpha * t / (1 + (alpha - 1.0) * t)
    if kind == "full":
        base, mx = float(shift.get("base_shift", 0.5)), float(shift.get("max_shift", 1.15))
        lo, hi = int(shift.get("min_length", 256)), int(shift.get("max_length", 4096))
        s = min(max(seq_len, lo), hi)
        mu = -(base + (mx - base) * (s - lo) / (hi - lo))
        out = 1 - math.exp(mu) / (math.exp(mu) + (1 / (1 - t) - 1))
        if shift.get("use_sine", False):
            out = torch.sin(out * math.pi / 2)
        return out
    raise ModelError(f"unknown sampling distribution shift {kind!r}")


def build_schedule(steps: int, sigma_max: float, shift: dict[str, Any] | None, seq_len: int) -> Tensor:
    """``steps + 1`` values of ``t`` from ``sigma_max`` down to 0 (float32), the first kept at ``sigma_max``."""
    if steps < 1:
        raise ModelError(f"steps must be at least 1 (got {steps})")
    if not 0.0 < sigma_max <= 1.0:
        raise ModelError(f"the starting noise level must be in (0, 1] (got {sigma_max})")
    t = torch.linspace(sigma_max, 0, steps + 1)
    if shift is not None:
        t = shift_schedule(t, shift, seq_len)
        t[0] = sigma_max
    return t


def _paste(x: Tensor, inpaint: Inpaint | None) -> Tensor:
    if inpaint is None:
        return x
    known, mask = inpaint
    m = mask.to(x.dtype)
    return known.to(x.dtype) * (1 - m) + x * m


def _ones(x: Tensor, t: Tensor) -> Tensor:
    return t.to(x.dtype) * torch.ones(x.shape[0], dtype=x.dtype, device=x.device)


def steps_pingpong(
    velocity: Velocity,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
) -> Generator[SamplerStep, None, Tensor]:
    """Ping-pong: x0 = x - t v, then x = (1 - t') x0 + t' noise (fresh noise every step)."""
    n = len(sigmas) - 1
    for i in range(n):
        t, t_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        denoised = x - t * velocity(x, _ones(x, t))
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = (1 - t_next) * denoised + t_next * noise
        step = SamplerStep(i + 1, n, x, _paste(denoised, inpaint), float(t_next))
        yield step
        x = step.x
    return _paste(x, inpaint)


def steps_euler(
    velocity: Velocity,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
) -> Generator[SamplerStep, None, Tensor]:
    """Euler steps along the velocity: x += (t' - t) v."""
    del generator  # deterministic
    n = len(sigmas) - 1
    for i in range(n):
        t, t_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        v = velocity(x, _ones(x, t))
        denoised = x - t * v
        x = x + (t_next - t) * v
        step = SamplerStep(i + 1, n, x, _paste(denoised, inpaint), float(t_next))
        yield step
        x = step.x
    return _paste(x, inpaint)


def steps_dpmpp(
    velocity: Velocity,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
) -> Generator[SamplerStep, None, Tensor]:
    """DPM-Solver++(2M) in the flow's log-SNR, first order on the first and last steps (as upstream)."""
    del generator

    def log_snr(t: Tensor) -> Tensor:
        return ((1 - t).clamp(min=1e-10) / t.clamp(min=1e-10)).log()

    n = len(sigmas) - 1
    old: Tensor | None = None
    for i in range(n):
        t, t_next = sigmas[i], sigmas[i + 1]
        denoised = x - t * velocity(x, t.expand(x.shape[0]))
        coeff = (t_next - t) / ((1 - t_next).clamp(min=1e-10) * t.clamp(min=1e-10))
        d = denoised
        if old is not None and bool(t_next != 0):
            h = log_snr(t_next) - log_snr(t)
            r = (log_snr(t) - log_snr(sigmas[i - 1])) / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
        x = (t_next / t.clamp(min=1e-10)) * x - (1 - t_next) * coeff * d
        old = denoised
        step = SamplerStep(i + 1, n, x, _paste(denoised, inpaint), float(t_next))
        yield step
        x = step.x
    return _paste(x, inpaint)


def flow_sampler(name: str) -> Callable[..., Generator[SamplerStep, None, Tensor]]:
    table = {"pingpong": steps_pingpong, "euler": steps_euler, "dpmpp": steps_dpmpp}
    if name not in table:
        raise ModelError(
            f"unknown sampler {name!r} for a flow model (choose from {', '.join(FLOW_SAMPLERS)})"
        )
    return table[name]
