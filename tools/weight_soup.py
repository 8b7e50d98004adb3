"""The element-wise mean of several runs' weights (a "model soup").

The runs must be fine-tunes of one start, so that their weights share a basin; the tool cannot check that and
says so. It does check what it can: every file holds the same keys with the same shapes and dtypes, integer
tensors (step counters) are equal, and the output does not exist yet. The run folder's ``config.json`` of the
first input is copied beside the output, so ``dev_check --lufs-weights OUT`` builds the same network.

    python tools/weight_soup.py --out runs/s33/soup3/weights.safetensors \
        runs/s32/lufs_sub4/weights.safetensors runs/s32/lufs_sub4_seed35/weights.safetensors \
        runs/s32/lufs_sub4_seed36/weights.safetensors
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from triergon_studio.training.weight_soup import SoupError, read_weights, soup  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+", help="weights.safetensors of runs from one start")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.out.exists():
        ap.error(f"{args.out}: exists; choose another path")
    try:
        parts = []
        metas = []
        for p in args.weights:
            sd, meta = read_weights(p)
            parts.append((p, sd))
            metas.append(meta)
        mixed = soup(parts)
    except SoupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from safetensors.torch import save_file

    meta = {k: v for k, v in metas[0].items() if k == "stage"}
    meta["soup_of"] = json.dumps([str(p) for p in args.weights])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    save_file(mixed, str(tmp), metadata=meta)
    tmp.replace(args.out)
    conf = args.weights[0].parent / "config.json"
    if conf.is_file() and not (args.out.parent / "config.json").exists():
        shutil.copyfile(conf, args.out.parent / "config.json")
    print(f"wrote {args.out}: mean of {len(parts)} files, {len(mixed)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
