"""Once, by hand: SAME-S at the real configuration with random weights, ours against upstream.

Decodes (and encodes) ``--seconds`` of audio with upstream's code (commit in tools/same_reference.py) and with
``triergon_studio.engine.models.same``, same weights, and prints the relative L2 difference and the times.
Upstream's inference noise (decoder mask noise, bottleneck dither) is switched off on both sides so the
deterministic paths are compared. Run from the repository root in the reference venv::

    PYTHONPATH=$PWD /work/venv-sameref/bin/python tools/same_real_check.py \
        --mirror /work/.mirror/Stability-AI+stable-audio-3/repo --seconds 10
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from triergon_studio.engine.models.same import UPSTREAM_PREFIX, SAMEAutoencoder, SAMEConfig

_spec = importlib.util.spec_from_file_location(
    "same_reference", Path(__file__).with_name("same_reference.py")
)
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
sys.modules["same_reference"] = ref
_spec.loader.exec_module(ref)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--model", choices=sorted(ref.REAL), default="same_s")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    block = ref.REAL[args.model]
    with tempfile.TemporaryDirectory() as tmp:
        build = ref.import_upstream(args.mirror, Path(tmp))
        torch.manual_seed(0)
        upstream = build(block).eval()
        state = ref.randomize(upstream, 1)
        ref._mask_noise_off(upstream)
        ours = SAMEAutoencoder(SAMEConfig.from_upstream({"model": {"pretransform": block}})).eval()
        ours.load_upstream_state_dict({UPSTREAM_PREFIX + k: torch.from_numpy(v) for k, v in state.items()})
        ratio = ours.downsampling_ratio
        n_lat = math.ceil(args.seconds * 44100 / ratio)
        g = torch.Generator().manual_seed(2)
        latents = torch.randn(1, 256, n_lat, generator=g)
        audio = 0.3 * torch.randn(1, 2, n_lat * ratio, generator=g)
        rows = []
        for name, fn_ref, fn_ours, x in (
            ("decode", upstream.decode, ours.decode, latents),
            ("encode", upstream.encode, ours.encode, audio),
        ):
            t0 = time.perf_counter()
            y_ref = fn_ref(x)
            t1 = time.perf_counter()
            y = fn_ours(x)
            t2 = time.perf_counter()
            y_ref = y_ref[..., : y.shape[-1]]
            rows.append((name, _rel(y, y_ref), t1 - t0, t2 - t1, tuple(y.shape)))
    print(
        f"{args.model}, random weights, {args.seconds:g} s ({n_lat} latents), float32, {torch.get_num_threads()} threads"
    )
    for name, rel, t_ref, t_ours, shape in rows:
        print(
            f"{name}: out {shape}  rel L2 ours vs upstream {rel:.2e}  upstream {t_ref:.2f} s  ours {t_ours:.2f} s"
        )


if __name__ == "__main__":
    main()
