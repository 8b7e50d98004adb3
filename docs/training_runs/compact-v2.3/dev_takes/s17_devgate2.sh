set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen s17_nl_v22 guide '{}' --variant nolufs --curves t_lufs --model runs/s17/v22
$T gen s17_fr_v22 off '{}' --variant frame --curves t_lufs --model runs/s17/v22
$T score s17_nl_v22 s17_nl_hard s17_nl_soft s17_fr_v22 s17_fr_hard s17_fr_soft
