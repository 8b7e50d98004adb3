"""The v-objective and the cosine noise schedule (Salimans & Ho 2022; Stable Audio Open; SPEC §3).

Continuous time t in [0, 1]: alpha = cos(pi t / 2), sigma = sin(pi t / 2), x_t = alpha x0 + sigma noise and
the network predicts v = alpha noise - sigma x0. Samplers work in the variance-exploding "sigma" space of
k-diffusion, where x = x0 + s noise; the two are linked by s = tan(pi t / 2), i.e. t = atan(s) * 2 / pi.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

# Stable Audio Open's reference sampling range (SPEC §3).
SIGMA_MIN = 0.3
SIGMA_MAX = 500.0


def alpha_sigma(t: Tensor) -> tuple[Tensor, Tensor]:
    """Signal and noise scales of the cosine schedule at continuous time t."""
    return torch.cos(t * (math.pi / 2)), torch.sin(t * (math.pi / 2))


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-batch [B] (or scalar) tensor so it broadcasts over ``like`` [B, ...]."""
    v = torch.as_tensor(v, device=like.device)
    if v.ndim == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (like.ndim - 1)))


def _scales(t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """alpha, sigma computed in at least float32, shaped to broadcast over ``like`` and cast to its dtype."""
    a, s = alpha_sigma(
        torch.as_tensor(t, device=like.device).to(torch.promote_types(like.dtype, torch.float32))
    )
    return _bcast(a, like).to(like.dtype), _bcast(s, like).to(like.dtype)


def add_noise(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = alpha(t) x0 + sigma(t) noise."""
    a, s = _scales(t, x0)
    return a * x0 + s * noise


def v_target(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """The v-objective's regression target alpha(t) noise - sigma(t) x0."""
    a, s = _scales(t, x0)
    return a * noise - s * x0


def v_loss(
    model_fn: Callable[..., Tensor],
    x0: Tensor,
    t: Tensor,
    noise: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    loss_mask: Tensor | None = None,
    **cond: Any,
) -> Tensor:
    """Mean squared error between ``model_fn(x_t, t, **cond)`` and the v target.

    ``t`` is [B] in [0, 1]. ``loss_mask`` (broadcastable to x0, 1 = counts) restricts the mean to the valid
    part of padded batches.
    """
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = add_noise(x0, noise, t)
    err = (model_fn(x_t, t, **cond) - v_target(x0, noise, t)) ** 2
    if loss_mask is None:
        return err.mean()
    m = loss_mask.to(err.dtype).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def sample_training_t(batch: int, *, generator: torch.Generator | None = None, device: Any = "cpu") -> Tensor:
    """Uniform continuous timesteps in [0, 1) for training (Stable Audio's choice)."""
    return torch.rand(batch, generator=generator, device=device)


def t_to_sigma(t: Tensor) -> Tensor:
    """Cosine-schedule time to VE sigma: s = tan(pi t / 2) (t = 1 is infinite noise)."""
    return torch.tan(t * (math.pi / 2))


def sigma_to_t(sigma: Tensor) -> Tensor:
    """VE sigma to cosine-schedule time: t = atan(s) * 2 / pi."""
    return torch.atan(sigma) * (2 / math.pi)


def cosine_t_schedule(n: int, t_max: float | None = None, device: Any = "cpu") -> Tensor:
    """n + 1 times evenly spaced from ``t_max`` down to 0 (uniform in t = the cosine schedule).

    ``t_max`` defaults to the time of sigma = 500 so that the first sigma is finite.
    """
    if n < 1:
        raise ValueError(f"need at least one step, got {n}")
    if t_max is None:
        t_max = float(sigma_to_t(torch.tensor(SIGMA_MAX, dtype=torch.float64)))
    return torch.linspace(t_max, 0.0, n + 1, dtype=torch.float64, device=device).float()


def cosine_sigmas(n: int, sigma_max: float = SIGMA_MAX, device: Any = "cpu") -> Tensor:
    """n + 1 sigmas from ``sigma_max`` to exactly 0, uniform in cosine time."""
    t_max = float(sigma_to_t(torch.tensor(sigma_max, dtype=torch.float64)))
    t = torch.linspace(t_max, 0.0, n + 1, dtype=torch.float64, device=device)
    s = t_to_sigma(t)
    s[-1] = 0.0
    return s.float()


def polyexponential_sigmas(
    n: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = 1.0, device: Any = "cpu"
) -> Tensor:
    """k-diffusion's polyexponential schedule: log sigma is linear in ramp**rho, then a final 0.

    Returns n + 1 values (n steps). rho = 1 is log-linear (Stable Audio Open's default).
    """
    if n < 1:
        raise ValueError(f"need at least one step, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(1.0, 0.0, n, dtype=torch.float64, device=device) ** rho
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    sigmas = torch.exp(lo + ramp * (hi - lo))
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()
