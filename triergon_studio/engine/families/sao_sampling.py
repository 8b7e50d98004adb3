"""Guidance rules of Stable Audio Open, and the start level of its v-objective schedule.

Guidance acts on the DiT's raw output at its own input ``x`` and time ``t`` (as stable-audio-tools' DiT
``forward`` does), batching the conditional and unconditional halves in one pass:

- ``cfg`` (stable-audio-tools 0.0.16 to 0.0.19): ``out = uncond + scale (cond - uncond)`` on the output.
- ``apg`` (Adaptive Projected Guidance, Sadat et al. 2024, as in Stability's stable-audio-3 DiT, the code the
  issue attributes to stable-audio-tools 0.0.20): both outputs -> denoised estimates; their difference loses
  its component parallel to the conditional estimate (per item, over channels and frames); the guided
  estimate ``cond + (scale - 1) diff_orth`` is turned back into an output.

The unconditional half has every cross-attention token zeroed, or the negative prompt's tokens when there is
one; the global condition is the positive one in both halves (stable-audio-tools).

Rectified flow (SAO Small) samples with the shared loop in ``engine.sampling.flow`` (``logsnr_schedule``,
``steps_flow`` with the ``project`` inpainting rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from triergon_studio.errors import ModelError

GUIDANCE_RULES = ("cfg", "apg")
NetFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (x, t, tokens, global) -> raw output
GuidedFn = Callable[[Tensor, Tensor], Tensor]  # (x, t) -> guided raw output


def _bc(v: Tensor) -> Tensor:
    return v.reshape(-1, 1, 1)


def apg_orthogonal(diff: Tensor, ref: Tensor) -> Tensor:
    """The part of ``diff`` orthogonal to ``ref``, per batch item over all channels and frames (float32)."""
    d, r = diff.float(), ref.float()
    unit = r / r.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1)
    parallel = (d * unit).sum(dim=(-1, -2), keepdim=True) * unit
    return (d - parallel).to(diff.dtype)


def guided(
    net: NetFn,
    tokens: Tensor,
    global_cond: Tensor,
    uncond_tokens: Tensor,
    scale: float,
    rule: str,
    objective: str,
) -> GuidedFn:
    """The network with guidance applied at its input, for the v-objective or rectified flow."""
    if rule not in GUIDANCE_RULES:
        raise ModelError(f"unknown guidance rule {rule!r}; choose {' or '.join(GUIDANCE_RULES)}")
    scale = float(scale)

    def conditional(x: Tensor, t: Tensor) -> Tensor:
        b = x.shape[0]
        return net(x, t, tokens.expand(b, -1, -1), global_cond.expand(b, -1))

    if scale == 1.0:
        return conditional

    def fn(x: Tensor, t: Tensor) -> Tensor:
        b = x.shape[0]
        toks = torch.cat([tokens.expand(b, -1, -1), uncond_tokens.expand(b, -1, -1)])
        glob = global_cond.expand(b, -1)
        out = net(torch.cat([x, x]), torch.cat([t, t]), toks, torch.cat([glob, glob]))
        cond, uncond = out[:b], out[b:]
        if rule == "cfg":
            return uncond + (cond - uncond) * scale
        tf = t.float()
        if objective == "v":
            alpha, sigma = _bc(torch.cos(tf * math.pi / 2)), _bc(torch.sin(tf * math.pi / 2))
            c_den, u_den = x * alpha - cond * sigma, x * alpha - uncond * sigma
            g_den = c_den + (scale - 1) * apg_orthogonal(c_den - u_den, c_den)
            return ((x * alpha - g_den) / sigma).to(x.dtype)
        sigma = _bc(tf)
        c_den, u_den = x - cond * sigma, x - uncond * sigma
        g_den = c_den + (scale - 1) * apg_orthogonal(c_den - u_den, c_den)
        return ((x - g_den) / sigma).to(x.dtype)

    return fn


# ----------------------------------------------------------------------------------------- schedule


def v_start_sigma(level: float, sigma_max: float) -> float:
    """SAO 1.0 init level (cosine time t in (0, 1]) -> the VE sigma its schedule starts from: tan(pi t / 2),
    capped at the schedule's top. stable-audio-tools' ``init_noise_level`` is this sigma."""
    return sigma_max if level >= 1 else min(math.tan(math.pi * level / 2), sigma_max)
