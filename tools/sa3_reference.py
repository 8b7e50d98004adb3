"""Record Stable Audio 3's DiT/conditioner/sampler reference data from the upstream code (run by hand).

Upstream: github.com/Stability-AI/stable-audio-3 at commit 636f906fc0ee54b3f06edf974dc7d3aa99d6841b (MIT).
The upstream package is extracted from a local git mirror into a temporary folder and imported from there;
none of it is copied into this repository. It needs einops, torchaudio and tqdm, so run it from a separate
venv (no system site packages)::

    python3 -m venv /work/venv-sa3ref
    /work/venv-sa3ref/bin/pip install torch==2.11.0 torchaudio==2.11.0 einops einops-exts tqdm packaging \
        safetensors numpy
    /work/venv-sa3ref/bin/python tools/sa3_reference.py --mirror /work/.mirror/Stability-AI+stable-audio-3/repo

It writes
- ``tests/fixtures/sa3_keys.json``: the exact DiT + conditioner key set and shapes of Small-SFX, Small-Music
  and Medium (``model.model.*`` and ``conditioner.conditioners.*``; the SAME autoencoder's keys are in
  ``same_keys.json``), built by upstream's ``DiTWrapper`` and conditioner classes on the meta device from
  the ``REAL`` configurations below, which are also stored so the tests build ours from the same JSON;
- ``tests/fixtures/sa3_golden.npz``: inputs and upstream outputs at two small configurations of the same
  structure (plain and differential attention): DiT forwards (plain, CFG, APG, negative prompt), the
  conditioners, and full sampling runs with fixed seeds (ping-pong with the inpainting condition, Euler
  with APG guidance and init latents, DPM-Solver++). Weights are not stored: both sides draw them from
  numpy's PCG64 with a fixed seed in sorted key order (``seeded_state`` below, mirrored by the tests).

The real configurations are reconstructed from upstream's own constants (``optimized/mlx/models/defs/
dit_mlx.py`` for Small, ``dit_mlx_medium.py`` for Medium, ``sa3_pipeline.py`` for the conditioners) and the
config keys ``factory.py`` reads; upstream's repository ships no model_config.json.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

UPSTREAM_COMMIT = "636f906fc0ee54b3f06edf974dc7d3aa99d6841b"
ROOT = Path(__file__).resolve().parents[1]


def _dit(
    embed: int,
    depth: int,
    heads: int,
    differential: bool,
    io: int = 256,
    cond: int = 768,
    memory: int = 64,
    ff_mult: float = 4,
) -> dict[str, Any]:
    return {
        "io_channels": io,
        "embed_dim": embed,
        "depth": depth,
        "num_heads": heads,
        "cond_token_dim": cond,
        "global_cond_dim": cond,
        "project_cond_tokens": True,
        "transformer_type": "continuous_transformer",
        "global_cond_type": "adaLN",
        "timestep_features_type": "expo",
        "timestep_features_dim": 256,
        "num_memory_tokens": memory,
        "local_add_cond_dim": io + 1,
        "norm_type": "rms_norm",
        "attn_kwargs": {"qk_norm": "rms", "differential": differential},
        "ff_kwargs": {"mult": ff_mult},
    }


def model_config(
    dit: dict[str, Any], objective: str, sample_size: int, max_length: int = 256, seconds_max: float = 384.0
) -> dict[str, Any]:
    """An upstream ``model_config.json`` (diffusion part; the pretransform is the SAME helper's)."""
    return {
        "model_type": "diffusion_cond",
        "sample_size": sample_size,
        "sample_rate": 44100,
        "audio_channels": 2,
        "model": {
            "io_channels": dit["io_channels"],
            "conditioning": {
                "cond_dim": dit["cond_token_dim"],
                "configs": [
                    {
                        "id": "prompt",
                        "type": "t5gemma",
                        "config": {
                            "model_name": "google/t5gemma-b-b-ul2",
                            "max_length": max_length,
                            "padding_mode": "learned",
                        },
                    },
                    {
                        "id": "seconds_total",
                        "type": "number",
                        "config": {"min_val": 0, "max_val": seconds_max, "fourier_features_type": "expo"},
                    },
                ],
            },
            "diffusion": {
                "type": "dit",
                "diffusion_objective": objective,
                "cross_attention_cond_ids": ["prompt", "seconds_total"],
                "global_cond_ids": ["seconds_total"],
                "local_add_cond_ids": ["inpaint_mask", "inpaint_masked_input"],
                "config": dit,
            },
        },
    }


REAL = {
    "small-sfx": model_config(_dit(1024, 20, 16, False), "rf_denoiser", 5292032),
    "small-music": model_config(_dit(1024, 20, 16, False), "rf_denoiser", 5292032),
    "medium": model_config(_dit(1536, 24, 24, True), "rf_denoiser", 16760832),
}
# Two small configurations of the same structure: head width 64 keeps the 32-channel partial rotary.
TINY = {
    "tiny": model_config(
        _dit(64, 2, 1, False, io=16, cond=32, memory=4, ff_mult=2), "rf_denoiser", 4096 * 64, max_length=8
    ),
    "tiny_diff": model_config(
        _dit(128, 2, 2, True, io=8, cond=32, memory=3, ff_mult=2), "rectified_flow", 4096 * 64, max_length=8
    ),
}


def seeded_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Random weights from numpy's PCG64 in sorted key order (the tests regenerate them the same way)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name in sorted(shapes):
        shape = shapes[name]
        r = rng.standard_normal(shape).astype(np.float32)
        if name.endswith("gamma"):
            out[name] = 1.0 + 0.1 * r
        elif len(shape) >= 2:
            out[name] = r / np.sqrt(float(np.prod(shape[1:])))
        else:
            out[name] = 0.1 * r
    return out


def import_upstream(mirror: Path, dest: Path) -> Any:
    blob = subprocess.run(
        ["git", "-C", str(mirror), "archive", UPSTREAM_COMMIT, "stable_audio_3"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    sys.path.insert(0, str(dest))
    return importlib.import_module


def build_reference(imp: Any, cfg: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Upstream's DiTWrapper and conditioners (T5Gemma itself holds no checkpoint keys: upstream keeps it
    outside the state dict, so the prompt conditioner is its base class with the learned padding)."""
    diffusion = imp("stable_audio_3.models.diffusion")
    cond_mod = imp("stable_audio_3.models.conditioners")
    d = cfg["model"]["diffusion"]
    dit = diffusion.DiTWrapper(
        diffusion_objective=d["diffusion_objective"], modular_local_cond_configs=[], **d["config"]
    )
    c = cfg["model"]["conditioning"]
    pcfg = c["configs"][0]["config"]
    scfg = c["configs"][1]["config"]
    prompt = cond_mod.Conditioner(c["cond_dim"], c["cond_dim"], padding_mode=pcfg["padding_mode"])
    seconds = cond_mod.NumberConditioner(output_dim=c["cond_dim"], **scfg)
    conditioner = cond_mod.MultiConditioner({"prompt": prompt, "seconds_total": seconds})
    return dit, conditioner


def full_state(dit: torch.nn.Module, conditioner: torch.nn.Module) -> dict[str, torch.Tensor]:
    sd = {f"model.{k}": v for k, v in dit.state_dict().items()}
    sd.update({f"conditioner.{k}": v for k, v in conditioner.state_dict().items()})
    return sd


def key_sets(imp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"upstream_commit": UPSTREAM_COMMIT, "configs": REAL, "keys": {}}
    for name, cfg in REAL.items():
        with torch.device("meta"):
            dit, cond = build_reference(imp, cfg)
        out["keys"][name] = {k: list(v.shape) for k, v in sorted(full_state(dit, cond).items())}
    return out


def goldens(imp: Any) -> dict[str, np.ndarray]:
    sampling = imp("stable_audio_3.inference.sampling")
    shift = imp("stable_audio_3.inference.distribution_shift")
    out: dict[str, np.ndarray] = {}
    for ci, (name, cfg) in enumerate(TINY.items()):
        dit, cond = build_reference(imp, cfg)
        sd = full_state(dit, cond)
        params = {k for k, _ in dit.named_parameters(prefix="model")} | {
            k for k, _ in cond.named_parameters(prefix="conditioner")
        }
        state = seeded_state({k: tuple(v.shape) for k, v in sd.items() if k in params}, seed=100 + ci)
        missing_dit = dit.load_state_dict(
            {k[len("model.") :]: torch.from_numpy(v) for k, v in state.items() if k.startswith("model.")},
            strict=False,
        )
        assert not missing_dit.unexpected_keys and all("inv_freq" in k for k in missing_dit.missing_keys)
        cond.load_state_dict(
            {
                k[len("conditioner.") :]: torch.from_numpy(v)
                for k, v in state.items()
                if k.startswith("conditioner.")
            },
            strict=True,
        )
        dit.eval()
        dcfg = cfg["model"]["diffusion"]["config"]
        io_ch, cdim, T = dcfg["io_channels"], dcfg["cond_token_dim"], 24
        L = cfg["model"]["conditioning"]["configs"][0]["config"]["max_length"]
        g = torch.Generator().manual_seed(7 + ci)
        emb = torch.randn(1, L, cdim, generator=g)
        mask = torch.zeros(1, L, dtype=torch.bool)
        mask[:, :5] = True
        neg_emb = torch.randn(1, L, cdim, generator=g)
        neg_mask = torch.zeros(1, L, dtype=torch.bool)
        neg_mask[:, :3] = True
        seconds = [3.5]
        with torch.no_grad():
            tensors = cond.conditioners["prompt"].apply_padding(emb, mask), mask
            sec = cond.conditioners["seconds_total"](seconds, "cpu")
            ntensors = cond.conditioners["prompt"].apply_padding(neg_emb, neg_mask), neg_mask
            out[f"{name}/cond_seconds"] = cond.conditioners["seconds_total"]([0.0, 3.5, 60.0, 1000.0], "cpu")[
                0
            ].numpy()
        cross = torch.cat([tensors[0], sec[0]], dim=1)
        cross_mask = torch.cat([tensors[1], sec[1].bool()], dim=1)
        neg_cross = torch.cat([ntensors[0], sec[0]], dim=1)
        neg_cross_mask = torch.cat([ntensors[1], sec[1].bool()], dim=1)
        global_cond = sec[0][:, 0, :]
        keep = torch.zeros(1, 1, T)
        keep[..., :8] = 1.0
        known = torch.randn(1, io_ch, T, generator=g)
        local = torch.cat([keep, known * keep], dim=1)
        x = torch.randn(1, io_ch, T, generator=g)
        t = torch.tensor([0.63])
        for arr_name, arr in {
            "emb": emb,
            "mask": mask,
            "neg_emb": neg_emb,
            "neg_mask": neg_mask,
            "x": x,
            "t": t,
            "known": known,
            "keep": keep,
        }.items():
            out[f"{name}/{arr_name}"] = arr.numpy()
        base = {
            "cross_attn_cond": cross,
            "cross_attn_mask": cross_mask,
            "global_cond": global_cond,
            "local_add_cond": local,
        }
        with torch.no_grad():
            out[f"{name}/v"] = dit(x, t, **base).numpy()
            out[f"{name}/v_nolocal"] = dit(x, t, **{**base, "local_add_cond": None}).numpy()
            out[f"{name}/v_cfg_apg"] = dit(x, t, **base, cfg_scale=4.0, apg_scale=1.0).numpy()
            out[f"{name}/v_cfg_plain"] = dit(x, t, **base, cfg_scale=4.0, apg_scale=0.0).numpy()
            out[f"{name}/v_neg_apg"] = dit(
                x,
                t,
                **base,
                cfg_scale=3.0,
                apg_scale=1.0,
                negative_cross_attn_cond=neg_cross,
                negative_cross_attn_mask=neg_cross_mask,
            ).numpy()
        conditioning = [{"seconds_total": seconds[0]}]
        logsnr = shift.LogSNRShift(rate=0, anchor_logsnr=-6.2, logsnr_end=2.0)
        runs = {
            "run_pingpong": dict(sampler_type="pingpong", steps=8, cfg_scale=1.0, local=local, init=None),
            "run_euler": dict(
                sampler_type="euler",
                steps=10,
                cfg_scale=5.0,
                local=None,
                init=known,
                level=0.8,
                negative=True,
            ),
            "run_dpmpp": dict(sampler_type="dpmpp", steps=6, cfg_scale=1.0, local=None, init=None),
        }
        for run_name, r in runs.items():
            torch.manual_seed(1234 + ci)
            noise = torch.randn(1, io_ch, T)
            cond_inputs: dict[str, Any] = {
                **base,
                "local_add_cond": r["local"] if r["local"] is not None else torch.zeros(1, io_ch + 1, T),
            }
            if r.get("negative"):
                cond_inputs["negative_cross_attn_cond"] = neg_cross
                cond_inputs["negative_cross_attn_mask"] = neg_cross_mask
            res = sampling.sample_diffusion(
                model=dit,
                noise=noise,
                cond_inputs=cond_inputs,
                diffusion_objective=cfg["model"]["diffusion"]["diffusion_objective"],
                steps=r["steps"],
                cfg_scale=r["cfg_scale"],
                conditioning=conditioning,
                sample_rate=44100,
                pretransform=None,
                mask_padding_attention=False,
                use_effective_length_for_schedule=True,
                dist_shift=logsnr,
                sampler_type=r["sampler_type"],
                batch_cfg=True,
                rescale_cfg=True,
                apg_scale=1.0,
                init_data=r["init"],
                init_noise_level=r.get("level", 1.0),
                decode=False,
                disable_tqdm=True,
            )
            out[f"{name}/{run_name}"] = res.numpy()
        out[f"{name}/schedule8"] = sampling.build_schedule(8, 1.0, logsnr, 100).numpy()
        out[f"{name}/schedule10_08"] = sampling.build_schedule(10, 0.8, logsnr, 100).numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, required=True, help="git mirror of Stability-AI/stable-audio-3")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        imp = import_upstream(args.mirror, Path(tmp))
        keys = key_sets(imp)
        (ROOT / "tests/fixtures/sa3_keys.json").write_text(json.dumps(keys, indent=0, sort_keys=True) + "\n")
        gold = goldens(imp)
        gold["tiny_configs"] = np.frombuffer(json.dumps(TINY).encode(), dtype=np.uint8)
        np.savez_compressed(ROOT / "tests/fixtures/sa3_golden.npz", **gold)
    for name, ks in keys["keys"].items():
        print(name, len(ks), "tensors", sum(int(np.prod(s)) for s in ks.values()), "values")
    print("golden arrays:", len(gold))


if __name__ == "__main__":
    main()
