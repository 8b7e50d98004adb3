#!/bin/bash
# after the head: stop the gain net's training (no time for it first), make the candidate's dev take sets
# that need no net (no-LUFS variant), score them; then the net and its take set
export PYTHONPATH=
cd /work/main
while [ ! -e runs/diag11/net_v22.log ]; do sleep 10; done
pkill -f runs/diag11/headnet.sh; pkill -f "train-gain-net runs/compact_v22"; sleep 2
M=runs/compact_v22
for spec in "v22_enc guide {\"guide_gain_net\":0}" "v22_none off {}" "v22_free guide {\"guide_gain\":0}"; do
  set -- $spec
  date; .venv/bin/python tools/guide_dev_takes.py gen $1 $2 "$3" --model $M --variant nolufs --threads 2
done
date
.venv/bin/python tools/guide_dev_takes.py score none gn v22_none v22_enc v22_free
echo scored
date
.venv/bin/triergon-studio train-gain-net runs/compact_v22 --threads 2 > runs/diag11/net_v22.log 2>&1
date
.venv/bin/python tools/guide_dev_takes.py gen v22_gn guide '{}' --model $M --variant nolufs --threads 2
.venv/bin/python tools/guide_dev_takes.py score v22_gn
echo done
