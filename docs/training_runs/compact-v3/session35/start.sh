#!/usr/bin/env bash
# Session 35: the runs' start file, sourced by train.sh, train_gain.sh and train_fresh.sh from the repository
# root: version 3.2's DiT and conditioner (its T_LUFS reads four pictures a frame, which the stage's model config
# does not build, so the stages take only these keys). vae_mel and encoders are session 34's cuts of the same
# bundle (tools/stage_weights_from_bundle.py model_weights/compact/model.safetensors ... vae. / encoders.).
[ -f runs/compact/dit_v32/weights.safetensors ] || .venv/bin/python tools/stage_weights_from_bundle.py \
  model_weights/compact/model.safetensors runs/compact/dit_v32/weights.safetensors dit. conditioner.
mkdir -p runs/s35
