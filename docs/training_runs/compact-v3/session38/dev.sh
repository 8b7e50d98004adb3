#!/usr/bin/env bash
# Session 38: dev takes (108 dev clips, seed 4242, ground-truth curves; never the held-out set) for one model
# folder: session 37's four rows (frame-aligned unguided, LUFS input dropped, frame-aligned guided, the caption
# alone) and the LUFS input dropped with the default guidance (`_nlg`). Scores are appended to dev_scores.txt.
#   bash dev.sh NAME MODEL_DIR [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
P=.venv/bin/python; S=docs/training_runs/compact-v3/session38
N=$1; M=$2; TH=${3:-2}
G="$P tools/guide_dev_takes.py gen --model $M --threads $TH --dev-dir runs/devclips108 --clips 108"
[ -f runs/guide_dev/${N}_fr.npz ] || $G ${N}_fr off '{}' --variant frame
[ -f runs/guide_dev/${N}_nl.npz ] || $G ${N}_nl off '{}' --variant nolufs
[ -f runs/guide_dev/${N}_frg.npz ] || $G ${N}_frg guide '{}' --variant frame
[ -f runs/guide_dev/${N}_tx.npz ] || $G ${N}_tx off '{}' --variant text
[ -f runs/guide_dev/${N}_nlg.npz ] || $G ${N}_nlg guide '{}' --variant nolufs
$P tools/guide_dev_takes.py score ${N}_fr ${N}_nl ${N}_frg ${N}_tx ${N}_nlg --dev-dir runs/devclips108 --clips 108 \
  --classifier model_weights/compact/eval_classifier.safetensors | tee -a $S/dev_scores.txt
