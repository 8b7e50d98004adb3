"""Diffusion sampling for the v-objective: schedules, the v-denoiser with CFG, and the samplers.

Pure torch, no model code. Typical use::

    sigmas = polyexponential_sigmas(steps)                  # 0.3 .. 500, then 0
    denoiser = cfg_denoiser(model.denoise_v, cond, uncond, cfg_scale)
    x = torch.randn(shape, generator=g) * sigmas[0]
    for step in get_step_sampler("dpmpp-3m-sde")(denoiser, x, sigmas, generator=g):
        ...  # progress, cancel (stop iterating), guidance (replace step.x)
"""

from triergon_studio.engine.sampling.denoiser import (
    Denoiser,
    VDenoiser,
    cfg_denoiser,
    cfg_model_fn,
    v_scalings,
)
from triergon_studio.engine.sampling.schedule import (
    SIGMA_MAX,
    SIGMA_MIN,
    add_noise,
    alpha_sigma,
    cosine_sigmas,
    cosine_t_schedule,
    polyexponential_sigmas,
    sample_training_t,
    sigma_to_t,
    t_to_sigma,
    v_loss,
    v_target,
)
from triergon_studio.engine.sampling.solvers import (
    DEFAULT_CFG,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    SAMPLERS,
    STEP_SAMPLERS,
    get_sampler,
    get_step_sampler,
    sample_ddim,
    sample_dpmpp_2m,
    sample_dpmpp_3m_sde,
    sample_euler,
    sampler_key,
    steps_ddim,
    steps_dpmpp_2m,
    steps_dpmpp_3m_sde,
    steps_euler,
)

__all__ = [
    "DEFAULT_CFG",
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "SAMPLERS",
    "STEP_SAMPLERS",
    "SIGMA_MAX",
    "SIGMA_MIN",
    "Denoiser",
    "VDenoiser",
    "add_noise",
    "alpha_sigma",
    "cfg_denoiser",
    "cfg_model_fn",
    "cosine_sigmas",
    "cosine_t_schedule",
    "get_sampler",
    "get_step_sampler",
    "polyexponential_sigmas",
    "sample_ddim",
    "sample_dpmpp_2m",
    "sample_dpmpp_3m_sde",
    "sample_euler",
    "sampler_key",
    "steps_ddim",
    "steps_dpmpp_2m",
    "steps_dpmpp_3m_sde",
    "steps_euler",
    "sample_training_t",
    "sigma_to_t",
    "t_to_sigma",
    "v_loss",
    "v_scalings",
    "v_target",
]
