#!/usr/bin/env bash
# Session 36: the two per-block curve runs side by side, one thread each (configs beside this file). Resumes
# from a checkpoint when one exists. The start file is session 35's (version 3.2's DiT and conditioner).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session36
source docs/training_runs/compact-v3/session35/start.sh
mkdir -p runs/s36
for n in s36_blk s36_blkw; do
  ( [ -f runs/s36/$n/summary.json ] || $T train dit --config $S/$n.json $( [ -f runs/s36/$n/checkpoint.json ] && echo --resume ) ) \
    > runs/s36/$n.log 2>&1 &
done
wait
