set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen nl_b6 guide '{"guide_budget": 6}' --variant nolufs
$T gen nl_b4 guide '{"guide_budget": 4}' --variant nolufs
$T gen nl_s1 guide '{"guide_strength": 1}' --variant nolufs
$T gen nl_f03 guide '{"guide_final": 0.3}' --variant nolufs
$T score nl_none nl_guide nl_b6 nl_b6_c nl_b4 nl_b4_c nl_s1 nl_s1_c nl_f03 nl_f03_c
