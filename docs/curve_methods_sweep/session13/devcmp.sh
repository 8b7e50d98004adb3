#!/usr/bin/env bash
# Session 13: the guidance mode for a balance-keeping bundle (v2.2), chosen on the 36 dev clips (seed 4242).
cd /work/main; unset PYTHONPATH
P=.venv/bin/python; T=tools/guide_dev_takes.py; M=model_weights/compact
$P $T gen f22_off off '{}' --model $M --variant frame --threads 2
$P $T gen f22_gains guide '{}' --model $M --variant frame --threads 2
$P $T gen f22_free guide '{"guide_gain":0}' --model $M --variant frame --threads 2
$P $T gen f22_final guide '{"guide_gain":1}' --model $M --variant frame --threads 2
$P $T gen v22_final guide '{"guide_gain":1}' --model $M --variant nolufs --threads 2
$P $T score f22_off f22_off_c f22_gains f22_free f22_final v22_final
date
