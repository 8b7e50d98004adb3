"""Session 34: the stage files the tokens-only runs start from, cut out of shipped bundles (their runs are
gone): the band-PCA autoencoder and the encoders out of the bundle (version 3.2; its encoders are version
2.5's bit for bit), version 2.4's DiT and conditioner out of the version 2.5 bundle (git 2e62561) whole
(``dit_v24``, for the pool check) and without the frame-aligned projection (``dit_v24_tokens``)."""

import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

bundle, v25, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
cur, old = load_file(str(bundle)), load_file(str(v25))
outs = {
    "vae_mel": {k: v for k, v in cur.items() if k.startswith("vae.")},
    "encoders": {k: v for k, v in cur.items() if k.startswith("encoders.")},
    "dit_v24": {k: v for k, v in old.items() if k.startswith(("dit.", "conditioner."))},
    "dit_v24_tokens": {
        k: v
        for k, v in old.items()
        if k.startswith(("dit.", "conditioner.")) and ".lufs_frame_proj." not in k
    },
}
assert all(bool((old[k] == v).all()) for k, v in outs["encoders"].items()), "encoders differ from version 2.5"
for name, tensors in outs.items():
    out = work / name / "weights.safetensors"
    if out.exists():
        raise SystemExit(f"{out}: already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"source": f"{bundle if name in ('vae_mel', 'encoders') else v25}"})
    print(name, len(tensors), "tensors")
