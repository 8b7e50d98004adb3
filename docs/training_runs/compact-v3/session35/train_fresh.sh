#!/usr/bin/env bash
# Session 35, fourth run: s35_fresh (two threads) on a fresh pool built from pool_s35.json; resumes from a
# checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
S=docs/training_runs/compact-v3/session35
source $S/start.sh
# -c, not a here-document: the pool's worker processes start by spawn, which cannot re-read a script from stdin
[ -f runs/compact/pool_s35.npz ] || .venv/bin/python -c "
from triergon_studio.training.config import load_stage_config
from triergon_studio.training.reproduce import build_stage_pool
build_stage_pool(load_stage_config('$S/pool_s35.json'))"
[ -f runs/s35/s35_fresh/summary.json ] || .venv/bin/triergon-studio train dit --config $S/s35_fresh.json \
  $( [ -f runs/s35/s35_fresh/checkpoint.json ] && echo --resume )
