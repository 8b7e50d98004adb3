"""Give the bundled model (version 2.2) its own curve-guidance default: ``sampling.guide`` in config.json,
the knobs ``reproduce`` writes for a bundle with the coherent-side DiT (``PAN_GUIDE``).

    .venv/bin/python tools/set_bundle_guide_default.py

Chosen on the 36 dev clips (seed 4242, ``tools/guide_dev_takes.py``; never the held-out set): the scores are
read from ``docs/curve_methods_sweep/session12/dev_scores.txt`` (no-LUFS variant) and ``session13/`` (the
frame-aligned path) and recorded in the manifest beside the new checksum of config.json. The weights do not
change. Run again once ``eval --methods`` has measured the default on the held-out set (written to
``HELDOUT``), it adds those figures. Refuses a bundle that is not version 2.2, or one with nothing to add.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "model_weights" / "compact"
SWEEP = ROOT / "docs" / "curve_methods_sweep"
# the held-out run of the default, made after it was set (``eval --methods ... --out``); recorded when present
HELDOUT = ROOT / "docs" / "training_runs" / "compact-v2.2" / "methods_own_default.json"
BENCH = HELDOUT.with_name("bench_guidance_own_default.txt")  # ``bench_curve_guidance.py --repeats 3``
# the dev take sets compared: the no-LUFS variant (session 12) and the frame-aligned path (session 13)
DEV_SETS = {
    "session12": ("v22_off", "v22_gains", "v22_free"),
    "session13": ("f22_off", "f22_gains", "f22_free", "f22_final", "v22_final"),
}
LINE = re.compile(
    r"^(\S+)\s+class acc\s+([\d.]+) %\s+p\(right\) ([\d.]+)\s+raw\s+([\d.]+) LU\s+AV-Align ([\d.]+)\s+([\d.]+) s per take"
)


def dev_scores() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for session, names in DEV_SETS.items():
        for line in (SWEEP / session / "dev_scores.txt").read_text().splitlines():
            m = LINE.match(line)
            if m and m.group(1) in names:
                acc, p, raw, av, secs = (float(g) for g in m.groups()[1:])
                out[m.group(1)] = {
                    "class_acc": acc / 100,
                    "p_right": p,
                    "raw_lu": raw,
                    "av_align": av,
                    "s_per_take": secs,
                }
    missing = [n for names in DEV_SETS.values() for n in names if n not in out]
    if missing:
        raise SystemExit(f"{SWEEP}: no dev score for {', '.join(missing)}")
    return out


def heldout_rows() -> dict[str, Any]:
    """The default measured once on the held-out set after it was chosen (``eval --methods``)."""
    from triergon_studio.training.eval.curve_methods import manifest_rows

    report = json.loads(HELDOUT.read_text())
    return {
        "measured_after_the_choice": True,
        "report": str(HELDOUT.relative_to(ROOT)),
        "clips": report["clips"],
        "rows": manifest_rows(report),
        "targets": report["targets"],
        "time_note": "the CPU was shared with test runs for part of this evaluation; for a 10 s take on a quiet "
        f"machine benchmarks/bench_curve_guidance.py gives {bench_ratio()} ({BENCH.relative_to(ROOT)})",
    }


def bench_ratio() -> str:
    """The ``guide`` row (the model's own knobs) of the guidance benchmark run with the default."""
    for line in BENCH.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "guide":
            return cells[2]
    raise SystemExit(f"{BENCH}: no guide row")


def main() -> None:
    from triergon_studio.core.atomic import atomic_write_text
    from triergon_studio.engine.checkpoint_io import sha256_file
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.reproduce import PAN_GUIDE

    manifest_path, config_path = BUNDLE / "manifest.json", BUNDLE / "config.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    config: dict[str, Any] = json.loads(config_path.read_text())
    if manifest.get("version") != "2.2":
        raise SystemExit(f"{manifest_path}: version {manifest.get('version')!r}, not 2.2")
    done = []
    if not config["sampling"].get("guide"):
        config["sampling"]["guide"] = dict(PAN_GUIDE)
        text = json.dumps(config, indent=2)
        ModelConfig.from_json(text)  # the engine must load what is written
        atomic_write_text(config_path, text)
        manifest["files"]["config.json"] = {
            "sha256": sha256_file(config_path),
            "bytes": config_path.stat().st_size,
        }
        manifest["guide_default"] = {
            "knobs": dict(PAN_GUIDE),
            "meaning": "curve guidance moves the free latent (guide_gain 0), not left/right gains",
            "chosen_on": "36 dev clips, seed 4242 (tools/guide_dev_takes.py); the held-out set was not used",
            "dev": dev_scores(),
            "records": "docs/curve_methods_sweep/session12, docs/curve_methods_sweep/session13",
        }
        done.append(f"sampling.guide {PAN_GUIDE}")
    if HELDOUT.exists() and "heldout" not in manifest["guide_default"]:
        manifest["guide_default"]["heldout"] = heldout_rows()
        done.append("held-out figures")
    if not done:
        raise SystemExit(f"{BUNDLE}: has its guidance default and its held-out figures already")
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    print(f"{BUNDLE}: {', '.join(done)} written")


if __name__ == "__main__":
    main()
