"""Once at the real Stable Audio 3 Small shape: one DiT forward (and one APG-guided evaluation) with random
weights, upstream's code against ours (run by hand; the figures go to docs/parity.md).

Upstream: github.com/Stability-AI/stable-audio-3 at commit 636f906fc0ee54b3f06edf974dc7d3aa99d6841b. Two steps,
because upstream runs in its own venv (see tools/sa3_reference.py)::

    /work/venv-sa3ref/bin/python tools/sa3_real_check.py reference --mirror /work/.mirror/Stability-AI+stable-audio-3/repo \
        --out /tmp/sa3_real.npz
    .venv/bin/python tools/sa3_real_check.py ours --out /tmp/sa3_real.npz

Both sides draw the same weights (numpy PCG64, sorted keys, ``tools/sa3_reference.seeded_state``) and the
same inputs: 10 s of audio (108 latents + 64 of headroom = 172 frames), a 257-token context, an inpainting
condition keeping the first 40 frames.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 172


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("sa3_reference", ROOT / "tools" / "sa3_reference.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    keep = torch.zeros(1, 1, FRAMES)
    keep[..., :40] = 1.0
    known = torch.randn(1, 256, FRAMES, generator=g)
    return {
        "x": torch.randn(1, 256, FRAMES, generator=g),
        "t": torch.tensor([0.63]),
        "context": torch.randn(1, 257, 768, generator=g),
        "global": torch.randn(1, 768, generator=g),
        "local": torch.cat([keep, known * keep], dim=1),
    }


def inv_freq() -> torch.Tensor:
    return 1.0 / (10000 ** (torch.arange(0, 32, 2).float() / 32))


def reference(mirror: Path, out: Path) -> None:
    import tempfile

    tool = _tool()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        imp = tool.import_upstream(mirror, Path(tmp))
        with torch.device("meta"):
            dit, _ = tool.build_reference(imp, tool.REAL["small-sfx"])
        shapes = {k: tuple(p.shape) for k, p in dit.named_parameters()}
        t0 = time.perf_counter()
        state = {k: torch.from_numpy(v).float() for k, v in tool.seeded_state(shapes, seed=7).items()}
        state["model.transformer.rotary_pos_emb.inv_freq"] = inv_freq()
        dit.load_state_dict(state, strict=True, assign=True)
        dit.eval()
        print(f"weights drawn in {time.perf_counter() - t0:.1f} s")
        inp = inputs()
        kw = {
            "cross_attn_cond": inp["context"],
            "cross_attn_mask": torch.ones(1, 257, dtype=torch.bool),
            "global_cond": inp["global"],
            "local_add_cond": inp["local"],
        }
        t0 = time.perf_counter()
        v = dit(inp["x"], inp["t"], **kw)
        print(f"upstream forward {time.perf_counter() - t0:.1f} s")
        v_apg = dit(inp["x"], inp["t"], **kw, cfg_scale=3.0, apg_scale=1.0)
    np.savez(out, v=v.numpy(), v_apg=v_apg.numpy())


def ours(out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from triergon_studio.engine.models.sa3_config import config_from_upstream
    from triergon_studio.engine.models.sa3_dit import DiTCond, SA3DiT

    tool = _tool()
    torch.set_grad_enabled(False)
    cfg = config_from_upstream(tool.REAL["small-sfx"])
    with torch.device("meta"):
        dit = SA3DiT(cfg.dit)
    shapes = {f"model.{k}": tuple(p.shape) for k, p in dit.named_parameters()}
    state = {
        k[len("model.") :]: torch.from_numpy(v).float() for k, v in tool.seeded_state(shapes, seed=7).items()
    }
    state["transformer.rotary_pos_emb.inv_freq"] = inv_freq()
    dit.load_state_dict(state, strict=True, assign=True)
    dit.eval()
    inp = inputs()
    cond = DiTCond(inp["context"], inp["global"], inp["local"])
    t0 = time.perf_counter()
    v = dit(inp["x"], inp["t"], cond)
    print(f"our forward {time.perf_counter() - t0:.1f} s")
    v_apg = dit.guided(inp["x"], inp["t"], cond, 3.0, 1.0)
    ref = np.load(out)
    for name, mine in (("forward", v), ("APG cfg 3", v_apg)):
        r = ref["v" if name == "forward" else "v_apg"]
        rel = float(np.linalg.norm(mine.numpy().astype(np.float64) - r) / np.linalg.norm(r))
        print(f"{name}: relative L2 ours vs upstream {rel:.2e} (|v| rms {float(np.sqrt((r**2).mean())):.3f})")
    v16 = dit.to(torch.bfloat16)(inp["x"], inp["t"], cond).float()
    rel16 = float(np.linalg.norm(v16.numpy().astype(np.float64) - ref["v"]) / np.linalg.norm(ref["v"]))
    print(f"bfloat16 forward: relative L2 to upstream float32 {rel16:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("side", choices=["reference", "ours"])
    ap.add_argument("--mirror", type=Path)
    ap.add_argument("--out", type=Path, default=Path("/tmp/sa3_real.npz"))
    args = ap.parse_args()
    if args.side == "reference":
        if args.mirror is None:
            ap.error("reference needs --mirror")
        reference(args.mirror, args.out)
    else:
        ours(args.out)


if __name__ == "__main__":
    main()
