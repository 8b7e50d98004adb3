#!/usr/bin/env bash
# What a decoder run does for generated takes, on the 36 dev clips (seed 4242; never the held-out set):
# unguided takes of the frame-aligned path and of the no-LUFS variant with ground-truth curves, from the
# bundle and from a candidate folder with the run's autoencoder (`tools/assemble_candidate.py`), judged by
# the bundle's classifier (`tools/guide_dev_takes.py score`: accuracy, p(right class), raw adherence, AV-Align).
# Guided takes need the candidate's own loudness head and are left for the held-out step.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:?candidate folder}
TAG=${2:?tag}
T=".venv/bin/python tools/guide_dev_takes.py"
[ -f runs/guide_dev/b25_fr_none.npz ] || $T gen b25_fr_none off '{}' --variant frame --threads 1
[ -f runs/guide_dev/b25_nl_none.npz ] || $T gen b25_nl_none off '{}' --variant nolufs --threads 1
$T gen "${TAG}_fr_none" off '{}' --model "$C" --variant frame --threads 1
$T gen "${TAG}_nl_none" off '{}' --model "$C" --variant nolufs --threads 1
$T score b25_fr_none b25_fr_none_c "${TAG}_fr_none" "${TAG}_fr_none_c" \
    b25_nl_none b25_nl_none_c "${TAG}_nl_none" "${TAG}_nl_none_c"
