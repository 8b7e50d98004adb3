#!/usr/bin/env bash
# Session 38: rebuild session 37's second round from the bundle in git (s37_blk, s37_blkw and their mean
# s37_mid; the runs were lost with that session's machine), check the rebuilt logs against the committed ones,
# then a third round from s37_mid (s38_blk, s38_blkw, seed 38, side by side, one thread each), their mean s38_mid
# and the candidate folder runs/v38/mid_cc (version 3.3's bundle with s38_mid's DiT and conditioner). Each step
# is skipped when its output exists; a run resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
P=.venv/bin/python; T=.venv/bin/triergon-studio; S=docs/training_runs/compact-v3/session38; W=runs/compact
S34=docs/training_runs/compact-v3/session34; B=model_weights/compact/model.safetensors
stage() { [ -f $W/$1/weights.safetensors ] || $P tools/stage_weights_from_bundle.py $B $W/$1/weights.safetensors "${@:2}"; }
mean() { [ -f runs/$1/weights.safetensors ] || $P tools/weight_soup.py --out runs/$1/weights.safetensors "${@:2}"; }
stage vae_mel vae.
stage encoders encoders.
date; [ -f $W/pool_mel.npz ] || $P $S34/build_pool.py $S34/dit_mel_tokens.json
date; bash docs/training_runs/compact-v3/session37/train.sh
$P $S/same_logs.py s37_blk s37_blkw
mean s37/s37_mid runs/s37/s37_blk/weights.safetensors runs/s37/s37_blkw/weights.safetensors
date; mkdir -p runs/s38
for n in s38_blk s38_blkw; do
  ( [ -f runs/s38/$n/summary.json ] || $T train dit --config $S/$n.json $( [ -f runs/s38/$n/checkpoint.json ] && echo --resume ) ) \
    > runs/s38/$n.log 2>&1 &
done
wait
for n in s38_blk s38_blkw; do [ -f runs/s38/$n/summary.json ] || { echo "$n did not finish"; exit 1; }; done
mean s38/s38_mid runs/s38/s38_blk/weights.safetensors runs/s38/s38_blkw/weights.safetensors
if [ ! -d runs/v38/mid_cc ]; then
  mkdir -p runs/v38
  $P tools/assemble_candidate.py model_weights/compact runs/v38/mid_cc --dit runs/s38/s38_mid/weights.safetensors
  [ -f runs/v38/mid_cc/eval_classifier.safetensors ] || cp model_weights/compact/eval_classifier.safetensors runs/v38/mid_cc/
fi
date; echo done
