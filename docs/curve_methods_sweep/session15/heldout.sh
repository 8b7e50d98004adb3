set -e
E=".venv/bin/triergon-studio eval model_weights/compact --heldout-dir runs/heldout --variants nolufs,frame --no-motion"
D=docs/training_runs/compact-v2.2
date
$E --methods none,shape,shape+conform,shape+guide,shape+guide+conform --out $D/methods_shape.json > runs/h15_shape.log 2>&1
date
$E --methods none,guide,guide+conform --guide guide_head=0 --out $D/methods_decoder.json > runs/h15_dec.log 2>&1
date
