set -e
P=".venv/bin/python docs/curve_methods_sweep/session15/transplant.py"
$P gen nl_tp30 guide '{}' --variant nolufs
TP='{"erase": 1}' $P gen nl_tp30e guide '{}' --variant nolufs
TP='{"at": 0.5}' $P gen nl_tp50 guide '{}' --variant nolufs
.venv/bin/python tools/guide_dev_takes.py score nl_none nl_guide nl_tp30 nl_tp30_c nl_tp30e nl_tp30e_c nl_tp50 nl_tp50_c
