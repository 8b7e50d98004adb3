"""Find a model's family from its name or folder, describe it without torch, and load it.

Each family module exports a ``base.FamilyEntry``: a cheap ``detect(folder)`` test on the files a user
downloads, and the dotted names of its ``describe`` and ``load`` functions, imported only when needed
(describing must not import torch: the UI calls it on its own thread).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.engine.families.base import FamilyEntry, ModelInfo
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    from triergon_studio.core.progress import ProgressFn
    from triergon_studio.engine.families.base import GenerationModel


_ENTRIES: list[FamilyEntry] = []


def register(entry: FamilyEntry) -> None:
    if any(e.family == entry.family for e in _ENTRIES):
        raise ValueError(f"family {entry.family!r} registered twice")
    _ENTRIES.append(entry)


def _call(ref: str, *args: Any, **kwargs: Any) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def _json_kind(folder: Path) -> str:
    if (folder / "config.json").is_file():
        return "config.json"
    if (folder / "model_config.json").is_file():
        return "model_config.json"
    return ""


def find_family(name_or_dir: str) -> FamilyEntry:
    """The family of a folder (by its files), else of a name (bundled model, preset): Tri-Ergon's."""
    _ensure_builtin()
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        for entry in _ENTRIES:
            if entry.detect(path):
                return entry
        kind = _json_kind(path)
        if kind:
            raise ModelError(
                f"{kind} does not describe a model family this app knows "
                f"({', '.join(e.family for e in _ENTRIES)})",
                path,
            )
        raise ModelError("not a model folder: no config.json or model_config.json", path)
    return next(e for e in _ENTRIES if e.family == "tri-ergon")


def describe(name_or_dir: str) -> ModelInfo:
    """What a model can do and its defaults, read from its files without loading weights or torch."""
    info = _call(find_family(name_or_dir).describe, name_or_dir)
    assert isinstance(info, ModelInfo)
    return info


def load(
    name_or_dir: str,
    device: Any = "cpu",
    dtype: Any = None,
    *,
    progress: ProgressFn | None = None,
    **options: Any,
) -> GenerationModel:
    """Load a model of any family behind the ``GenerationModel`` protocol. ``progress(message, fraction)``
    follows the family's loading stages (config, checksums, weights read and loaded, text encoder, ...)."""
    from triergon_studio.core.progress import report

    report(progress, "Reading the model's configuration", 0.0)
    model = _call(find_family(name_or_dir).load, name_or_dir, device, dtype, progress=progress, **options)
    report(progress, "Model ready", 1.0)
    return model


def families() -> list[str]:
    _ensure_builtin()
    return [e.family for e in _ENTRIES]


#: The built-in families' modules, in detection order (the most specific folder layout first). Each exports
#: ``ENTRY``; they are imported by name so that this module never imports a family (no import circle).
BUILTIN_FAMILIES = (
    "triergon_studio.engine.families.stable_audio_3",
    "triergon_studio.engine.families.stable_audio_open",
    "triergon_studio.engine.families.triergon",
)
_BUILTIN_DONE = False


def _ensure_builtin() -> None:
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    _BUILTIN_DONE = True
    for name in BUILTIN_FAMILIES:
        register(importlib.import_module(name).ENTRY)
