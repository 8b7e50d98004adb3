"""Session 14: the tokens-only comparison folder for version 2.2: the bundle's autoencoder, encoders and
T_LUFS with the DiT and conditioner of ``runs/compact/dit_tokens_v22``, the bundle's own guidance knobs."""

import sys
from pathlib import Path

from triergon_studio.engine.config import ModelConfig, get_preset
from triergon_studio.engine.models.triergon import build_model
from triergon_studio.engine.weights import save_model_dir
from triergon_studio.training.config import merge_overrides
from triergon_studio.training.reproduce import PAN_GUIDE
from triergon_studio.training.stages import load_stage_weights

out = Path(sys.argv[1])
overrides = {"vae": {"side": "coherent"}, "dit": {"lufs_mode": "tokens"}}
cfg = ModelConfig.from_dict(merge_overrides(get_preset("compact").to_dict(), overrides))
cfg.sampling.guide = dict(PAN_GUIDE)
cfg.name = "compact-dit-tokens-v22"
model = build_model(cfg)
paths = ["runs/compact/bundle_rest/weights.safetensors", "runs/compact/dit_tokens_v22/weights.safetensors"]
loaded = set(load_stage_weights(model, paths))
missing = [k for k in model.state_dict() if k not in loaded]
if missing:
    raise SystemExit(f"{len(missing)} tensors untrained, first {missing[0]}")
print(save_model_dir(model, cfg, out, {"comparison": "tokens-only, version 2.2 recipe (session 14)"}))
