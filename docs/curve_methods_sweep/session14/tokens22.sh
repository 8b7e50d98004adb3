#!/usr/bin/env bash
# Session 14: the tokens-only comparison on version 2.2, the bundle's recipe: the tokens DiT on version 2.1's
# latents (compact_dit_tokens.json, two threads), fine-tuned 600 steps on the coherent-side latents (as
# compact_dit_v22.json), assembled with the bundle's other parts, its own loudness head, then eval --methods.
set -euo pipefail
cd /work/main; unset PYTHONPATH
P=.venv/bin/python; T=.venv/bin/triergon-studio; S=docs/curve_methods_sweep/session14; W=runs/compact
mkdir -p runs/v21
[ -f runs/v21/model.safetensors ] || git show 8070931^:model_weights/compact/model.safetensors > runs/v21/model.safetensors
[ -f $W/vae/weights.safetensors ] || $P tools/stage_weights_from_bundle.py runs/v21/model.safetensors $W/vae/weights.safetensors vae.
[ -f $W/encoders/weights.safetensors ] || $P tools/stage_weights_from_bundle.py runs/v21/model.safetensors $W/encoders/weights.safetensors encoders.
[ -f $W/vae_v22/weights.safetensors ] || $P tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors $W/vae_v22/weights.safetensors vae.
[ -f $W/bundle_rest/weights.safetensors ] || $P tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors $W/bundle_rest/weights.safetensors vae. encoders. lufs_predictor.
date; $P -c "from pathlib import Path; from triergon_studio.training.reproduce import build_shared_pool; print(build_shared_pool(Path('$W')))"
date; [ -f $W/dit_tokens/summary.json ] || $T train dit --config $S/dit_tokens_2t.json $( [ -f $W/dit_tokens/checkpoint.json ] && echo --resume )
date; $T train dit --config $S/dit_tokens_v22.json
date; [ -d runs/tokens22 ] || $P $S/assemble_tokens22.py runs/tokens22
date; $T train-loudness-head runs/tokens22 --threads 2
date; $T eval model_weights/compact --heldout-dir runs/heldout --tokens-model runs/tokens22 --variants tokens \
    --methods none,none+conform,guide,guide+conform --no-motion --out runs/tokens22_methods.json
date
