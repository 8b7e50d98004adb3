#!/usr/bin/env bash
# Session 35, third run: s35_gain (two threads), after train.sh's start file exists; resumes from a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
S=docs/training_runs/compact-v3/session35
[ -f runs/compact/dit_v32/weights.safetensors ] || .venv/bin/python tools/stage_weights_from_bundle.py \
  model_weights/compact/model.safetensors runs/compact/dit_v32/weights.safetensors dit. conditioner.
mkdir -p runs/s35
[ -f runs/s35/s35_gain/summary.json ] || .venv/bin/triergon-studio train dit --config $S/s35_gain.json \
  $( [ -f runs/s35/s35_gain/checkpoint.json ] && echo --resume )
