#!/usr/bin/env bash
# Session 34: issue 13's "same recipe with tokens only" row on version 3.2's band-PCA latents. Version 3's DiT
# recipe with dit.lufs_mode 'tokens': version 2.4's DiT and conditioner without the frame-aligned projection,
# dit_mel's 6000 steps (two threads) and dit_track's 600 (one thread) on the same pool, seeds and schedules;
# assembled with the bundle's other parts and sampling settings, its own loudness head, then eval --methods on
# the 36 held-out clips, measured once. Each step is skipped when its output exists.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
P=.venv/bin/python; T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session34; W=runs/compact
mkdir -p runs/v25 runs/s34
[ -f runs/v25/model.safetensors ] || git show 2e62561:model_weights/compact/model.safetensors > runs/v25/model.safetensors
[ -f $W/dit_v24_tokens/weights.safetensors ] || $P $S/stage_inputs.py model_weights/compact/model.safetensors runs/v25/model.safetensors $W
date; [ -f $W/pool_mel.npz ] || $P $S/build_pool.py $S/dit_mel_tokens.json
# the pool and init check: version 3's own dit_mel config, one step; its step-0 loss must be dit_mel/log.csv's
date; [ -f runs/s34/check_mel/log.csv ] || $T train dit --config triergon_studio/training/configs/compact_dit_mel.json --steps 1 --out runs/s34/check_mel
$P - <<'PY'
import csv
a = next(csv.DictReader(open("runs/s34/check_mel/log.csv")))
b = next(csv.DictReader(open("docs/training_runs/compact-v3/dit_mel/log.csv")))
print("step 0 loss: rebuilt", a["loss"], "recorded", b["loss"])
if abs(float(a["loss"]) - float(b["loss"])) > 1e-4:
    raise SystemExit("the rebuilt pool or init does not reproduce dit_mel's first step")
PY
date; [ -f $W/dit_mel_tokens/summary.json ] || $T train dit --config $S/dit_mel_tokens.json $( [ -f $W/dit_mel_tokens/checkpoint.json ] && echo --resume )
date; [ -f $W/dit_track_tokens/summary.json ] || $T train dit --config $S/dit_track_tokens.json $( [ -f $W/dit_track_tokens/checkpoint.json ] && echo --resume )
date; [ -d runs/s34/tokens_v3 ] || $P $S/assemble_tokens_v3.py model_weights/compact $W/dit_track_tokens runs/s34/tokens_v3
date; [ -f runs/s34/tokens_v3/loudness_head.safetensors ] || $T train-loudness-head runs/s34/tokens_v3 --threads 2
date; $T eval model_weights/compact --heldout-dir runs/heldout --tokens-model runs/s34/tokens_v3 --variants tokens \
    --methods none,none+conform,guide,guide+conform,shape,shape+guide --no-motion --out runs/s34/tokens_v3_methods.json
date
