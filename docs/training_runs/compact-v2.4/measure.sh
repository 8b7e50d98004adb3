#!/usr/bin/env bash
# The v2.4 candidate on the 36 held-out clips, once, after the dev comparison (dev.sh): every Table 3 row, and
# the curve methods with the bundle's own guidance default plus the curves from motion, side by side (one
# torch thread each on the 2 cores). A second argument writes the reports to another folder (version 2.6's).
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:-runs/s18/cand}
O=${2:-docs/training_runs/compact-v2.4}
mkdir -p "$O"
E="env OMP_NUM_THREADS=1 .venv/bin/triergon-studio eval $C --heldout-dir runs/heldout"
$E --rows all --out $O/table3.json | grep -v " clip [0-9]*:" > $O/table3.md &
$E --methods none,none+conform,guide,guide+conform --variants nolufs,frame --out $O/methods.json \
    | grep -v " clip [0-9]*:" > $O/methods.md &
wait
