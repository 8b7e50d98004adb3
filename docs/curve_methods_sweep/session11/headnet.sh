#!/bin/bash
set -e
export PYTHONPATH=
cd /work/main
date
/usr/bin/time -v .venv/bin/triergon-studio train-loudness-head runs/compact_v22 --threads 2 > runs/diag11/head_v22.log 2>&1
date
/usr/bin/time -v .venv/bin/triergon-studio train-gain-net runs/compact_v22 --threads 2 > runs/diag11/net_v22.log 2>&1
date
echo done
