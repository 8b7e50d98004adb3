#!/bin/bash
cd /work/main
OMP_NUM_THREADS=1 .venv/bin/triergon-studio eval runs/compact/model_tokens --heldout-dir runs/heldout --clips 36 \
  --methods none,shape,guide,shape+guide,none+conform,guide+conform,shape+guide+conform --variants frame --no-motion --json \
  --classifier model_weights/compact/eval_classifier.safetensors \
  --out runs/eval18/tokens.json > runs/eval18/tokens.log 2>&1
OMP_NUM_THREADS=1 .venv/bin/triergon-studio eval model_weights/compact --heldout-dir runs/heldout --clips 36 \
  --methods none,guide,none+conform,guide+conform --variants nolufs --no-motion --guide guide_head=0 --guide guide_gain=2 --json \
  --out runs/eval18/nolufs_decoder_gain.json > runs/eval18/nolufs_decoder_gain.log 2>&1
