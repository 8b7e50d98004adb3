"""Record the SAME autoencoders' reference data from the upstream code (run by hand, never by the tests).

Upstream: github.com/Stability-AI/stable-audio-3 at commit 636f906fc0ee54b3f06edf974dc7d3aa99d6841b (MIT).
The upstream package is extracted from a local git mirror into a temporary folder and imported from there;
none of it is copied into this repository. It needs ``einops`` beside torch/torchaudio, so run it from a
separate venv, for example::

    python -m venv /work/venv-sameref
    echo /work/main/.venv/lib/python3.11/site-packages > /work/venv-sameref/lib/python3.11/site-packages/main.pth
    /work/venv-sameref/bin/pip install einops==0.8.2
    /work/venv-sameref/bin/python tools/same_reference.py --mirror /work/.mirror/Stability-AI+stable-audio-3/repo

It writes
- ``tests/fixtures/same_keys.json``: the exact autoencoder key set and shapes of SAME-S and SAME-L, built by
  upstream's ``create_autoencoder_from_config`` on the meta device from the configs below, with those configs;
- ``tests/fixtures/same_golden.npz``: random weights (float16-exact), inputs and upstream outputs of encode,
  decode, noisy decode (fixed seed) and chunked decode for three small configurations of the same structure.

The real configurations are reconstructed from upstream's own constants (``optimized/mlx/models/defs/
same_{s,l}_{encoder,decoder}.py``: widths, depths, heads, strides, chunking, window, sinusoidal blocks,
mapping kernels); upstream's repository ships no model_config.json. SAME-L built from it has 472 tensors and
852,127,457 values, the counts published for the real checkpoint.
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


def _coder(kind: str, io_ch: int, **kw: Any) -> dict[str, Any]:
    key = "in_channels" if kind == "encoder" else "out_channels"
    return {"type": "same", "config": {key: io_ch, **kw}}


def _ae(
    patch: int,
    enc: dict[str, Any],
    dec: dict[str, Any],
    latent: int,
    ratio: int,
    noise_regularize: bool = True,
) -> dict[str, Any]:
    return {
        "type": "autoencoder",
        "config": {
            "encoder": enc,
            "decoder": dec,
            "bottleneck": {
                "type": "softnorm",
                "config": {
                    "dim": latent,
                    "noise_augment_dim": 0,
                    "noise_regularize": noise_regularize,
                    "auto_scale": True,
                    "freeze": True,
                },
            },
            "pretransform": {"type": "patched", "config": {"patch_size": patch, "channels": 2}},
            "latent_dim": latent,
            "downsampling_ratio": ratio,
            "io_channels": 2,
        },
    }


_S_COMMON = dict(
    channels=128,
    c_mults=[6],
    strides=[16],
    latent_dim=256,
    transformer_depths=[6],
    dim_heads=64,
    differential=True,
    dyt=True,
    variable_stride=True,
    chunk_size=32,
    chunk_midpoint_shift=True,
)
_L_COMMON = dict(
    channels=256,
    c_mults=[6],
    strides=[16],
    latent_dim=256,
    transformer_depths=[12],
    dim_heads=64,
    differential=True,
    dyt=True,
    variable_stride=True,
    sliding_window=[1, 1],
)

REAL = {
    "same_s": _ae(
        256,
        _coder("encoder", 512, **_S_COMMON, conv_mapping=False, mask_noise=0.0),
        _coder("decoder", 512, **_S_COMMON, sinusoidal_blocks=[0], conv_mapping=True, mask_noise=0.01),
        256,
        4096,
    ),
    "same_l": _ae(
        256,
        _coder("encoder", 512, **_L_COMMON),
        _coder("decoder", 512, **_L_COMMON, sinusoidal_blocks=[8]),
        256,
        4096,
    ),
}

# Small configurations of the same structure (and one that exercises upstream's other branches).
_SS = dict(
    channels=12,
    c_mults=[2],
    strides=[4],
    latent_dim=8,
    transformer_depths=[3],
    dim_heads=8,
    differential=True,
    dyt=True,
    variable_stride=True,
    chunk_size=8,
    chunk_midpoint_shift=True,
)
_SL = dict(
    channels=12,
    c_mults=[2],
    strides=[4],
    latent_dim=8,
    transformer_depths=[3],
    dim_heads=8,
    differential=True,
    dyt=True,
    variable_stride=True,
    sliding_window=[1, 1],
)
_SM = dict(
    channels=8,
    c_mults=[1, 2],
    strides=[2, 2],
    latent_dim=6,
    transformer_depths=[2, 2],
    dim_heads=8,
    differential=False,
    dyt=False,
    variable_stride=False,
    chunk_size=4,
    chunk_midpoint_shift=False,
)
SMALL = {
    "small_s": _ae(
        8,
        _coder("encoder", 16, **_SS, conv_mapping=False, mask_noise=0.0),
        _coder("decoder", 16, **_SS, sinusoidal_blocks=[0], conv_mapping=True, mask_noise=0.01),
        8,
        32,
    ),
    "small_l": _ae(
        8, _coder("encoder", 16, **_SL), _coder("decoder", 16, **_SL, sinusoidal_blocks=[2]), 8, 32
    ),
    "small_multi": _ae(
        4,
        _coder("encoder", 8, **_SM),
        _coder("decoder", 8, **_SM, sinusoidal_blocks=[1, 0], conv_mapping=True, mask_noise=0.05),
        6,
        16,
        noise_regularize=False,
    ),
}


def import_upstream(mirror: Path, dest: Path) -> Any:
    """Extract ``stable_audio_3/`` at the pinned commit and import its autoencoder factory."""
    blob = subprocess.run(
        ["git", "--git-dir", str(mirror), "archive", UPSTREAM_COMMIT, "stable_audio_3"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    # The package __init__ pulls in the text encoder and the DiT; only the autoencoder is needed.
    (dest / "stable_audio_3" / "__init__.py").write_text("")
    sys.path.insert(0, str(dest))
    ae = importlib.import_module("stable_audio_3.models.autoencoders")
    bn = importlib.import_module("stable_audio_3.models.bottleneck")
    pt = importlib.import_module("stable_audio_3.models.pretransforms")

    def build(block: dict[str, Any]) -> Any:
        cfg = block["config"]
        enc = ae.SAMEEncoder(**cfg["encoder"]["config"])
        dec = ae.SAMEDecoder(**cfg["decoder"]["config"])
        return ae.AudioAutoencoder(
            enc,
            dec,
            latent_dim=cfg["latent_dim"],
            downsampling_ratio=cfg["downsampling_ratio"],
            sample_rate=44100,
            io_channels=cfg["io_channels"],
            bottleneck=bn.SoftNormBottleneck(**cfg["bottleneck"]["config"]),
            pretransform=pt.PatchedPretransform(**cfg["pretransform"]["config"]),
        )

    return build


def randomize(model: torch.nn.Module, seed: int) -> dict[str, np.ndarray]:
    """Non-degenerate random weights, rounded to float16 so that a float16 fixture holds them exactly."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if name.endswith("inv_freq") or p.numel() == 0:
                state[name] = p.numpy().copy()
                continue
            if name.endswith(".alpha"):
                v = 0.5 + torch.rand(p.shape, generator=g)
            elif name.endswith(".gamma") or name.endswith("scaling_factor"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=g)
            elif name.endswith("running_std"):
                v = torch.full(p.shape, 1.7)
            elif name.endswith("weight_g"):
                v = 0.5 + torch.rand(p.shape, generator=g)
            else:
                fan = p.shape[-1] if p.ndim == 2 else (p[0].numel() if p.ndim == 3 else 8)
                v = torch.randn(p.shape, generator=g) / max(fan, 1) ** 0.5
            v = v.half().float()
            p.copy_(v)
            state[name] = v.numpy()
    return state


def key_sets(build: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"upstream": "Stability-AI/stable-audio-3", "commit": UPSTREAM_COMMIT, "models": {}}
    for name, block in REAL.items():
        with torch.device("meta"):
            model = build(block)
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        out["models"][name] = {
            "config": block,
            "tensors": len(shapes),
            "values": int(sum(int(np.prod(s)) for s in shapes.values())),
            "keys": shapes,
        }
        print(f"{name}: {len(shapes)} tensors, {out['models'][name]['values']:,} values")
    return out


def goldens(build: Any) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    configs = {}
    for i, (name, block) in enumerate(SMALL.items()):
        torch.manual_seed(100 + i)
        model = build(block).eval()
        state = randomize(model, 200 + i)
        ratio = block["config"]["downsampling_ratio"]
        g = torch.Generator().manual_seed(300 + i)
        audio = 0.5 * torch.randn(2, 2, 7 * ratio + ratio // 2 + 3, generator=g)
        latents = torch.randn(2, block["config"]["latent_dim"], 9, generator=g)
        long_latents = torch.randn(1, block["config"]["latent_dim"], 21, generator=g)
        with torch.no_grad():
            enc = model.encode(audio)
            masks = _mask_noise_off(model)
            dec = model.decode(latents)
            chunked = model.decode_audio(long_latents, chunked=True, chunk_size=8, overlap=2)
            _restore(masks)
            torch.manual_seed(77)
            noisy = model.decode(latents)
        for k, v in state.items():
            arrays[f"{name}/w/{k}"] = (
                v.astype(np.float16) if v.dtype == np.float32 and "inv_freq" not in k else v
            )
        arrays[f"{name}/audio"] = audio.numpy()
        arrays[f"{name}/encoded"] = enc.numpy()
        arrays[f"{name}/latents"] = latents.numpy()
        arrays[f"{name}/decoded"] = dec.numpy()
        arrays[f"{name}/decoded_noisy_seed77"] = noisy.numpy()
        arrays[f"{name}/long_latents"] = long_latents.numpy()
        arrays[f"{name}/decoded_chunked_8_2"] = chunked.numpy()
        configs[name] = block
        print(f"{name}: encode {tuple(enc.shape)} decode {tuple(dec.shape)} chunked {tuple(chunked.shape)}")
    arrays["configs_json"] = np.frombuffer(json.dumps(configs).encode(), dtype=np.uint8)
    arrays["commit"] = np.frombuffer(UPSTREAM_COMMIT.encode(), dtype=np.uint8)
    return arrays


def _mask_noise_off(model: torch.nn.Module) -> list[tuple[Any, str, Any]]:
    """Deterministic outputs for the plain goldens: upstream draws mask noise and bottleneck dither on
    every decode; the noisy golden keeps them."""
    saved = []
    for m in model.modules():
        if hasattr(m, "mask_noise"):
            saved.append((m, "mask_noise", m.mask_noise))
            m.mask_noise = 0
        if hasattr(m, "noise_regularize"):
            saved.append((m, "noise_regularize", m.noise_regularize))
            m.noise_regularize = False
    return saved


def _restore(saved: list[tuple[Any, str, Any]]) -> None:
    for m, attr, value in saved:
        setattr(m, attr, value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--mirror", type=Path, required=True, help="git dir of a Stability-AI/stable-audio-3 mirror"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = import_upstream(args.mirror, Path(tmp))
        keys = key_sets(build)
        (args.out / "same_keys.json").write_text(json.dumps(keys, indent=1) + "\n")
        np.savez_compressed(args.out / "same_golden.npz", **goldens(build))
    print(f"wrote {args.out / 'same_keys.json'} and {args.out / 'same_golden.npz'}")


if __name__ == "__main__":
    main()
