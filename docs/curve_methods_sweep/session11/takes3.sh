#!/bin/bash
# after takes2: two trade-off points of the free latent on the candidate (dev clips only)
export PYTHONPATH=
cd /work/main
while ! grep -q "^done" runs/diag11/takes2.out; do sleep 15; done
M=runs/compact_v22
for spec in "v22_free_s1 guide {\"guide_gain\":0,\"guide_strength\":1}" "v22_free_fa2 guide {\"guide_gain\":0,\"guide_final_at\":2}"; do
  set -- $spec
  date; .venv/bin/python tools/guide_dev_takes.py gen $1 $2 "$3" --model $M --variant nolufs --threads 2
done
.venv/bin/python tools/guide_dev_takes.py score v22_free_s1 v22_free_fa2 v22_free_s1_c v22_free_c v22_enc_c
echo done
