#!/usr/bin/env bash
# Session 16: the tokens-only model's shape rows on version 2.2 (left out in session 15: its weights lived in a
# runs/ folder that a fresh machine did not have). Remakes session 14's tokens-only folder with session 14's
# configs and scripts unchanged, then runs eval --methods with the shape rows (as session 15 did for the
# bundle) on the 36 held-out clips once. The first start was stopped during the first DiT run to widen the
# methods list; a loop waiting on that run started the script again, and the finished steps were skipped.
set -euo pipefail
cd /work/main; unset PYTHONPATH
P=.venv/bin/python; T=.venv/bin/triergon-studio; S14=docs/curve_methods_sweep/session14; W=runs/compact
mkdir -p runs/v21
[ -f runs/v21/model.safetensors ] || git show 8070931^:model_weights/compact/model.safetensors > runs/v21/model.safetensors
[ -f $W/vae/weights.safetensors ] || $P tools/stage_weights_from_bundle.py runs/v21/model.safetensors $W/vae/weights.safetensors vae.
[ -f $W/encoders/weights.safetensors ] || $P tools/stage_weights_from_bundle.py runs/v21/model.safetensors $W/encoders/weights.safetensors encoders.
[ -f $W/vae_v22/weights.safetensors ] || $P tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors $W/vae_v22/weights.safetensors vae.
[ -f $W/bundle_rest/weights.safetensors ] || $P tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors $W/bundle_rest/weights.safetensors vae. encoders. lufs_predictor.
date; [ -f $W/pool.npz ] || $P -c "from pathlib import Path; from triergon_studio.training.reproduce import build_shared_pool; print(build_shared_pool(Path('$W')))"
date; [ -f $W/dit_tokens/summary.json ] || $T train dit --config $S14/dit_tokens_2t.json $( [ -f $W/dit_tokens/checkpoint.json ] && echo --resume )
date; [ -f $W/dit_tokens_v22/summary.json ] || $T train dit --config $S14/dit_tokens_v22.json
date; [ -d runs/tokens22 ] || $P $S14/assemble_tokens22.py runs/tokens22
date; [ -f runs/tokens22/loudness_head.safetensors ] || $T train-loudness-head runs/tokens22 --threads 2
date; $T eval model_weights/compact --heldout-dir runs/heldout --tokens-model runs/tokens22 --variants tokens \
    --methods none,shape,shape+conform,shape+guide,shape+guide+conform --no-motion --out runs/tokens22_shape.json
date
