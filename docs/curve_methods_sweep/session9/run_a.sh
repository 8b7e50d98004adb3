#!/bin/bash
cd /work/main
OMP_NUM_THREADS=1 .venv/bin/triergon-studio eval model_weights/compact --heldout-dir runs/heldout --clips 36 \
  --methods none,shape,guide,shape+guide,none+conform,guide+conform,shape+guide+conform --variants frame,nolufs --json \
  --out runs/eval18/frame_nolufs.json > runs/eval18/frame_nolufs.log 2>&1
