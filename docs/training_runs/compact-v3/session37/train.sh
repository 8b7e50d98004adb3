#!/usr/bin/env bash
# Session 37: session 36's two per-block curve runs again, started from version 3.3's DiT and conditioner, side
# by side, one thread each (configs beside this file). Resumes from a checkpoint when one exists.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session37
[ -f runs/compact/dit_v33/weights.safetensors ] || .venv/bin/python tools/stage_weights_from_bundle.py \
  model_weights/compact/model.safetensors runs/compact/dit_v33/weights.safetensors dit. conditioner.
mkdir -p runs/s37
for n in s37_blk s37_blkw; do
  ( [ -f runs/s37/$n/summary.json ] || $T train dit --config $S/$n.json $( [ -f runs/s37/$n/checkpoint.json ] && echo --resume ) ) \
    > runs/s37/$n.log 2>&1 &
done
wait
