"""Write a training stage's ``weights.safetensors`` from the keys of a model file with the given prefixes,
so that a stage config's ``init`` can start from a shipped bundle whose stage runs are gone.

    .venv/bin/python tools/stage_weights_from_bundle.py MODEL.safetensors OUT.safetensors vae. [encoders. ...]
        [--exclude .lufs_frame_proj.]

An older bundle comes out of git: ``git show REV:model_weights/compact/model.safetensors > FILE``. Refuses an
existing output, a prefix that matches no key and an exclusion that leaves out none of the kept keys.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def write_stage_weights(model: Path, out: Path, prefixes: list[str], exclude: Sequence[str] = ()) -> int:
    """Write the tensors of ``model`` under ``prefixes`` to ``out`` (which must not exist), less those whose key
    contains one of ``exclude`` (a part the stage's model lacks); their count."""
    if out.exists():
        raise SystemExit(f"{out}: already exists")

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(model), framework="pt") as f:
        keys = list(f.keys())
        for pre in prefixes:
            if not any(k.startswith(pre) for k in keys):
                raise SystemExit(f"{model}: no key starts with {pre!r}")
        chosen = [k for k in keys if k.startswith(tuple(prefixes))]
        for part in exclude:
            if not any(part in k for k in chosen):
                raise SystemExit(f"{model}: no key under {' '.join(prefixes)} contains {part!r}")
        kept = {k: f.get_tensor(k) for k in chosen if not any(part in k for part in exclude)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    meta = {"source": str(model), "prefixes": " ".join(prefixes), "exclude": " ".join(exclude)}
    save_file(kept, str(tmp), metadata=meta)
    tmp.replace(out)
    return len(kept)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model.safetensors")
    p.add_argument("out", type=Path, help="the stage weights to write (must not exist)")
    p.add_argument("prefixes", nargs="+", help="key prefixes to keep, e.g. vae. encoders.")
    p.add_argument(
        "--exclude", action="append", default=[], help="leave out keys containing this (repeatable)"
    )
    args = p.parse_args()
    n = write_stage_weights(args.model, args.out, args.prefixes, args.exclude)
    print(f"{args.out}: {n} tensors from {args.model}")


if __name__ == "__main__":
    main()
