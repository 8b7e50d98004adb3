"""Session 34: dit_mel's pool (3840 segments, seed 41) built again as the recipe builds it (the file is gone).

python build_pool.py STAGE_CONFIG.json
"""

import sys
import time
from pathlib import Path

from triergon_studio.training.config import load_stage_config
from triergon_studio.training.reproduce import build_stage_pool


def main() -> None:
    cfg = load_stage_config(Path(sys.argv[1]))
    if Path(cfg.pool_path).exists():
        raise SystemExit(f"{cfg.pool_path}: already exists")
    t0 = time.perf_counter()
    pool = build_stage_pool(cfg)
    print("pool", cfg.pool_path, len(pool), f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":  # the pool's workers are spawned and import this file
    main()
