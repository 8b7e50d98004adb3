#!/usr/bin/env bash
# Session 35, third run: s35_gain (two threads); resumes from a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
S=docs/training_runs/compact-v3/session35
source $S/start.sh
[ -f runs/s35/s35_gain/summary.json ] || .venv/bin/triergon-studio train dit --config $S/s35_gain.json \
  $( [ -f runs/s35/s35_gain/checkpoint.json ] && echo --resume )
