"""Session 34: the tokens-only comparison folder for version 3.2: the bundle's autoencoder, encoders and
T_LUFS with the DiT and conditioner of ``runs/compact/dit_track_tokens``, the bundle's sampling settings (CFG 2,
the free-latent guidance knobs) and ``dit.lufs_mode`` 'tokens'. Its loudness head is trained afterwards on its
own takes (``train-loudness-head``), as version 2.2's comparison did."""

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from triergon_studio.engine.config import ModelConfig
from triergon_studio.engine.models.triergon import build_model
from triergon_studio.engine.weights import save_model_dir

bundle, dit_run, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
raw = json.loads((bundle / "config.json").read_text())
raw["dit"]["lufs_mode"] = "tokens"
cfg = ModelConfig.from_dict(raw)
cfg.name = f"{cfg.name}-tokens-only"
model = build_model(cfg)
bundle_rest = load_file(str(bundle / "model.safetensors"))
rest = {k: v for k, v in bundle_rest.items() if not k.startswith(("dit.", "conditioner."))}
dit = {
    k: v
    for k, v in load_file(str(dit_run / "weights.safetensors")).items()
    if k.startswith(("dit.", "conditioner."))
}
model.load_state_dict({**rest, **dit})  # strict: a missing, extra or misshapen tensor stops it
note = {"comparison": "tokens-only, version 3.2 recipe (session 34, docs/training_runs/compact-v3/session34)"}
print(save_model_dir(model, cfg, out, note))
