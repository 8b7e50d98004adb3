"""Write the hand-measured parts of the bundled model v2.1's manifest: version 2 with its autoencoder's
decoder trained on with a discriminator (the encoder frozen, so the latents and every other part are v2's).

    python tools/annotate_bundle_v2_1.py

Run after ``reproduce --steps vae_decoder,assemble`` and the ``eval`` step. It carries over from version 2's
manifest (``docs/training_runs/compact-v2.1/manifest_v2.json``) what did not change: the DiT's training
seconds across its two processes, the T_LUFS and text dev checks, the v1 figures and the LUFS-mode note.
(Version 2's own annotate script is in git history up to commit f4b0f1f; it was removed because running it
now would write version 2's facts over these.) New:

- the autoencoder's dev check (dev seed 4242, never the held-out set):
  ``docs/training_runs/compact-v2.1/dev_check.json``, made by ``python -m triergon_studio.training.eval.dev_check
  model_weights/compact``;
- the speed benchmark, ``python benchmarks/bench_bundled.py --repeats 3`` after assembling:
  ``docs/training_runs/compact-v2.1/bench_bundled.json`` (its figures, copied from its output);
- known limits.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v2.1"


def main() -> int:
    from triergon_studio.training.fileio import atomic_write_json

    path = ROOT / "model_weights" / "compact" / "manifest.json"
    m = json.loads(path.read_text())
    v2 = json.loads((RUNS / "manifest_v2.json").read_text())
    if "eval" not in m:
        raise SystemExit(f"{path}: no eval yet; run the reproduce eval step first")
    stages = m["training"]["stages"]
    for key in ("seconds", "seconds_note"):
        stages["dit"][key] = v2["training"]["stages"]["dit"][key]
    m["training"]["total_seconds"] = round(sum(s["seconds"] for s in stages.values()), 1)
    m["training"]["hardware"] = v2["training"]["hardware"]
    m["training"]["logs"] = (
        "docs/training_runs/compact-v2 (config, summary and log of each stage) and docs/training_runs/compact-v2.1 "
        "(the decoder run)"
    )
    m["version"] = "2.1"
    m["lufs_mode"] = v2["lufs_mode"]
    dev = json.loads((RUNS / "dev_check.json").read_text())
    old = v2["dev_check"]
    m["dev_check"] = {
        **{k: old[k] for k in ("seed", "t_lufs_mae_lu", "text_embedding_acc_heldout_phrasings")},
        "clips": dev["clips"],
        "classifier_acc_original": dev["classifier_acc_original"],
        "classifier_acc_vae_reconstruction": dev["classifier_acc_vae_reconstruction"],
        "vae_mel_shape_error_db": dev["vae_mel_shape_error_db"],
        "targets": {
            "classifier_acc_vae_reconstruction": {
                "target": 0.8,
                "met": dev["classifier_acc_vae_reconstruction"] >= 0.8,
            },
            "vae_mel_shape_error_db": {"target": 4.0, "met": dev["vae_mel_shape_error_db"] <= 4.0},
        },
        "v2": {k: old[k] for k in ("classifier_acc_vae_reconstruction", "vae_mel_shape_error_db")},
        "v1": old["v1"],
    }
    m["benchmark"] = json.loads((RUNS / "bench_bundled.json").read_text())
    m["known_limits"] = json.loads((RUNS / "known_limits.json").read_text())
    atomic_write_json(path, m)
    print(json.dumps({k: m[k] for k in ("version", "dev_check", "benchmark")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
