"""Turn a v-predicting network into a k-diffusion style denoiser, and classifier-free guidance.

A denoiser is ``D(x, sigma) -> estimate of x0`` in the VE space x = x0 + sigma noise, with ``sigma`` of
shape [B] (or a scalar). With sigma_data = 1 and the v-objective (SPEC §3):
``c_in = 1/sqrt(s^2+1)``, ``c_skip = 1/(s^2+1)``, ``c_out = -s/sqrt(s^2+1)`` and the network sees
``t = atan(s) * 2 / pi``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from triergon_studio.engine.sampling.schedule import _bcast, sigma_to_t

ModelFn = Callable[..., Tensor]  # model_fn(x_scaled [B, ...], t [B], **kwargs) -> v [B, ...]


class Denoiser(Protocol):
    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor: ...


def v_scalings(sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(c_skip, c_out, c_in) for a v-predicting network with sigma_data = 1."""
    denom = sigma**2 + 1
    return 1 / denom, -sigma / denom.sqrt(), 1 / denom.sqrt()


def _per_batch_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    # at least float32: in bf16, sigma = 0.3 would become 0.3008 and t near 1 would lose all resolution
    s = torch.as_tensor(sigma, device=x.device).to(torch.promote_types(x.dtype, torch.float32))
    if s.ndim == 0:
        s = s.expand(x.shape[0])
    return s


class VDenoiser:
    """``denoised = c_skip x + c_out model_fn(c_in x, t(sigma), **kwargs)``."""

    def __init__(self, model_fn: ModelFn, **kwargs: Any) -> None:
        self.model_fn = model_fn
        self.kwargs = kwargs

    def v(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """The network's raw v prediction at (x, sigma)."""
        s = _per_batch_sigma(sigma, x)
        _, _, c_in = v_scalings(s)
        return self.model_fn(x * _bcast(c_in, x).to(x.dtype), sigma_to_t(s), **self.kwargs)

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        s = _per_batch_sigma(sigma, x)
        c_skip, c_out, _ = v_scalings(s)
        return x * _bcast(c_skip, x).to(x.dtype) + self.v(x, s) * _bcast(c_out, x).to(x.dtype)


def _join(cond: Any, uncond: Any, name: str) -> Any:
    """Concatenate matching condition structures along the batch axis (cond first)."""
    if isinstance(cond, Tensor) or isinstance(uncond, Tensor):
        if not (isinstance(cond, Tensor) and isinstance(uncond, Tensor)):
            raise ValueError(
                f"CFG condition {name!r}: a tensor on one side and {type(uncond).__name__} on the other"
            )
        if cond.shape[1:] != uncond.shape[1:]:
            raise ValueError(
                f"CFG condition {name!r}: shapes {tuple(cond.shape)} and {tuple(uncond.shape)} differ"
            )
        return torch.cat([cond, uncond], dim=0)
    if isinstance(cond, Mapping) and isinstance(uncond, Mapping):
        if set(cond) != set(uncond):
            raise ValueError(f"CFG condition {name!r}: keys {sorted(cond)} and {sorted(uncond)} differ")
        return {k: _join(cond[k], uncond[k], f"{name}.{k}") for k in cond}
    if dataclasses.is_dataclass(cond) and type(cond) is type(uncond) and not isinstance(cond, type):
        fields = {
            f.name: _join(getattr(cond, f.name), getattr(uncond, f.name), f"{name}.{f.name}")
            for f in dataclasses.fields(cond)
        }
        return dataclasses.replace(cond, **fields)
    if cond is None and uncond is None:
        return None
    if cond != uncond:
        raise ValueError(f"CFG condition {name!r}: {cond!r} and {uncond!r} cannot be batched together")
    return cond


def cfg_model_fn(
    model_fn: ModelFn,
    cond_kwargs: Mapping[str, Any],
    uncond_kwargs: Mapping[str, Any],
    scale: float,
    drop: tuple[Mapping[str, Any], float] | None = None,
) -> ModelFn:
    """A v-model that applies classifier-free guidance: ``uncond + scale (cond - uncond)``.

    Both halves run in one forward pass of batch 2B (conditional first). At ``scale == 1`` the
    unconditional half is skipped and the result is exactly the conditional prediction.

    ``drop = (kwargs, w)``: a second term on one condition alone, ``w (cond - model(kwargs))``, with
    ``kwargs`` the conditional ones less that condition (InstructPix2Pix's two-scale guidance); one more
    forward pass of batch B. ``w = 1 - scale`` takes that condition once at its conditional weight.
    """
    if set(cond_kwargs) != set(uncond_kwargs):
        raise ValueError(f"CFG: conditional keys {sorted(cond_kwargs)} differ from {sorted(uncond_kwargs)}")
    if drop is not None and set(drop[0]) != set(cond_kwargs):
        raise ValueError(f"CFG: dropped-condition keys {sorted(drop[0])} differ from {sorted(cond_kwargs)}")
    scale = float(scale)
    without, weight = (drop[0], float(drop[1])) if drop is not None else ({}, 0.0)

    def plus_drop(v: Tensor, cond: Tensor, x: Tensor, t: Tensor) -> Tensor:
        return v + weight * (cond - model_fn(x, t, **without)) if weight else v

    if scale == 1.0:

        def conditional(x: Tensor, t: Tensor) -> Tensor:
            cond = model_fn(x, t, **cond_kwargs)
            return plus_drop(cond, cond, x, t)

        return conditional
    joined = {k: _join(cond_kwargs[k], uncond_kwargs[k], k) for k in cond_kwargs}

    def guided(x: Tensor, t: Tensor) -> Tensor:
        b = x.shape[0]
        out = model_fn(torch.cat([x, x]), torch.cat([t, t]), **joined)
        cond, uncond = out[:b], out[b:]
        return plus_drop(uncond + (cond - uncond) * scale, cond, x, t)

    return guided


def cfg_denoiser(
    model_fn: ModelFn,
    cond_kwargs: Mapping[str, Any],
    uncond_kwargs: Mapping[str, Any],
    scale: float,
    drop: tuple[Mapping[str, Any], float] | None = None,
) -> VDenoiser:
    """A denoiser with classifier-free guidance (and ``drop``'s term, see ``cfg_model_fn``). Guidance on v
    equals guidance on the denoised estimate because the v-to-x0 map is affine with the same coefficients for
    every half."""
    return VDenoiser(cfg_model_fn(model_fn, cond_kwargs, uncond_kwargs, scale, drop))
