#!/bin/bash
# after the dev take sets: the candidate on the held-out set with the default guidance (measured once, not tuned on)
export PYTHONPATH=
cd /work/main

date
.venv/bin/triergon-studio eval runs/compact_v22 --classifier model_weights/compact/eval_classifier.safetensors --heldout-dir runs/heldout --methods none,guide,guide+conform --variants nolufs --no-motion --out runs/diag11/heldout_v22.json > runs/diag11/heldout_v22.md 2> runs/diag11/heldout_v22.err
date
echo done
