#!/usr/bin/env bash
# Session 35: the two curve-term runs side by side, one thread each (configs beside this file). Resumes from a
# checkpoint when one exists.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session35
source $S/start.sh
for n in s35_w03 s35_w10; do
  ( [ -f runs/s35/$n/summary.json ] || $T train dit --config $S/$n.json $( [ -f runs/s35/$n/checkpoint.json ] && echo --resume ) ) \
    > runs/s35/$n.log 2>&1 &
done
wait
