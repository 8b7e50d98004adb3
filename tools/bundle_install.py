"""Put a measured candidate in place of the bundled model (used by the ``ship_bundle_v2_*`` tools).

The new folder is written beside the bundle first, then the two are swapped by renames, so a failure half way
leaves the old bundle in place.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def install_bundle(candidate: Path, bundle: Path, extra: dict[str, Any], version: str) -> None:
    """Save ``candidate`` with the manifest parts ``extra`` as ``bundle`` (version ``version``), carrying the
    candidate's side files, and write ``compact_eval.md`` beside it from ``extra["eval"]``."""
    from triergon_studio.engine.weights import add_file_to_model_dir, load_model_dir, save_model_dir
    from triergon_studio.training.eval.results import EvalReport, to_markdown
    from triergon_studio.training.fileio import atomic_write_text

    files = json.loads((candidate / "manifest.json").read_text())["files"]
    model = load_model_dir(candidate).eval()
    new = bundle.with_name(f".{bundle.name}-v{version}")
    if new.exists():
        shutil.rmtree(new)
    save_model_dir(model, model.cfg, new, extra, version=version)
    for f in sorted(files):
        if f not in ("config.json", "model.safetensors"):
            add_file_to_model_dir(new, candidate / f, f)
    retired = bundle.with_name(f".{bundle.name}-retired")
    if retired.exists():
        shutil.rmtree(retired)
    bundle.rename(retired)
    new.rename(bundle)
    shutil.rmtree(retired)
    report = EvalReport.from_dict(extra["eval"], bundle / "manifest.json")
    atomic_write_text(bundle.with_name(f"{bundle.name}_eval.md"), to_markdown(report) + "\n")
    print(json.dumps({"version": version, "files": sorted(p.name for p in bundle.iterdir())}))
