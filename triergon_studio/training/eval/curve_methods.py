"""Generation with each curve-following method, for the evaluation (issue 13: ``eval --methods ...``).

Methods: ``none`` (the model's own conditioning), ``shape`` (shaped init), ``guide`` (curve guidance between
sampler steps), ``shape+guide``, and ``guide+conform`` / ``shape+guide+conform`` (the exact conform after).
Model variants of the bundled model: ``frame`` (its frame-aligned LUFS path, curves given), ``nolufs`` (the
same network sampled with the LUFS input dropped, as a model without loudness conditioning would be), and
``tokens`` (the tokens-only recipe, where such a model folder exists).

This drives the Tri-Ergon network directly (conditions, CFG denoiser, a step sampler) with the same curve
control functions ``make_takes`` calls (``shape_init`` before sampling, ``guide_step`` between steps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from triergon_studio.engine.curve_control.guidance import (
    CurveGuide,
    GuideSettings,
    target_for_chunk,
)
from triergon_studio.engine.curve_control.hooks import guide_step
from triergon_studio.engine.curve_control.shaping import ShapeSettings, shaped_excitation
from triergon_studio.engine.sampler_step import SamplerStep

METHODS = ("none", "shape", "guide", "shape+guide", "guide+conform", "shape+guide+conform")
VARIANTS = ("frame", "tokens", "nolufs")


@dataclass
class MethodResult:
    audio: np.ndarray  # [N, 2] float32, before conform
    seconds: float  # wall time of the generation (sampling + guidance + decode)
    guide: dict[str, Any] = field(default_factory=dict)


def _steps_dpmpp_2m(
    denoiser: Callable[[Tensor, Tensor], Tensor], x: Tensor, sigmas: Tensor
) -> Generator[SamplerStep, None, Tensor]:
    """DPM-Solver++(2M) as a step generator (the bundled model's default sampler), continuing from the
    ``x`` the consumer leaves in each yielded step."""
    old: Tensor | None = None
    h_last = 0.0
    total = sigmas.numel() - 1
    for i in range(total):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = denoiser(x, torch.full((x.shape[0],), s, device=x.device))
        if s_next == 0:
            x = denoised
        else:
            h = math.log(s / s_next)
            d = denoised
            if old is not None:
                r = h_last / h
                d = denoised * (1 + 1 / (2 * r)) - old * (1 / (2 * r))
            x = x * (s_next / s) - d * math.expm1(-h)
            h_last = h
        old = denoised
        st = SamplerStep(i + 1, total, x, denoised, s_next)
        yield st
        x = st.x
    return x


def step_sampler(name: str) -> Callable[..., Generator[SamplerStep, None, Tensor]]:
    """The engine's step-generator sampler ``steps_<name>`` when it exists, else the local DPM-Solver++(2M)."""
    from triergon_studio.engine.sampling import solvers

    fn = getattr(solvers, "steps_" + name.replace("-", "_"), None)
    if fn is not None:
        return lambda den, x, sig: fn(den, x, sig, generator=None, inpaint=None)
    if name != "dpmpp-2m":
        raise ValueError(f"no step-generator version of sampler {name!r} on this branch")
    return _steps_dpmpp_2m


def generate_method(
    model: Any,
    cond: Any,
    n_samples: int,
    target: np.ndarray | None,
    method: str,
    *,
    seed: int,
    steps: int | None = None,
    guide: GuideSettings | None = None,
    shape: ShapeSettings | None = None,
    excitation: np.ndarray | None = None,
) -> MethodResult:
    """One take of ``n_samples`` from prepared ``Conditions`` (lufs already set or dropped by the caller),
    following ``target`` ([2, F] LUFS) with ``method`` (conform is the caller's last stage)."""
    from triergon_studio.engine.sampling import cfg_denoiser, polyexponential_sigmas

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    t0 = time.perf_counter()
    s = model.cfg.sampling
    n_steps = int(steps or s.steps)
    ratio = model.cfg.vae.downsampling_ratio
    frames = -(-n_samples // ratio)
    dev = next(model.parameters()).device
    gen = torch.Generator(dev).manual_seed(seed)
    sigmas = polyexponential_sigmas(n_steps, s.sigma_min, s.sigma_max, 1.0).to(dev)
    with torch.inference_mode():
        ct = model.condition(cond)
        den = cfg_denoiser(
            model.denoise_v, model.model_kwargs(ct), model.model_kwargs(ct.unconditional()), s.cfg_scale
        )
        noise = torch.randn((1, model.cfg.vae.latent_dim, frames), generator=gen, device=dev)
        shaping = "shape" in method and target is not None
        if shaping:
            sh = shape or ShapeSettings()
            audio0 = shaped_excitation(
                target, n_samples, model.sample_rate, seed=seed, excitation=excitation, settings=sh
            )
            wave = torch.from_numpy(np.ascontiguousarray(audio0.T))[None].to(dev)
            init = model.vae.encode(wave)[..., :frames]
            # init noise as the v-objective's time t (0.5 = halfway, as Stable Audio's init_noise_level):
            # sigma = tan(t pi / 2), then the full step count from there
            top = min(float(s.sigma_max), math.tan(sh.init_noise * math.pi / 2))
            sig = polyexponential_sigmas(n_steps, min(s.sigma_min, top / 2), top, 1.0).to(dev)
            x = init + noise * sig[0]
        else:
            sig = sigmas
            x = noise * sig[0]
    cg = None
    if "guide" in method and target is not None:
        cg = CurveGuide(
            lambda z: model.vae.decode(z),
            target_for_chunk(target, 0.0, frames, ratio, model.sample_rate),
            model.sample_rate,
            ratio,
            sig.numel() - 1,
            guide or GuideSettings(),
            "ve",
        )
    it = step_sampler(s.sampler)(den, x, sig)
    with torch.inference_mode():
        while True:
            try:
                st = next(it)
            except StopIteration as stop:
                lat = stop.value
                break
            if cg is not None:
                st.x = guide_step(st, cg)
        audio = model.vae.decode(lat, n_samples)[0].float().T.contiguous().cpu().numpy()
    return MethodResult(audio, time.perf_counter() - t0, cg.record() if cg is not None else {})
