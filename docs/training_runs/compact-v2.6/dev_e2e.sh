#!/usr/bin/env bash
# What a decoder run does for generated takes, on the 36 dev clips (seed 4242; never the held-out set):
# unguided takes of the frame-aligned path and of the no-LUFS variant with ground-truth curves, from the
# bundle and from a candidate folder with the run's autoencoder (`tools/assemble_candidate.py`), judged by
# the bundle's classifier (`tools/guide_dev_takes.py score`: accuracy, p(right class), raw adherence, AV-Align).
# With a third argument `guide` it also makes guided takes (the bundle's default guidance; the candidate needs
# its own loudness head and gain net by then) and scores those against version 2.5's guided takes.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:?candidate folder}
TAG=${2:?tag}
GUIDE=${3:-}
T=".venv/bin/python tools/guide_dev_takes.py"
[ -f runs/guide_dev/b25_fr_none.npz ] || $T gen b25_fr_none off '{}' --variant frame --threads 1
[ -f runs/guide_dev/b25_nl_none.npz ] || $T gen b25_nl_none off '{}' --variant nolufs --threads 1
$T gen "${TAG}_fr_none" off '{}' --model "$C" --variant frame --threads 1
$T gen "${TAG}_nl_none" off '{}' --model "$C" --variant nolufs --threads 1
$T score b25_fr_none b25_fr_none_c "${TAG}_fr_none" "${TAG}_fr_none_c" \
    b25_nl_none b25_nl_none_c "${TAG}_nl_none" "${TAG}_nl_none_c"
if [ "$GUIDE" = guide ]; then
    [ -f runs/guide_dev/b25_fr_guide.npz ] || $T gen b25_fr_guide guide '{}' --variant frame --threads 1
    [ -f runs/guide_dev/b25_nl_guide.npz ] || $T gen b25_nl_guide guide '{}' --variant nolufs --threads 1
    $T gen "${TAG}_fr_guide" guide '{}' --model "$C" --variant frame --threads 1
    $T gen "${TAG}_nl_guide" guide '{}' --model "$C" --variant nolufs --threads 1
    $T score b25_fr_guide b25_fr_guide_c "${TAG}_fr_guide" "${TAG}_fr_guide_c" \
        b25_nl_guide b25_nl_guide_c "${TAG}_nl_guide" "${TAG}_nl_guide_c"
fi
