#!/usr/bin/env bash
# Session 38: dev takes (108 dev clips, seed 4242, ground-truth curves; never the held-out set) for one model
# folder, only the rows named, scored together and appended to dev_scores.txt. Rows: fr (frame-aligned,
# unguided), nl (LUFS input dropped), frg (frame-aligned, default guidance), tx (the caption alone), nlg (LUFS
# input dropped, default guidance). As run here:
#   THREADS=1 bash dev.sh v33 model_weights/compact fr nl nlg    (beside the second round's training)
#   bash dev.sh s38 runs/v38/mid_cc fr                           (rule 2 failed, so no other row)
#   bash dev.sh s37re runs/v38/s37mid_cc fr                      (the rebuilt start, a check)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
unset PYTHONPATH
P=.venv/bin/python; S=docs/training_runs/compact-v3/session38
N=$1; M=$2; shift 2
names=()
for row in "$@"; do
  case $row in
    fr) args=(off frame) ;; nl) args=(off nolufs) ;; frg) args=(guide frame) ;; tx) args=(off text) ;;
    nlg) args=(guide nolufs) ;; *) echo "dev.sh: unknown row '$row' (fr, nl, frg, tx, nlg)" >&2; exit 2 ;;
  esac
  [ -f runs/guide_dev/${N}_$row.npz ] || $P tools/guide_dev_takes.py gen ${N}_$row "${args[0]}" '{}' \
    --variant "${args[1]}" --model $M --threads "${THREADS:-2}" --dev-dir runs/devclips108 --clips 108
  names+=("${N}_$row")
done
$P tools/guide_dev_takes.py score "${names[@]}" --dev-dir runs/devclips108 --clips 108 \
  --classifier model_weights/compact/eval_classifier.safetensors | tee -a $S/dev_scores.txt
