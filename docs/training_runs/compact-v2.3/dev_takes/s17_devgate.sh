set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen s17_nl_hard guide '{}' --variant nolufs --curves t_lufs --model model_weights/compact
$T gen s17_nl_soft guide '{}' --variant nolufs --curves t_lufs --model runs/s17/cand_soft
$T gen s17_fr_hard off '{}' --variant frame --curves t_lufs --model model_weights/compact
$T gen s17_fr_soft off '{}' --variant frame --curves t_lufs --model runs/s17/cand_soft
$T score s17_nl_hard s17_nl_soft s17_fr_hard s17_fr_soft
