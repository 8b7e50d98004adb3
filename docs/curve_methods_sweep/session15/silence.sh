set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen nl_sil1 guide '{"guide_silence": 1}' --variant nolufs
$T score nl_none nl_guide nl_sil1 nl_sil1_c
$T gen nl_sil3 guide '{"guide_silence": 3}' --variant nolufs
$T score nl_sil3 nl_sil3_c
$T gen fr_none off '{}' --variant frame
$T gen fr_guide guide '{}' --variant frame
$T gen fr_sil1 guide '{"guide_silence": 1}' --variant frame
$T score fr_none fr_none_c fr_guide fr_guide_c fr_sil1 fr_sil1_c
