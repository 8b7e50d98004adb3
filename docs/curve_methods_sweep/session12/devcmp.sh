#!/usr/bin/env bash
cd /work/main; unset PYTHONPATH
P=.venv/bin/python; T=tools/guide_dev_takes.py
$P $T gen v22_off off '{}' --model model_weights/compact --variant nolufs --threads 2
$P $T gen v22_gains guide '{}' --model model_weights/compact --variant nolufs --threads 2
$P $T gen v22_free guide '{"guide_gain":0}' --model model_weights/compact --variant nolufs --threads 2
$P $T score v22_off v22_off_c v22_gains v22_free
date
