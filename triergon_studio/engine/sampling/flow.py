"""The rectified-flow sampler in ``t`` (x_t = (1 - t) x0 + t noise; the network predicts the velocity
``noise - x0``) for Stable Audio 3 and Stable Audio Open Small, written as a step generator: it yields a
``SamplerStep`` after every step and continues from ``step.x`` as the consumer left it (curve guidance may
replace it).

``steps_flow`` is one loop; what the two families do differently is a parameter: the velocity function (each
family's CFG/APG call), the times (``build_schedule``: Stable Audio 3's schedule with upstream's distribution
shifts, Stability-AI/stable-audio-3 ``inference/sampling.py`` and ``inference/distribution_shift.py``;
``logsnr_schedule``: stable-audio-tools' ``sample_rf``), the sampler (``pingpong``, ``euler``, ``dpmpp``)
and the inpainting rule (``paste`` or ``project``).
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
INPAINT_RULES = ("paste", "project")


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


def logsnr_schedule(steps: int, start: float = 1.0) -> Tensor:
    """stable-audio-tools 0.0.19 ``sample_rf`` (Stable Audio Open Small): log-SNR linear from the start level's
    to 2, t = sigmoid(-logsnr), first value exactly ``start`` and last exactly 0 (float32, as there)."""
    if steps < 1:
        raise ModelError(f"need at least one step, got {steps}")
    start = min(float(start), 1.0)
    logsnr_max = math.log(((1 - start) / start) + 1e-6) if start < 1 else -6.0
    t = torch.sigmoid(-torch.linspace(logsnr_max, 2, steps + 1))
    t[0] = start
    t[-1] = 0
    return t


# ----------------------------------------------------------------------------------------- the loop


def _noise(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Fresh noise drawn on the generator's device in float32, then moved to the state (stable-audio-tools:
    a CPU generator drives a GPU run). A generator on the state's device draws what it would draw there."""
    dev = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=dev, dtype=torch.float32).to(
        like.device, like.dtype
    )


def _paste(x: Tensor, inpaint: Inpaint | None) -> Tensor:
    """The ``paste`` rule: the known latents where mask == 0 (the model saw them as an input)."""
    if inpaint is None:
        return x
    known, mask = inpaint
    m = mask.to(x.dtype)
    return known.to(x.dtype) * (1 - m) + x * m


def _project(x: Tensor, t: float, inpaint: Inpaint | None, generator: torch.Generator | None) -> Tensor:
    """The ``project`` rule: the known latents noised to ``t`` (fresh noise) where mask == 0."""
    if inpaint is None:
        return x
    known, mask = inpaint
    known = known.to(x.device, x.dtype)
    target = known if t == 0 else known * (1 - t) + _noise(x, generator) * t
    return torch.lerp(x, target, (1 - mask.to(x.device, x.dtype)).expand_as(x))


def _dpmpp(x: Tensor, denoised: Tensor, old: Tensor | None, ts: Tensor, i: int) -> Tensor:
    """One DPM-Solver++(2M) step in the flow's log-SNR, first order on the first and last steps (as upstream)."""

    def log_snr(t: Tensor) -> Tensor:
        return ((1 - t).clamp(min=1e-10) / t.clamp(min=1e-10)).log()

    t, t_next = ts[i], ts[i + 1]
    coeff = (t_next - t) / ((1 - t_next).clamp(min=1e-10) * t.clamp(min=1e-10))
    d = denoised
    if old is not None and bool(t_next != 0):
        h = log_snr(t_next) - log_snr(t)
        r = (log_snr(t) - log_snr(ts[i - 1])) / h
        d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
    return (t_next / t.clamp(min=1e-10)) * x - (1 - t_next) * coeff * d


@torch.no_grad()  # inside the loop only: the consumer may need gradients between steps
def steps_flow(
    velocity: Velocity,
    x: Tensor,
    ts: Tensor,
    *,
    sampler: str,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
    inpaint_rule: str | None = None,
) -> Generator[SamplerStep, None, Tensor]:
    """Sample over the times ``ts`` (ending in 0) with ``sampler``, one ``SamplerStep`` per step.

    The samplers (``FLOW_SAMPLERS``) share the denoised estimate ``x - t v`` and differ in the update:

    - ``pingpong``: re-noise the denoised estimate to the next ``t`` with fresh noise (the distilled models),
    - ``euler``: first-order ODE step ``x += (t' - t) v``,
    - ``dpmpp``: DPM-Solver++(2M) for flows.

    ``inpaint`` is ``(known latents, mask == 1 where generated)``, kept by ``inpaint_rule``
    (``INPAINT_RULES``, needed with ``inpaint``):

    - ``paste`` (Stable Audio 3, whose model takes the mask as an input): the state is left alone; the yielded
      denoised estimate and the result have the known latents pasted in.
    - ``project`` (stable-audio-tools, Stable Audio Open Small): the state's known region is replaced by the
      known latents noised to the current ``t`` at the start and after every step (exact at ``t = 0``).
    """
    if sampler not in FLOW_SAMPLERS:
        raise ModelError(
            f"unknown sampler {sampler!r} for a flow model (choose from {', '.join(FLOW_SAMPLERS)})"
        )
    if inpaint is not None and inpaint_rule not in INPAINT_RULES:
        raise ModelError(f"unknown inpainting rule {inpaint_rule!r} (choose from {', '.join(INPAINT_RULES)})")
    paste = inpaint if inpaint_rule == "paste" else None
    project = inpaint if inpaint_rule == "project" else None
    n = ts.numel() - 1
    x = _project(x, float(ts[0]), project, generator)
    old: Tensor | None = None
    for i in range(n):
        t, t_next = ts[i].to(x.dtype), ts[i + 1].to(x.dtype)
        v = velocity(x, t * x.new_ones(x.shape[0]))
        denoised = x - t * v
        if sampler == "pingpong":
            x = (1 - t_next) * denoised + t_next * _noise(x, generator)
        elif sampler == "euler":
            x = x + (t_next - t) * v
        else:
            x, old = _dpmpp(x, denoised, old, ts, i), denoised
        x = _project(x, float(t_next), project, generator)
        step = SamplerStep(i + 1, n, x, _paste(denoised, paste), float(t_next))
        yield step
        x = step.x
    return _paste(x, paste)
