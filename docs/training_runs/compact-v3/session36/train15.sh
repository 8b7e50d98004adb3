#!/usr/bin/env bash
# Session 36, third rule: s36_blkw with the curve term at half its weight (two threads). Resumes from a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
S=docs/training_runs/compact-v3/session36
source docs/training_runs/compact-v3/session35/start.sh
mkdir -p runs/s36
[ -f runs/s36/s36_blkw15/summary.json ] || .venv/bin/triergon-studio train dit --config $S/s36_blkw15.json \
  $( [ -f runs/s36/s36_blkw15/checkpoint.json ] && echo --resume ) > runs/s36/s36_blkw15.log 2>&1
