"""Stable Audio Open 1.0 and Small against the reference (stable-audio-tools 0.0.19; APG: stable-audio-3), on
random weights at small configurations of the real structure: every row within 1e-4 relative L2.

The fixtures come from tools/make_sao_fixtures.py; the real key sets are checked on the meta device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.engine.sao_helpers import FIXTURES, SECONDS, VARIANTS, golden, meta, rel, state, tiny_config
from triergon_studio.engine.checkpoint_io import load_state_dict_checked
from triergon_studio.engine.families.base import Settings
from triergon_studio.engine.families.sao_config import sao_config_from_dict
from triergon_studio.engine.families.sao_model import SAOModel, normalise_keys
from triergon_studio.engine.families.sao_sampling import guided
from triergon_studio.engine.families.stable_audio_open import StableAudioOpenModel, info_for
from triergon_studio.engine.sampler_step import drive

TOL = 1e-4


def _net(variant: str) -> SAOModel:
    cfg = sao_config_from_dict(tiny_config(variant), Path("model_config.json"))
    net = SAOModel(cfg)
    load_state_dict_checked(net, normalise_keys(state(variant)), "fixture")
    return net.eval()


def _cond(net: SAOModel, g: dict[str, torch.Tensor], variant: str, negative: bool = True):  # type: ignore[no-untyped-def]
    p = net.project_prompt(g["t5_pos"][None], g["t5_mask_pos"][None].bool())
    n = net.project_prompt(g["t5_neg"][None], g["t5_mask_neg"][None].bool()) if negative else None
    return net.condition(p, n, SECONDS[variant])


@pytest.mark.parametrize("variant", VARIANTS)
def test_conditioning_from_given_t5(variant: str) -> None:
    net, g = _net(variant), golden(variant)
    with torch.no_grad():
        c = _cond(net, g, variant)
        empty = net.condition(
            net.project_prompt(g["t5_empty"][None], g["t5_mask_empty"][None].bool()), None, SECONDS[variant]
        )
    assert net.cfg.prompt_projected  # cond_dim 32 != t5-base 768: prompt.proj_out is loaded
    assert rel(c.tokens, g["cond_tokens"]) < TOL
    assert rel(c.global_cond, g["cond_global"]) < TOL
    assert c.negative_tokens is not None and rel(c.negative_tokens, g["cond_negative_tokens"]) < TOL
    assert rel(empty.tokens, g["cond_empty_tokens"]) < TOL


@pytest.mark.parametrize("variant", VARIANTS)
def test_vae_encode_decode(variant: str) -> None:
    net, g = _net(variant), golden(variant)
    with torch.no_grad():
        pre = net.vae.encoder(g["vae_audio"])
        mean = net.vae.encode(g["vae_audio"])
        dec = net.vae.decode(g["vae_latent"])
    assert rel(pre, g["vae_encoded"]) < TOL
    assert rel(mean, g["vae_encoded"][:, :8]) < TOL
    assert rel(dec, g["vae_decoded"]) < TOL


@pytest.mark.parametrize("variant", VARIANTS)
def test_dit_forward_and_guidance(variant: str) -> None:
    net, g = _net(variant), golden(variant)
    x, t = g["dit_x"], g["dit_t"]
    with torch.no_grad():
        c = _cond(net, g, variant)
        assert c.negative_tokens is not None
        out = net.forward_dit(x, t, c.tokens, c.global_cond)
        obj = net.cfg.objective
        cfg = guided(net.forward_dit, c.tokens, c.global_cond, c.negative_tokens, 7.0, "cfg", obj)(x, t)
        zero = torch.zeros_like(c.tokens)
        cfg0 = guided(net.forward_dit, c.tokens, c.global_cond, zero, 7.0, "cfg", obj)(x, t)
        apg = guided(net.forward_dit, c.tokens, c.global_cond, c.negative_tokens, 7.0, "apg", obj)(x, t)
    assert rel(out, g["dit_out"]) < TOL
    assert rel(cfg, g["cfg_out"]) < TOL
    assert rel(cfg0, g["cfg_out_no_negative"]) < TOL
    assert rel(apg, g["apg_out"]) < TOL
    assert rel(apg, cfg) > 1e-3  # the rules really differ at this scale


RUNS = {
    "1.0": [
        ("run_cfg_dpmpp2m", 6, 7.0, "dpmpp-2m", "cfg", True, None),
        ("run_apg_euler", 6, 7.0, "euler", "apg", True, None),
        ("run_init_dpmpp2m", 6, 7.0, "dpmpp-2m", "cfg", True, 0.6),
    ],
    "small": [
        ("run_pingpong", 8, 1.0, "pingpong", "cfg", False, None),
        ("run_cfg_pingpong", 8, 3.0, "pingpong", "cfg", True, None),
        ("run_apg_euler", 8, 3.0, "euler", "apg", True, None),
        ("run_init_pingpong", 8, 1.0, "pingpong", "cfg", False, 0.6),
    ],
}


@pytest.mark.parametrize(
    ("variant", "row"), [(v, r) for v in VARIANTS for r in RUNS[v]], ids=lambda p: str(p)
)
def test_full_sampling_run(variant: str, row: tuple) -> None:  # type: ignore[type-arg]
    name, steps, cfg_scale, sampler, rule, negative, init_noise = row
    net, g = _net(variant), golden(variant)
    model = StableAudioOpenModel(net, info_for(net.cfg, FIXTURES))
    with torch.no_grad():
        cond = _cond(net, g, variant, negative)
    settings = Settings(
        steps=steps,
        cfg=cfg_scale,
        sampler=sampler,
        guidance=rule,
        seed=int(meta()["seed"]),
        init_noise=init_noise or 0.7,
        follow_curves="off",
    )
    gen = torch.Generator().manual_seed(settings.seed)
    init = g["init_latent"] if init_noise is not None else None
    latent = drive(model.sample(cond, g[name].shape[-1], settings, gen, init=init))
    assert rel(latent, g[name]) < TOL, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_real_key_set_on_meta(variant: str) -> None:
    """The real 1.0 / Small configurations build, on meta, exactly the reference's keys and shapes."""
    real = meta()["real_configs"][variant]
    cfg = sao_config_from_dict(real, Path("model_config.json"))
    with torch.device("meta"):
        net = SAOModel(cfg)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    theirs = json.loads((FIXTURES / f"sao_{variant}_keys.json").read_text())
    assert sorted(set(ours) ^ set(theirs)) == []
    assert {k: ours[k] for k in theirs if ours[k] != theirs[k]} == {}
    assert len(theirs) == {"1.0": 745, "small": 750}[variant]
    assert not cfg.prompt_projected and "conditioner.conditioners.prompt.proj_out.weight" not in ours
