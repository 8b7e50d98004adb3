"""Session 34: the stage files the tokens-only runs start from, cut out of shipped bundles (their runs are
gone) by ``tools/stage_weights_from_bundle.py``: the band-PCA autoencoder and the encoders out of the bundle
(version 3.2; its encoders are version 2.5's bit for bit, checked here), version 2.4's DiT and conditioner out
of the version 2.5 bundle (git 2e62561) whole (``dit_v24``, for the pool check) and without the frame-aligned
projection (``dit_v24_tokens``).

    python stage_inputs.py BUNDLE.safetensors V25.safetensors WORK_DIR
"""

import sys
from pathlib import Path

from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository, for tools/
from tools.stage_weights_from_bundle import write_stage_weights  # noqa: E402

bundle, v25, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
cur, old = load_file(str(bundle)), load_file(str(v25))
enc = [k for k in cur if k.startswith("encoders.")]
if not all(k in old and bool((old[k] == cur[k]).all()) for k in enc):
    raise SystemExit(f"{bundle}: its encoders differ from {v25}'s")
dit = ["dit.", "conditioner."]
for name, source, prefixes, exclude in (
    ("vae_mel", bundle, ["vae."], []),
    ("encoders", bundle, ["encoders."], []),
    ("dit_v24", v25, dit, []),
    ("dit_v24_tokens", v25, dit, [".lufs_frame_proj."]),
):
    print(
        name, write_stage_weights(source, work / name / "weights.safetensors", prefixes, exclude), "tensors"
    )
