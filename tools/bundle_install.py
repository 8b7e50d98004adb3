"""Put a measured candidate in place of the bundled model (used by the ``ship_bundle_v2_*`` tools).

The new folder is written beside the bundle first, then the two are swapped by renames, so a failure half way
leaves the old bundle in place.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
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


def guide_with_heldout(
    old: dict[str, Any], methods_file: Path, root: Path, old_version: str
) -> dict[str, Any]:
    """The old manifest's ``guide_default`` with the held-out curve-method figures of ``methods_file`` (an
    ``eval --methods`` report) in place of its own, which are kept under ``v<old_version>``."""
    import copy

    from triergon_studio.training.eval.curve_methods import manifest_rows

    methods = json.loads(methods_file.read_text())
    guide = copy.deepcopy(old["guide_default"])
    guide["heldout"] = {
        "measured_after_the_choice": True,
        "report": str(methods_file.relative_to(root)),
        "clips": methods["clips"],
        "rows": manifest_rows(methods),
        "targets": methods["targets"],
        "time_note": "run beside the Table 3 evaluation (one torch thread each on the 2 cores)",
        f"v{old_version}": old["guide_default"]["heldout"],
    }
    return guide


def ship_measured(
    folder: Path,
    bundle: Path,
    versions: tuple[str, str],
    keep_old_as: Path,
    extra: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Ship a measured candidate ``folder`` as ``bundle``: refuse unless the bundle holds ``versions[0]``, give the
    candidate the bundle's evaluation classifier when it lacks one, keep the old manifest at ``keep_old_as`` and
    install with the manifest parts ``extra(old manifest)`` as version ``versions[1]``."""
    from triergon_studio.engine.weights import add_file_to_model_dir
    from triergon_studio.training.fileio import atomic_write_json

    old_version, new_version = versions
    old = json.loads((bundle / "manifest.json").read_text())
    if str(old["version"]) != old_version:
        raise SystemExit(f"{bundle}: holds version {old['version']}, not {old_version}; nothing to do")
    if not (folder / "eval_classifier.safetensors").exists():
        add_file_to_model_dir(folder, bundle / "eval_classifier.safetensors", "eval_classifier.safetensors")
    parts = extra(old)
    atomic_write_json(keep_old_as, old)
    install_bundle(folder, bundle, parts, new_version)


def ship_measured_cli(doc: str, ship: Callable[[Path], None]) -> int:
    """The command line of a ship tool that takes one measured candidate folder."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="the measured candidate folder")
    ship(ap.parse_args().folder)
    return 0


def lufs_ship_cli(
    doc: str,
    candidate: Callable[[Path, Path], None],
    measure: Callable[[Path], None],
    ship: Callable[[Path], None],
) -> int:
    """The command line of a T_LUFS-only ship tool: ``candidate FOLDER --lufs RUN``, ``measure FOLDER``,
    ``ship FOLDER``."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("action", choices=("candidate", "measure", "ship"))
    ap.add_argument("folder", type=Path, help="the candidate folder")
    ap.add_argument("--lufs", type=Path, help="with candidate: the lufs stage's run folder")
    args = ap.parse_args()
    if args.action == "candidate":
        if args.lufs is None:
            ap.error("candidate needs --lufs RUN_FOLDER")
        candidate(args.folder, args.lufs)
    elif args.action == "measure":
        measure(args.folder)
    else:
        ship(args.folder)
    return 0


def lufs_candidate(
    old: Any, cfg: Any, lufs_run: Path, out: Path, version: str, side_files: tuple[str, ...], source: Path
) -> None:
    """A candidate folder: the model ``old`` with the lufs stage run's T_LUFS weights, under ``cfg`` (``old``'s
    config with whatever the new T_LUFS changes), every tensor set and every shape checked, with ``source``'s
    ``side_files`` copied in."""
    from safetensors.torch import load_file

    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import add_file_to_model_dir, save_model_dir

    model = build_model(cfg).eval()
    lufs = load_file(str(lufs_run / "weights.safetensors"))
    if not lufs or not all(k.startswith("lufs_predictor.") for k in lufs):
        raise SystemExit(f"{lufs_run}: not a lufs stage's weights")
    kept = {k: v for k, v in old.state_dict().items() if not k.startswith("lufs_predictor.")}
    model.load_state_dict({**kept, **lufs}, strict=True)
    if out.exists():
        shutil.rmtree(out)
    save_model_dir(model, cfg, out, {"training": {"lufs_run": str(lufs_run)}}, version=version)
    for f in side_files:
        add_file_to_model_dir(out, source / f, f)
    print(json.dumps({"candidate": str(out), "files": sorted(p.name for p in out.iterdir())}))
