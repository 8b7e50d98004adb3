"""Golden outputs of the reference Stable Audio Open code, for tests/engine/test_sao_parity.py.

Run in a SEPARATE environment that has the reference installed (never the app's venv):

    python3 -m venv /work/venv-satref
    echo /work/main/.venv/lib/python3.11/site-packages > /work/venv-satref/lib/python3.11/site-packages/zz.pth
    /work/venv-satref/bin/pip install --no-deps stable-audio-tools==0.0.19 k-diffusion==0.1.1 einops \
        einops-exts alias-free-torch==0.0.6 torchsde==0.2.6 torchdiffeq trampoline
    PYTHONPATH=/path/to/stable-audio-3 /work/venv-satref/bin/python tools/make_sao_fixtures.py OUT_DIR

References: stable-audio-tools 0.0.19 (PyPI; the GitHub snapshot at 50049e3 carries the same version) for the
models, conditioning, CFG and samplers; Stability-AI/stable-audio-3 at 636f906 (``stable_audio_3.models.dit.
DiffusionTransformer.forward`` with ``apg_scale=1``) for APG, bound onto the stable-audio-tools DiT. No
stable-audio-tools release on the registry has APG (the issue names 0.0.20; the newest there is 0.0.19).

Random weights at small configurations of the real structure (rounded to fp16 and stored so; the reference
runs in float32 on them), given T5 hidden states in place of T5 (a stand-in tokenizer/encoder returns them),
and the real configurations' key sets built on the meta device.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import types
from pathlib import Path
from typing import Any

import torch
import transformers  # before the stubs below: it probes for torchvision itself

SEED = 1234
T5_LEN = 8


# ------------------------------------------------------------------------------------------- environment


class _Any:
    def __init__(self, *a: Any, **k: Any) -> None:
        pass

    def __call__(self, *a: Any, **k: Any) -> Any:
        return _Any()

    def __getattr__(self, name: str) -> Any:
        return _Any()

    def __mro_entries__(self, bases: Any) -> tuple[type, ...]:
        return (object,)


def _stub(name: str, **attrs: Any) -> None:
    """k-diffusion imports training/evaluation packages at import time that the samplers never use."""
    try:
        __import__(name)
        return
    except ImportError:
        pass
    m = types.ModuleType(name)
    m.__path__ = []  # type: ignore[attr-defined]

    def ga(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Any()

    m.__getattr__ = ga  # type: ignore[method-assign]
    m.__file__ = "<stub>"
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, m)


for _n in (
    "skimage",
    "skimage.transform",
    "dctorch",
    "dctorch.functional",
    "torchvision",
    "torchvision.transforms",
    "cleanfid",
    "cleanfid.inception_torchscript",
    "clip",
):
    _stub(_n)
_stub("jsonmerge", merge=lambda a, b: {**a, **b})


class FakeT5:
    """Stands in for transformers' tokenizer and T5EncoderModel: a prompt names a row of given hidden states."""

    table: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, texts: list[str] | None = None, **kw: Any) -> Any:
        if texts is not None:  # tokenizer call
            ids = torch.stack([torch.full((T5_LEN,), list(FakeT5.table).index(t)) for t in texts])
            mask = torch.stack([FakeT5.table[t][1] for t in texts]).long()
            return {"input_ids": ids, "attention_mask": mask}
        ids = kw["input_ids"]
        names = list(FakeT5.table)
        return {"last_hidden_state": torch.stack([FakeT5.table[names[int(r[0])]][0] for r in ids])}

    def train(self, *a: Any) -> FakeT5:
        return self

    def requires_grad_(self, *a: Any) -> FakeT5:
        return self

    def to(self, *a: Any, **k: Any) -> FakeT5:
        return self

    def eval(self) -> FakeT5:
        return self


def _patch_transformers() -> None:
    transformers.AutoTokenizer.from_pretrained = classmethod(lambda cls, *a, **k: FakeT5())  # type: ignore
    transformers.T5EncoderModel.from_pretrained = classmethod(lambda cls, *a, **k: FakeT5())  # type: ignore


# ------------------------------------------------------------------------------------------- configs


def _oobleck(channels: int, latent: int) -> dict[str, Any]:
    enc = {
        "in_channels": 2,
        "channels": channels,
        "c_mults": [1, 2, 4, 8, 16],
        "strides": [2, 4, 4, 8, 8],
        "latent_dim": 2 * latent,
        "use_snake": True,
    }
    dec = {
        "out_channels": 2,
        "channels": channels,
        "c_mults": [1, 2, 4, 8, 16],
        "strides": [2, 4, 4, 8, 8],
        "latent_dim": latent,
        "use_snake": True,
        "final_tanh": False,
    }
    return {
        "type": "autoencoder",
        "iterate_batch": True,
        "config": {
            "encoder": {"type": "oobleck", "requires_grad": False, "config": enc},
            "decoder": {"type": "oobleck", "config": dec},
            "bottleneck": {"type": "vae"},
            "latent_dim": latent,
            "downsampling_ratio": 2048,
            "io_channels": 2,
        },
    }


def config_1_0(
    *,
    channels: int = 128,
    latent: int = 64,
    cond_dim: int = 768,
    max_len: int = 128,
    embed: int = 1536,
    depth: int = 24,
    heads: int = 24,
    sample_size: int = 2097152,
) -> dict[str, Any]:
    """stabilityai/stable-audio-open-1.0 ``model_config.json`` (defaults = the real one's model part)."""
    return {
        "model_type": "diffusion_cond",
        "sample_size": sample_size,
        "sample_rate": 44100,
        "audio_channels": 2,
        "model": {
            "pretransform": _oobleck(channels, latent),
            "conditioning": {
                "configs": [
                    {
                        "id": "prompt",
                        "type": "t5",
                        "config": {"t5_model_name": "t5-base", "max_length": max_len},
                    },
                    {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                    {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                ],
                "cond_dim": cond_dim,
            },
            "diffusion": {
                "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
                "global_cond_ids": ["seconds_start", "seconds_total"],
                "type": "dit",
                "config": {
                    "io_channels": latent,
                    "embed_dim": embed,
                    "depth": depth,
                    "num_heads": heads,
                    "cond_token_dim": cond_dim,
                    "global_cond_dim": 2 * cond_dim,
                    "project_cond_tokens": False,
                    "transformer_type": "continuous_transformer",
                },
            },
            "io_channels": latent,
        },
    }


def config_small(
    *,
    channels: int = 128,
    latent: int = 64,
    cond_dim: int = 768,
    max_len: int = 64,
    embed: int = 1024,
    depth: int = 16,
    heads: int = 8,
    sample_size: int = 524288,
) -> dict[str, Any]:
    """stabilityai/stable-audio-open-small ``model_config.json`` (model part): rf_denoiser, one number
    condition (seconds_total, 0-256), q/k LayerNorm, condition tokens projected to the DiT width."""
    return {
        "model_type": "diffusion_cond",
        "sample_size": sample_size,
        "sample_rate": 44100,
        "audio_channels": 2,
        "model": {
            "pretransform": _oobleck(channels, latent),
            "conditioning": {
                "configs": [
                    {
                        "id": "prompt",
                        "type": "t5",
                        "config": {"t5_model_name": "t5-base", "max_length": max_len},
                    },
                    {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 256}},
                ],
                "cond_dim": cond_dim,
            },
            "diffusion": {
                "cross_attention_cond_ids": ["prompt", "seconds_total"],
                "global_cond_ids": ["seconds_total"],
                "diffusion_objective": "rf_denoiser",
                "type": "dit",
                "config": {
                    "io_channels": latent,
                    "embed_dim": embed,
                    "depth": depth,
                    "num_heads": heads,
                    "cond_token_dim": cond_dim,
                    "global_cond_dim": cond_dim,
                    "transformer_type": "continuous_transformer",
                    "attn_kwargs": {"qk_norm": "ln"},
                },
            },
            "io_channels": latent,
        },
    }


TINY = {
    "1.0": config_1_0(
        channels=2, latent=8, cond_dim=32, max_len=T5_LEN, embed=64, depth=2, heads=2, sample_size=8 * 2048
    ),
    "small": config_small(
        channels=2, latent=8, cond_dim=32, max_len=T5_LEN, embed=32, depth=2, heads=1, sample_size=8 * 2048
    ),
}


# ------------------------------------------------------------------------------------------- helpers


def _build(cfg: dict[str, Any], device: str = "cpu") -> Any:
    from stable_audio_tools.models.factory import create_model_from_config

    with torch.device(device):
        return create_model_from_config(copy.deepcopy(cfg))


def _randomise(model: Any, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("weight_g", "gamma")) or ".alpha" in name[-6:] or name.endswith(".beta"):
                continue
            if "norm" in name:  # q/k LayerNorm: near 1 / near 0
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
                continue
            fan = p.shape[1] * (p[0][0].numel() if p.ndim > 2 else 1) if p.ndim >= 2 else p.shape[0]
            p.copy_(torch.randn(p.shape, generator=g) / max(fan, 1) ** 0.5)
        for p in model.state_dict().values():  # fp16-exact values: the fixture stores them in fp16
            if p.is_floating_point():
                p.copy_(p.half().float())


def _apg_forward(dit: Any) -> Any:
    """stable-audio-3's DiT ``forward`` (CFG with APG) running on a stable-audio-tools DiT."""
    from stable_audio_3.models.dit import DiffusionTransformer as SA3DiT

    inner = dit._forward

    def forward_0019(x: Any, t: Any, **kw: Any) -> Any:
        for k in ("local_add_cond", "modular_local_cond", "padding_mask"):
            kw.pop(k, None)
        return inner(x, t, **kw)

    dit.apg_project = types.MethodType(SA3DiT.apg_project, dit)
    dit._forward = forward_0019

    def call(x: Any, t: Any, **kw: Any) -> Any:
        return SA3DiT.forward(dit, x, t, apg_scale=1.0, **kw)

    return call


def make(variant: str, out: Path) -> dict[str, Any]:
    import k_diffusion as K
    from safetensors.torch import save_file
    from stable_audio_tools.inference.generation import generate_diffusion_cond
    from stable_audio_tools.inference.sampling import sample_k, sample_rf

    cfg = TINY[variant]
    torch.manual_seed(SEED)  # the init draws weight_v, and weight_g (kept) is its norm
    model = _build(cfg).eval()
    _randomise(model, SEED + (0 if variant == "1.0" else 1))
    g = torch.Generator().manual_seed(SEED + 10)
    t5 = lambda: torch.randn(T5_LEN, 768, generator=g)  # noqa: E731
    FakeT5.table = {
        "pos": (t5(), torch.tensor([1] * 5 + [0] * 3, dtype=torch.bool)),
        "neg": (t5(), torch.tensor([1] * 3 + [0] * 5, dtype=torch.bool)),
        "": (t5(), torch.tensor([1] + [0] * 7, dtype=torch.bool)),
    }
    flow = variant == "small"
    secs = {"seconds_total": 7.25} if flow else {"seconds_start": 1.5, "seconds_total": 7.25}
    pos, neg = [{"prompt": "pos", **secs}], [{"prompt": "neg", **secs}]
    gold: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, (emb, mask) in FakeT5.table.items():
            gold[f"t5_{name or 'empty'}"] = emb
            gold[f"t5_mask_{name or 'empty'}"] = mask.to(torch.uint8)
        ct = model.conditioner(pos, "cpu")
        ci = model.get_conditioning_inputs(ct)
        nt = model.get_conditioning_inputs(model.conditioner(neg, "cpu"), negative=True)
        gold["cond_tokens"], gold["cond_global"] = ci["cross_attn_cond"], ci["global_cond"]
        nmask = nt["negative_cross_attn_mask"].to(torch.bool).unsqueeze(2)
        gold["cond_negative_tokens"] = torch.where(nmask, nt["negative_cross_attn_cond"], 0.0)
        ce = model.get_conditioning_inputs(model.conditioner([{"prompt": "", **secs}], "cpu"))
        gold["cond_empty_tokens"] = ce["cross_attn_cond"]

        # VAE: encoder output before the bottleneck (mean, scale) and the decoder on a given latent
        audio = torch.randn(1, 2, 4 * 2048, generator=g) * 0.3
        gold["vae_audio"] = audio
        gold["vae_encoded"] = model.pretransform.model.encoder(audio)
        z = torch.randn(1, 8, 4, generator=g)
        gold["vae_latent"] = z
        gold["vae_decoded"] = model.pretransform.decode(z)

        # DiT forward and the guided outputs at one (x, t)
        frames = 8
        x = torch.randn(1, 8, frames, generator=g)
        t = torch.tensor([0.6 if flow else 0.7])
        gold["dit_x"], gold["dit_t"] = x, t
        dit = model.model
        kw = {"cross_attn_cond": ci["cross_attn_cond"], "global_cond": ci["global_cond"]}
        gold["dit_out"] = dit(x, t, cfg_scale=1.0, **kw)
        gold["cfg_out"] = dit(x, t, cfg_scale=7.0, batch_cfg=True, rescale_cfg=True, **kw, **nt)
        gold["cfg_out_no_negative"] = dit(x, t, cfg_scale=7.0, batch_cfg=True, rescale_cfg=True, **kw)
        apg = _apg_forward(model.model.model)
        apg_kw = {
            "cross_attn_cond": ci["cross_attn_cond"],
            "global_embed": ci["global_cond"],
            "negative_cross_attn_cond": nt["negative_cross_attn_cond"],
            "negative_cross_attn_mask": nt["negative_cross_attn_mask"],
        }
        gold["apg_out"] = apg(x, t, cfg_scale=7.0, **apg_kw)

        # full deterministic runs from a seed (the noise is drawn first, as generate_diffusion_cond does)
        n_audio = frames * 2048
        if not flow:
            gold["run_cfg_dpmpp2m"] = generate_diffusion_cond(
                model,
                steps=6,
                cfg_scale=7.0,
                conditioning=pos,
                negative_conditioning=neg,
                sample_size=n_audio,
                seed=SEED,
                device="cpu",
                sampler_type="dpmpp-2m",
                sigma_min=0.3,
                sigma_max=500,
                rho=1.0,
                return_latents=True,
            )
            torch.manual_seed(SEED)
            noise = torch.randn(1, 8, frames)
            sig = K.sampling.get_sigmas_polyexponential(6, 0.3, 500.0, 1.0)
            den = K.external.VDenoiser(lambda xx, tt, **k: apg(xx, tt, cfg_scale=7.0, **apg_kw))
            gold["run_apg_euler"] = K.sampling.sample_euler(den, noise * sig[0], sig, disable=True)
            init = torch.randn(1, 8, frames, generator=g)
            gold["init_latent"] = init
            torch.manual_seed(SEED)
            noise = torch.randn(1, 8, frames)
            level = 0.6  # cosine time -> the reference's init_noise_level (a sigma)
            gold["run_init_dpmpp2m"] = sample_k(
                model.model,
                noise,
                init_data=init,
                steps=6,
                sampler_type="dpmpp-2m",
                sigma_min=0.3,
                sigma_max=math.tan(math.pi * level / 2),
                rho=1.0,
                device="cpu",
                cfg_scale=7.0,
                batch_cfg=True,
                **kw,
                **nt,
            )
        else:
            gold["run_pingpong"] = generate_diffusion_cond(
                model,
                steps=8,
                cfg_scale=1.0,
                conditioning=pos,
                sample_size=n_audio,
                seed=SEED,
                device="cpu",
                sampler_type="pingpong",
                return_latents=True,
            )
            gold["run_cfg_pingpong"] = generate_diffusion_cond(
                model,
                steps=8,
                cfg_scale=3.0,
                conditioning=pos,
                negative_conditioning=neg,
                sample_size=n_audio,
                seed=SEED,
                device="cpu",
                sampler_type="pingpong",
                return_latents=True,
            )
            torch.manual_seed(SEED)
            noise = torch.randn(1, 8, frames)
            gold["run_apg_euler"] = sample_rf(
                lambda xx, tt, **k: apg(xx, tt, cfg_scale=3.0, **apg_kw),
                noise,
                steps=8,
                sampler_type="euler",
                device="cpu",
            )
            init = torch.randn(1, 8, frames, generator=g)
            gold["init_latent"] = init
            torch.manual_seed(SEED)
            noise = torch.randn(1, 8, frames)
            gold["run_init_pingpong"] = sample_rf(
                model.model,
                noise,
                init_data=init,
                steps=8,
                sampler_type="pingpong",
                sigma_max=0.6,
                device="cpu",
                **kw,
            )
    state = {
        k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(out / f"sao_{variant}_state.safetensors"))
    save_file(
        {
            k: v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
            for k, v in gold.items()
        },
        str(out / f"sao_{variant}_golden.safetensors"),
    )
    return cfg


def key_set(cfg: dict[str, Any]) -> dict[str, list[int]]:
    model = _build(cfg, "meta")
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def main() -> None:
    import stable_audio_tools

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/sao")
    out.mkdir(parents=True, exist_ok=True)
    _patch_transformers()
    torch.use_deterministic_algorithms(True)
    meta: dict[str, Any] = {
        "generator": "tools/make_sao_fixtures.py",
        "stable_audio_tools": getattr(stable_audio_tools, "__version__", "0.0.19"),
        "stable_audio_3": "Stability-AI/stable-audio-3@636f906 (APG)",
        "torch": torch.__version__,
        "seed": SEED,
        "configs": {},
        "real_configs": {"1.0": config_1_0(), "small": config_small()},
    }
    for variant in ("1.0", "small"):
        meta["configs"][variant] = make(variant, out)
        (out / f"sao_{variant}_keys.json").write_text(
            json.dumps(key_set(meta["real_configs"][variant]), sort_keys=True)
        )
    (out / "sao_fixtures.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    print("wrote", sorted(p.name for p in out.iterdir()))


if __name__ == "__main__":
    main()
