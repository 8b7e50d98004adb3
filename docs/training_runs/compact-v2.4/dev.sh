#!/usr/bin/env bash
# Dev-clip comparison of the v2.4 candidate against the bundle (36 dev clips, seed 4242; never the held-out
# set). The bundle's takes (fr_none, fr_guide, nl_none, nl_guide) are session 15's: version 2.3's DiT is
# version 2.2's, and these takes read ground-truth curves, not T_LUFS.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:-runs/s18/cand}
O=docs/training_runs/compact-v2.4
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen c24_fr_none off '{}' --model "$C" --variant frame --threads 2
$T gen c24_fr_guide guide '{}' --model "$C" --variant frame --threads 2
$T gen c24_nl_none off '{}' --model "$C" --variant nolufs --threads 2
$T gen c24_nl_guide guide '{}' --model "$C" --variant nolufs --threads 2
$T score fr_none fr_none_c fr_guide c24_fr_none c24_fr_none_c c24_fr_guide \
    nl_none nl_none_c nl_guide c24_nl_none c24_nl_none_c c24_nl_guide | tee $O/dev_scores.txt
# Table 3's text-only and video+text+curves rows on the dev clips, both models
for m in model_weights/compact "$C"; do
    .venv/bin/triergon-studio eval "$m" --heldout-dir runs/devclips36 --rows T,V+T,V+T+GT \
        --classifier model_weights/compact/eval_classifier.safetensors \
        --out "$O/dev_rows_$(basename "$m").json" | grep -v " clip [0-9]*:" > "$O/dev_rows_$(basename "$m").md"
done
