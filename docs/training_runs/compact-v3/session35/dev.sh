#!/usr/bin/env bash
# Session 35: dev takes (108 dev clips, seed 4242, ground-truth curves; never the held-out set) for one model
# folder: frame-aligned unguided, the LUFS input dropped unguided, and frame-aligned with the bundle's default
# guidance. Takes go to runs/guide_dev/NAME_{fr,nl,frg}.npz; scores are appended to dev_scores.txt.
#   [SCORES=FILE] bash dev.sh NAME MODEL_DIR [THREADS]   (SCORES: where the scores go; later sessions use it)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
P=.venv/bin/python; S=docs/training_runs/compact-v3/session35
N=$1; M=$2; TH=${3:-2}
[ -d runs/devclips108 ] || .venv/bin/triergon-studio corpus write-heldout runs/devclips108 -n 108 --seed 4242
G="$P tools/guide_dev_takes.py gen --model $M --threads $TH --dev-dir runs/devclips108 --clips 108"
[ -f runs/guide_dev/${N}_fr.npz ] || $G ${N}_fr off '{}' --variant frame
[ -f runs/guide_dev/${N}_nl.npz ] || $G ${N}_nl off '{}' --variant nolufs
[ -f runs/guide_dev/${N}_frg.npz ] || $G ${N}_frg guide '{}' --variant frame
$P tools/guide_dev_takes.py score ${N}_fr ${N}_nl ${N}_frg --dev-dir runs/devclips108 --clips 108 \
  --classifier model_weights/compact/eval_classifier.safetensors | tee -a "${SCORES:-$S/dev_scores.txt}"
