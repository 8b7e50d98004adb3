"""Dev-only CFG sweep: Table 3 rows T, V+T, V+T+GT on the 36 dev clips with the bundle's CFG replaced."""
import dataclasses, sys, json, torch
from pathlib import Path
torch.set_num_threads(1)
from triergon_studio.takes import load_model
from triergon_studio.training.eval.report import load_clips, evaluate
from triergon_studio.training.eval.classifier import load_classifier
cfg = float(sys.argv[1])
m = load_model('model_weights/compact')
m.lufs_predictor = None  # rows without T_LUFS
m.info = dataclasses.replace(m.info, defaults=dataclasses.replace(m.info.defaults, cfg=cfg))
clf, _ = load_classifier(Path('model_weights/compact/eval_classifier.safetensors'))
clips = load_clips(Path('runs/devclips36'), 36)
with torch.inference_mode():
    rep = evaluate(m, clips, clf, rows=("T", "V+T", "V+T+GT"))
d = rep.to_dict()
Path(f'/work/runs/cfg_sweep_{cfg}.json').write_text(json.dumps(d))
for r, v in d['rows'].items():
    print(f"cfg {cfg} {r}: acc {v['class_acc']} KL {v['kl_ref_gen']} AV {v['av_align_ratio']} raw {v.get('lufs_mae_raw')}")
