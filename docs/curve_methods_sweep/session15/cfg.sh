set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen nl_none off '{}' --variant nolufs
$T gen nl_guide guide '{}' --variant nolufs
$T gen nl_guide_c6 guide '{}' --variant nolufs --cfg 6
$T gen nl_none_c6 off '{}' --variant nolufs --cfg 6
$T score nl_none nl_none_c nl_guide nl_guide_c nl_guide_c6 nl_guide_c6_c nl_none_c6 nl_none_c6_c
