set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen fr_none off '{}' --variant frame
$T gen fr_guide guide '{}' --variant frame
$T gen fr_dec guide '{"guide_head": 0}' --variant frame
$T gen nl_dec guide '{"guide_head": 0}' --variant nolufs
$T score fr_none fr_none_c fr_guide fr_guide_c fr_dec fr_dec_c nl_dec nl_dec_c
