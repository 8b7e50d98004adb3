#!/usr/bin/env bash
# Session 35: the two curve-term runs side by side, one thread each (configs beside this file). Resumes from a
# checkpoint when one exists.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session35
mkdir -p runs/s35
# the start: version 3.2's DiT and conditioner (its T_LUFS reads four pictures a frame, which the stage's model
# config does not build, so the stage takes only these keys); vae_mel and encoders are session 34's cuts of the
# same bundle (tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors ... vae. / encoders.)
[ -f runs/compact/dit_v32/weights.safetensors ] || .venv/bin/python tools/stage_weights_from_bundle.py \
  model_weights/compact/model.safetensors runs/compact/dit_v32/weights.safetensors dit. conditioner.
for n in s35_w03 s35_w10; do
  ( [ -f runs/s35/$n/summary.json ] || $T train dit --config $S/$n.json $( [ -f runs/s35/$n/checkpoint.json ] && echo --resume ) ) \
    > runs/s35/$n.log 2>&1 &
done
wait
