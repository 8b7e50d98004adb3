#!/usr/bin/env bash
# What a decoder run does for generated takes, on the 36 dev clips (seed 4242; never the held-out set):
# unguided takes of the frame-aligned path and of the no-LUFS variant with ground-truth curves, from the
# bundle and from a candidate folder with the run's autoencoder (`tools/assemble_candidate.py`), judged by
# the bundle's classifier (`tools/guide_dev_takes.py score`: accuracy, p(right class), KL(ref||gen), raw
# adherence, AV-Align).
# With a third argument `guide` it also makes guided takes (the bundle's default guidance; the candidate needs
# its own loudness head and gain net by then) and scores those against version 2.5's guided takes.
set -e
cd "$(dirname "$0")/../../.."
unset PYTHONPATH
C=${1:?candidate folder}
TAG=${2:?tag}
GUIDE=${3:-}
T=".venv/bin/python tools/guide_dev_takes.py"
takes() {  # $1: none (unguided) or guide; $2: the follow-curves setting
    for v in fr:frame nl:nolufs; do
        [ -f "runs/guide_dev/b25_${v%%:*}_$1.npz" ] || $T gen "b25_${v%%:*}_$1" "$2" '{}' --variant "${v##*:}" --threads 1
        $T gen "${TAG}_${v%%:*}_$1" "$2" '{}' --model "$C" --variant "${v##*:}" --threads 1
    done
    $T score "b25_fr_$1" "b25_fr_$1_c" "${TAG}_fr_$1" "${TAG}_fr_$1_c" \
        "b25_nl_$1" "b25_nl_$1_c" "${TAG}_nl_$1" "${TAG}_nl_$1_c"
}
takes none off
if [ "$GUIDE" = guide ]; then
    takes guide guide
fi
