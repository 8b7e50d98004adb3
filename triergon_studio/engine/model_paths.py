"""Where models are found by name, without torch: the folders in ``$TRIERGON_MODELS`` (``os.pathsep``-separated,
each holding model folders), then the bundled models shipped inside the package (``triergon_studio/bundled``,
the repository's ``model_weights/``), found through ``importlib.resources``. A model folder given as a path is
used as it is."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

ENV_VAR = "TRIERGON_MODELS"
MANIFEST_FILE = "manifest.json"


def bundled_dir() -> Path:
    """The package's bundled models (a real folder in every supported install: wheel, editable, checkout)."""
    return Path(str(resources.files("triergon_studio") / "bundled"))


def search_dirs() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [*extra, bundled_dir()]


def find_named(name: str) -> Path | None:
    """The first folder called ``name`` under the search folders, or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for root in search_dirs():
        candidate = root / name
        if candidate.is_dir():
            return candidate
    return None


def named_models() -> list[str]:
    """Names of the model folders (with a manifest) under the search folders, in search order."""
    names: list[str] = []
    for root in search_dirs():
        if root.is_dir():
            for p in sorted(root.iterdir()):
                if (p / MANIFEST_FILE).is_file() and p.name not in names:
                    names.append(p.name)
    return names


def where_text() -> str:
    """Where names are looked up, for error messages."""
    return (
        ", ".join(str(d) for d in search_dirs()) + f" (add folders with ${ENV_VAR}, or pass a model folder)"
    )
