"""Ship the bundled model v3: the band-PCA autoencoder (``engine/models/band_pca_ae.py``, fitted by the recipe's
``vae_mel`` step) and version 2.5's DiT and conditioner trained on its latents (``dit_mel``). The prompt
encoders and T_LUFS are version 2.5's, bit for bit; the loudness head and the gain direction net are trained
again, since both read the autoencoder's latents and decodes.

    .venv/bin/python -m tools.bundle_runs                      # the v2.5 run folders, from the bundle
    .venv/bin/python -m triergon_studio.training.reproduce --steps vae_mel,dit_mel
    .venv/bin/python tools/ship_bundle_v3.py candidate runs/v3/cand   # assemble, head, gain net (~20 min)
    (dev clips: tools/guide_dev_takes.py, dev_check; then the held-out set once:)
    bash docs/training_runs/compact-v2.4/measure.sh runs/v3/cand docs/training_runs/compact-v3
    .venv/bin/python tools/ship_bundle_v3.py ship runs/v3/cand

``ship`` reads ``docs/training_runs/compact-v3/``: ``table3.json``, ``methods.json``, ``dev_check.json``,
``benchmark.json`` and ``known_limits.json``. It keeps version 2.5's manifest there as ``manifest_v2_5.json``
and renames the candidate into ``model_weights/compact``.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "training_runs" / "compact-v3"
BUNDLE = ROOT / "model_weights" / "compact"
WORK = ROOT / "runs" / "compact"
OLD = "2.5"


def _old_manifest() -> dict[str, Any]:
    old = json.loads((BUNDLE / "manifest.json").read_text())
    if str(old["version"]) != OLD:
        raise SystemExit(f"{BUNDLE}: holds version {old['version']}, not {OLD}; nothing to do")
    return dict(old)


def candidate(out: Path, threads: int) -> None:
    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import add_file_to_model_dir
    from triergon_studio.training.gain_net import GainNetTrainSettings
    from triergon_studio.training.gain_net import train_into_folder as train_net_into
    from triergon_studio.training.loudness_head import HeadTrainSettings, train_into_folder
    from triergon_studio.training.reproduce import MEL_DIT, assemble

    _old_manifest()
    if not (out / "manifest.json").exists():
        assemble(WORK, out, overwrite=True, dit=MEL_DIT)
        add_file_to_model_dir(out, BUNDLE / "eval_classifier.safetensors", "eval_classifier.safetensors")
    if not (out / HEAD_FILE).exists():
        print(json.dumps({"loudness_head": train_into_folder(out, HeadTrainSettings(threads=threads))[1]}))
    if not (out / GAIN_NET_FILE).exists():
        print(json.dumps({"gain_net": train_net_into(out, GainNetTrainSettings(threads=threads))[1]}))
    _sync_sampling(out)
    print(json.dumps({"candidate": str(out), "files": sorted(p.name for p in out.iterdir())}))


def _sync_sampling(out: Path) -> None:
    """Give a candidate the sampling defaults the recipe now assembles with (session 28 chose the CFG scale on
    dev clips after this candidate's loudness head and gain net had trained; both read only latents and
    decodes), keeping its weights, side files and training record."""
    from triergon_studio.engine.weights import add_file_to_model_dir, load_model_dir, save_model_dir
    from triergon_studio.training.reproduce import MEL_DIT, assembled_config

    want = assembled_config(WORK, MEL_DIT).sampling
    model = load_model_dir(out).eval()
    if model.cfg.sampling == want:
        return
    manifest = json.loads((out / "manifest.json").read_text())
    model.cfg.sampling = want
    tmp = out.with_name(out.name + ".resync")
    save_model_dir(model, model.cfg, tmp, {"training": manifest["training"]}, overwrite=True)
    for f in sorted(manifest["files"]):
        if f not in ("config.json", "model.safetensors"):
            add_file_to_model_dir(tmp, out / f, f)
    old = out.with_name(out.name + ".old")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old)


def _read(name: str) -> Any:
    return json.loads((RUNS / name).read_text())


def _manifest_extra(old: dict[str, Any], cand: dict[str, Any]) -> dict[str, Any]:
    from triergon_studio.training.eval.curve_methods import manifest_rows

    training = copy.deepcopy(cand["training"])
    training["logs"] = old["training"]["logs"] + (
        ", docs/training_runs/compact-v3 (the band-PCA autoencoder and the DiT trained on its latents)"
    )
    methods = _read("methods.json")
    guide = copy.deepcopy(old["guide_default"])
    guide["heldout"] = {
        "measured_after_the_choice": True,
        "report": str((RUNS / "methods.json").relative_to(ROOT)),
        "clips": methods["clips"],
        "rows": manifest_rows(methods),
        "targets": methods["targets"],
        "time_note": "run beside the Table 3 evaluation (one torch thread each on the 2 cores)",
        "v2.5": old["guide_default"]["heldout"]["rows"],
    }
    dev_check = _read(
        "dev_check.json"
    )  # dev_check with the fitted code in version 2.5's bundle: the same parts
    dev_check["text_embedding_acc_heldout_phrasings"] = old["dev_check"][
        "text_embedding_acc_heldout_phrasings"
    ]
    dev_check["v2.5"] = {k: v for k, v in old["dev_check"].items() if not k.startswith("v")}
    return {
        "training": training,
        "eval": _read("table3.json"),
        "guide_default": guide,
        "dev_check": dev_check,
        "benchmark": _read("benchmark.json"),
        "known_limits": _read("known_limits.json"),
        "lufs_mode": old["lufs_mode"],
        "eval_v2.5": old["eval"],
    }


def ship(folder: Path) -> None:
    from bundle_install import install_bundle

    from triergon_studio.training.fileio import atomic_write_json

    old = _old_manifest()
    extra = _manifest_extra(old, json.loads((folder / "manifest.json").read_text()))
    atomic_write_json(RUNS / "manifest_v2_5.json", old)
    install_bundle(folder, BUNDLE, extra, "3.0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("candidate", "ship"))
    ap.add_argument("folder", type=Path, help="the candidate folder")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.action == "candidate":
        candidate(args.folder, args.threads)
    else:
        ship(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
