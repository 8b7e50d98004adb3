#!/usr/bin/env bash
# Dev-clip comparison of the v2.6 candidate (version 2.5 with the decoder trained on with the loudness-curve
# term) against the bundle: 36 dev clips (seed 4242; never the held-out set). The bundle's takes are
# compact-v2.4/dev_scores.txt's c24_* rows: these takes read ground-truth curves, not T_LUFS, and every part
# they use is version 2.4's in version 2.5.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:-runs/s22/cand}
O=docs/training_runs/compact-v2.6
T=".venv/bin/python tools/guide_dev_takes.py"
K="--classifier model_weights/compact/eval_classifier.safetensors"
$T gen c26_fr_none off '{}' --model "$C" --variant frame --threads 2
$T gen c26_nl_none off '{}' --model "$C" --variant nolufs --threads 2
$T gen c26_fr_guide guide '{}' --model "$C" --variant frame --threads 2
$T gen c26_nl_guide guide '{}' --model "$C" --variant nolufs --threads 2
$T score c26_fr_none c26_fr_none_c c26_fr_guide c26_nl_none c26_nl_none_c c26_nl_guide | tee $O/dev_scores.txt
# Table 3's text-only and video+text+curves rows on the dev clips (the bundle's: compact-v2.4/dev_rows_cand.*)
.venv/bin/triergon-studio eval "$C" --heldout-dir runs/devclips36 --rows T,V+T,V+T+GT $K \
    --out "$O/dev_rows_cand.json" | grep -v " clip [0-9]*:" > "$O/dev_rows_cand.md"
