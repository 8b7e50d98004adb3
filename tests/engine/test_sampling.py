"""Samplers on analytic data distributions whose exact denoiser is known in closed form."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from torch import Tensor

from triergon_studio.engine.sampling import (
    DEFAULT_CFG,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    SAMPLERS,
    VDenoiser,
    add_noise,
    cfg_denoiser,
    cosine_sigmas,
    cosine_t_schedule,
    get_sampler,
    polyexponential_sigmas,
    sample_ddim,
    sample_euler,
    sigma_to_t,
    t_to_sigma,
    v_loss,
    v_target,
)
from triergon_studio.errors import CancelledError, ModelError

MU, TAU = 1.5, 0.5


def v_from_x0(x_scaled: Tensor, t: Tensor, x0_hat: Tensor) -> Tensor:
    """The v a perfect network returns when its x0 estimate at (x_t, t) is ``x0_hat``."""
    a = torch.cos(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    s = torch.sin(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    eps = (x_scaled - a * x0_hat) / s
    return a * eps - s * x0_hat


def gaussian_model(x_scaled: Tensor, t: Tensor) -> Tensor:
    """Exact v-model for data ~ N(MU, TAU^2) per element (posterior mean in closed form)."""
    a = torch.cos(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    s = torch.sin(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    # x_t = a x0 + s eps  =>  E[x0 | x_t] = MU + a TAU^2 (x_t - a MU) / (a^2 TAU^2 + s^2)
    x0_hat = MU + a * TAU**2 * (x_scaled - a * MU) / (a**2 * TAU**2 + s**2)
    return v_from_x0(x_scaled, t, x0_hat)


def two_point_model(x_scaled: Tensor, t: Tensor, p_plus: float = 0.25) -> Tensor:
    """Exact v-model for data at +1 (probability p_plus) or -1."""
    a = torch.cos(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    s = torch.sin(t * math.pi / 2).reshape(-1, *[1] * (x_scaled.ndim - 1)).to(x_scaled.dtype)
    logit = math.log(p_plus / (1 - p_plus)) + 2 * a * x_scaled / s**2
    return v_from_x0(x_scaled, t, torch.tanh(logit / 2))


def ode_exact(x_t: Tensor, sigma_max: float) -> Tensor:
    """Probability-flow ODE end point for Gaussian data, started at VE sigma_max."""
    return MU + (x_t - MU) * TAU / math.sqrt(TAU**2 + sigma_max**2)


def start_noise(n: int, sigma_max: float, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 4, generator=g, dtype=dtype) * sigma_max


# -- schedule ---------------------------------------------------------------------------------------------


def test_polyexponential_matches_definition() -> None:
    s = polyexponential_sigmas(10, 0.3, 500.0, rho=1.0)
    assert s.shape == (11,) and s[-1] == 0
    assert s[0].item() == pytest.approx(500.0, rel=1e-6) and s[-2].item() == pytest.approx(0.3, rel=1e-6)
    steps = torch.log(s[:-1].double()).diff()
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-5)  # log-linear at rho = 1
    s2 = polyexponential_sigmas(10, 0.3, 500.0, rho=2.0)
    assert not torch.allclose(s2, s) and torch.all(s2[:-1].diff() < 0)


def test_sigma_t_round_trip_and_cosine_schedule() -> None:
    t = torch.linspace(0, 0.99, 50, dtype=torch.float64)
    assert torch.allclose(sigma_to_t(t_to_sigma(t)), t, atol=1e-12)
    assert torch.allclose(
        t_to_sigma(torch.tensor([0.5], dtype=torch.float64)), torch.tensor([1.0], dtype=torch.float64)
    )
    ts = cosine_t_schedule(8)
    assert ts.shape == (9,) and ts[-1] == 0 and torch.all(ts.diff() < 0)
    assert t_to_sigma(ts[0].double()).item() == pytest.approx(500.0, rel=1e-3)
    cs = cosine_sigmas(8)
    assert cs.shape == (9,) and cs[-1] == 0 and cs[0].item() == pytest.approx(500.0, rel=1e-4)


def test_v_target_and_loss_agree_with_exact_model() -> None:
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((64, 2, 8), 0.8)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.rand(64, generator=g) * 0.98 + 0.01
    x_t = add_noise(x0, noise, t)
    a, s = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
    assert torch.allclose(v_target(x0, noise, t), a * noise - s * x0)
    # v relates x_t and x0: x0 = a x_t - s v
    assert torch.allclose(a * x_t - s * v_target(x0, noise, t), x0, atol=1e-5)

    def point_mass(xs: Tensor, tt: Tensor) -> Tensor:
        return v_from_x0(xs, tt, torch.full_like(xs, 0.8))

    assert v_loss(point_mass, x0, t, noise).item() < 1e-8
    assert v_loss(lambda xs, tt: torch.zeros_like(xs), x0, t, noise).item() > 0.1
    mask = torch.zeros(64, 1, 8)
    mask[..., :4] = 1
    wrong_outside = v_loss(lambda xs, tt: point_mass(xs, tt) + (1 - mask), x0, t, noise, loss_mask=mask)
    assert wrong_outside.item() < 1e-8


def test_v_denoiser_is_exact_for_a_point_mass() -> None:
    def point_mass(xs: Tensor, tt: Tensor) -> Tensor:
        return v_from_x0(xs, tt, torch.full_like(xs, -0.4))

    den = VDenoiser(point_mass)
    for sigma in (0.05, 0.3, 1.0, 20.0, 500.0):
        x = -0.4 + sigma * torch.randn(3, 2, 5, dtype=torch.float64)
        assert torch.allclose(
            den(x, torch.full((3,), sigma, dtype=torch.float64)),
            torch.full_like(x, -0.4),
            atol=1e-6 * max(1.0, sigma),
        )


# -- convergence --------------------------------------------------------------------------------------------


def _ode_error(name: str, steps: int) -> float:
    sigma_max = 80.0
    sigmas = polyexponential_sigmas(steps, 0.002, sigma_max).double()
    x = start_noise(256, sigma_max)
    out = SAMPLERS[name](VDenoiser(gaussian_model), x, sigmas)
    return (out - ode_exact(x, sigma_max)).abs().max().item()


@pytest.mark.parametrize("name", ["euler", "ddim", "dpmpp-2m"])
def test_ode_samplers_converge_to_exact_flow(name: str) -> None:
    errs = [_ode_error(name, n) for n in (10, 25, 50, 100)]
    assert all(b < a for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[-1] < (5e-2 if name != "dpmpp-2m" else 2e-3), errs
    assert errs[0] > 1e-6  # the coarse run really is coarse: the test can fail


def test_second_order_beats_first_order() -> None:
    assert _ode_error("dpmpp-2m", 25) < 0.2 * _ode_error("euler", 25)


def test_deterministic_ddim_equals_euler() -> None:
    sigmas = polyexponential_sigmas(20, 0.3, 500.0).double()
    x = start_noise(8, 500.0)
    den = VDenoiser(gaussian_model)
    assert torch.allclose(sample_ddim(den, x, sigmas), sample_euler(den, x, sigmas), atol=1e-9)


def _sde_moments(steps: int, seed: int = 0) -> tuple[float, float]:
    sigma_max = 80.0
    sigmas = polyexponential_sigmas(steps, 0.002, sigma_max).double()
    x = start_noise(4000, sigma_max, seed=seed)  # 16000 scalar samples
    g = torch.Generator().manual_seed(seed + 100)
    out = SAMPLERS["dpmpp-3m-sde"](VDenoiser(gaussian_model), x, sigmas, generator=g)
    return out.mean().item(), out.std().item()


def test_3m_sde_reaches_the_data_distribution() -> None:
    mean, std = _sde_moments(100)
    assert mean == pytest.approx(MU, abs=0.02)
    assert std == pytest.approx(TAU, abs=0.015)
    assert abs(_sde_moments(10)[1] - TAU) > 0.1  # too few steps is measurably wrong: the check can fail


def test_3m_sde_two_point_mixture_weights() -> None:
    sigmas = polyexponential_sigmas(60, 0.002, 80.0).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8000, 1, 1, generator=g, dtype=torch.float64) * 80.0
    out = SAMPLERS["dpmpp-3m-sde"](VDenoiser(two_point_model), x, sigmas, generator=g)
    assert torch.all((out - 1).abs().minimum((out + 1).abs()) < 1e-3)  # every sample lands on a point
    assert (out > 0).double().mean().item() == pytest.approx(0.25, abs=0.02)


# -- determinism, cancellation, inpainting, CFG -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_seed_same_output(name: str) -> None:
    sigmas = polyexponential_sigmas(12)

    def run(seed: int) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 4, 16, generator=g) * sigmas[0]
        return get_sampler(name)(VDenoiser(two_point_model), x, sigmas, generator=g)

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_ddim_eta_is_stochastic_and_seeded() -> None:
    sigmas = polyexponential_sigmas(12)
    x = start_noise(4, 500.0, dtype=torch.float32)

    def run(seed: int) -> Tensor:
        return sample_ddim(
            VDenoiser(two_point_model), x, sigmas, eta=1.0, generator=torch.Generator().manual_seed(seed)
        )

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("kind", ["callable", "event"])
def test_cancel_mid_run(name: str, kind: str) -> None:
    calls: list[int] = []
    steps: list[tuple[int, int]] = []
    event = threading.Event()

    def model(xs: Tensor, tt: Tensor) -> Tensor:
        calls.append(1)
        return gaussian_model(xs, tt)

    def callback(step: int, total: int, denoised: Tensor) -> None:
        steps.append((step, total))
        assert denoised.shape == (1, 1, 4)
        if step == 3:
            event.set()

    cancel = event if kind == "event" else event.is_set
    with pytest.raises(CancelledError):
        get_sampler(name)(
            VDenoiser(model),
            start_noise(1, 500.0, dtype=torch.float32),
            polyexponential_sigmas(10),
            callback=callback,
            cancel=cancel,
            generator=torch.Generator().manual_seed(0),
        )
    assert steps == [(1, 10), (2, 10), (3, 10)] and len(calls) == 3


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_callback_reports_every_step(name: str) -> None:
    seen: list[int] = []
    get_sampler(name)(
        VDenoiser(gaussian_model),
        start_noise(1, 500.0, dtype=torch.float32),
        polyexponential_sigmas(7),
        callback=lambda s, n, d: seen.append(s),
    )
    assert seen == list(range(1, 8))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_inpaint_keeps_the_known_region(name: str) -> None:
    g = torch.Generator().manual_seed(5)
    known = torch.randn(2, 3, 32, generator=g)
    mask = torch.zeros(1, 1, 32)
    mask[..., 10:20] = 1  # regenerate frames 10..19
    sigmas = polyexponential_sigmas(15)
    x = torch.randn(known.shape, generator=g) * sigmas[0]
    out = get_sampler(name)(VDenoiser(two_point_model), x, sigmas, generator=g, inpaint=(known, mask))
    keep = mask.expand_as(out) == 0
    assert torch.equal(out[keep], known[keep])
    regen = out[~keep]
    assert not torch.allclose(regen, known[~keep], atol=0.1)
    # regenerated from the data (the last jump from sigma_min = 0.3 leaves a few between the points)
    assert regen.abs().max() <= 1 + 1e-4
    assert ((regen - 1).abs().minimum((regen + 1).abs()) < 1e-2).double().mean() > 0.8


class CondModel(torch.nn.Module):
    """A small conditioned v-model that records the batch sizes it was called with."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(16 + 8 + 1, 16)
        self.batches: list[int] = []

    def forward(self, x: Tensor, t: Tensor, tokens: Tensor, extra: Tensor | None = None) -> Tensor:
        self.batches.append(x.shape[0])
        h = torch.cat([x.flatten(1), tokens.mean(1), t[:, None]], dim=1)
        return self.net(h).reshape(x.shape)


def _cond_inputs() -> tuple[Tensor, dict[str, Tensor | None], dict[str, Tensor | None]]:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, 8, generator=g)
    tokens = torch.randn(3, 5, 8, generator=g)
    return x, {"tokens": tokens, "extra": None}, {"tokens": torch.zeros_like(tokens), "extra": None}


def test_cfg_scale_one_is_the_conditional_prediction() -> None:
    model = CondModel()
    x, cond, uncond = _cond_inputs()
    sigma = torch.full((3,), 2.0)
    guided = cfg_denoiser(model, cond, uncond, 1.0)(x, sigma)
    model.batches.clear()
    plain = VDenoiser(model, **cond)(x, sigma)
    assert torch.equal(guided, plain) and model.batches == [3]


def test_batched_cfg_equals_two_separate_passes() -> None:
    model = CondModel()
    x, cond, uncond = _cond_inputs()
    sigma = torch.tensor([0.5, 3.0, 40.0])
    scale = 7.0
    model.batches.clear()
    guided = cfg_denoiser(model, cond, uncond, scale)(x, sigma)
    assert model.batches == [6]  # one forward pass over both halves
    d_c = VDenoiser(model, **cond)(x, sigma)
    d_u = VDenoiser(model, **uncond)(x, sigma)
    assert torch.allclose(guided, d_u + scale * (d_c - d_u), atol=1e-5)
    assert not torch.allclose(guided, d_c, atol=1e-3)


def test_a_condition_guided_on_its_own() -> None:
    model = CondModel()
    x, cond, uncond = _cond_inputs()
    without = {"tokens": cond["tokens"] * 0.5, "extra": None}  # stands for "one condition dropped"
    sigma = torch.tensor([0.5, 3.0, 40.0])
    d_c, d_u, d_n = (VDenoiser(model, **k)(x, sigma) for k in (cond, uncond, without))
    for scale, w in ((4.0, -0.5), (1.0, 2.0)):
        model.batches.clear()
        got = cfg_denoiser(model, cond, uncond, scale, (without, w))(x, sigma)
        # the denoised estimate is affine in v with shared coefficients, so the formula holds on it too
        assert torch.allclose(got, d_u + scale * (d_c - d_u) + w * (d_c - d_n), atol=1e-5)
        assert model.batches == ([6, 3] if scale != 1.0 else [3, 3])  # one more pass of batch B
    plain = cfg_denoiser(model, cond, uncond, 4.0)(x, sigma)
    model.batches.clear()
    assert torch.equal(cfg_denoiser(model, cond, uncond, 4.0, (without, 0.0))(x, sigma), plain)
    assert model.batches == [6]  # weight 0: no extra pass
    with pytest.raises(ValueError, match="dropped-condition keys"):
        cfg_denoiser(model, cond, uncond, 4.0, ({"tokens": cond["tokens"]}, -0.5))


def test_cfg_rejects_mismatched_conditions() -> None:
    model = CondModel()
    x, cond, _ = _cond_inputs()
    with pytest.raises(ValueError, match="tokens"):
        cfg_denoiser(model, cond, {"tokens": None, "extra": None}, 3.0)
    with pytest.raises(ValueError):
        cfg_denoiser(model, cond, {"tokens": cond["tokens"]}, 3.0)


def test_defaults_and_unknown_sampler() -> None:
    assert (DEFAULT_STEPS, DEFAULT_CFG, DEFAULT_SAMPLER) == (100, 7.0, "dpmpp-3m-sde")
    assert get_sampler("dpmpp_2m") is SAMPLERS["dpmpp-2m"]
    with pytest.raises(ModelError, match="unknown sampler 'heun'.*euler"):
        get_sampler("heun")


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_bfloat16_runs_with_float32_sigmas(name: str) -> None:
    seen: list[torch.dtype] = []

    def model(xs: Tensor, tt: Tensor) -> Tensor:
        seen.append(tt.dtype)
        return gaussian_model(xs.float(), tt).to(xs.dtype)

    g = torch.Generator().manual_seed(0)
    sigmas = polyexponential_sigmas(10)
    x = (torch.randn(2, 1, 8, generator=g) * sigmas[0]).bfloat16()
    out = get_sampler(name)(VDenoiser(model), x, sigmas, generator=g)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert set(seen) == {torch.float32}
    assert (out.float().mean() - MU).abs() < 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_cuda_seeded_and_matches_cpu_ode(name: str) -> None:
    sigmas = polyexponential_sigmas(20, 0.002, 80.0)
    x = start_noise(64, 80.0, dtype=torch.float32)

    def run(device: str) -> Tensor:
        g = torch.Generator(device=device).manual_seed(3)
        return get_sampler(name)(
            VDenoiser(gaussian_model), x.to(device), sigmas.to(device), generator=g
        ).cpu()

    assert torch.equal(run("cuda"), run("cuda"))
    if name != "dpmpp-3m-sde":  # deterministic samplers agree across devices up to float error
        assert torch.allclose(run("cuda"), run("cpu"), atol=1e-3)
