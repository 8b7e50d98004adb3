set -e
T=".venv/bin/python tools/guide_dev_takes.py"
$T gen nl_sil1 guide '{"guide_silence": 1}' --variant nolufs
$T score nl_none nl_guide nl_sil1 nl_sil1_c
$T gen nl_sil3 guide '{"guide_silence": 3}' --variant nolufs
$T score nl_sil3 nl_sil3_c
# the frame-aligned takes (fr_none, fr_guide, fr_sil1) were stopped unfinished to free the CPU for the transplant
