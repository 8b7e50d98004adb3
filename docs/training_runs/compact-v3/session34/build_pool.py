"""Session 34: dit_mel's pool (3840 segments, seed 41) built again as the recipe builds it (the file is gone)."""

import dataclasses
import sys
import time
from pathlib import Path

from triergon_studio.training.config import load_stage_config
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.pool import build_pool
from triergon_studio.training.stages import segment_spec


def main() -> None:
    cfg = load_stage_config(Path(sys.argv[1]))
    if Path(cfg.pool_path).exists():
        raise SystemExit(f"{cfg.pool_path}: already exists")
    t0 = time.perf_counter()
    spec = dataclasses.replace(segment_spec(cfg), with_video=True, with_frames6=True)
    pool = build_pool(cfg.pool_size, cfg.seed, spec, CorpusConfig(**cfg.corpus), workers=cfg.pool_workers)
    pool.save(Path(cfg.pool_path))
    print("pool", cfg.pool_path, len(pool), f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":  # the pool's workers are spawned and import this file
    main()
