#!/usr/bin/env bash
# Dev-clip comparison of the v3 candidate against version 2.5 (36 dev clips, seed 4242; never the held-out set).
# Version 2.5's takes: nolufs `none`/`guide` (session 27) and frame `v25_fr_none`/`v25_fr_guide` (session 28),
# all with ground-truth curves. Version 2.5's Table 3 dev rows are version 2.4's DiT
# (docs/training_runs/compact-v2.4/dev_rows_cand.*): T_LUFS is not read by those rows.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:-runs/v3/cand}
O=docs/training_runs/compact-v3
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen c3_fr_none off '{}' --model "$C" --variant frame --threads 2
$T gen c3_fr_guide guide '{}' --model "$C" --variant frame --threads 2
$T gen c3_nl_none off '{}' --model "$C" --variant nolufs --threads 2
$T gen c3_nl_guide guide '{}' --model "$C" --variant nolufs --threads 2
$T score none guide v25_fr_none v25_fr_guide c3_nl_none c3_nl_guide c3_fr_none c3_fr_guide | tee $O/dev_scores.txt
.venv/bin/triergon-studio eval "$C" --heldout-dir runs/devclips36 --rows T,V+T,V+T+GT \
    --classifier model_weights/compact/eval_classifier.safetensors \
    --out "$O/dev_rows_v3.json" | grep -v " clip [0-9]*:" > "$O/dev_rows_v3.md"
