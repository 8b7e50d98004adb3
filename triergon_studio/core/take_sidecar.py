"""The ``NAME.take.json`` file that ``generate`` writes beside each WAV: the prompts, settings, curves and
engine metadata that made it, so ``add-take`` can import the file as a generated take rather than as anonymous
library audio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triergon_studio.core.atomic import atomic_write_text
from triergon_studio.core.model import GenerationSettings, Prompts, Take
from triergon_studio.errors import ProjectError

FORMAT = "triergon-take"
VERSION = 1


def sidecar_path(audio_path: str | Path) -> Path:
    p = Path(audio_path)
    return p.with_name(p.stem + ".take.json")


def write_sidecar(audio_path: str | Path, record: dict[str, Any]) -> Path:
    path = sidecar_path(audio_path)
    atomic_write_text(path, json.dumps({"format": FORMAT, "version": VERSION, **record}, indent=1) + "\n")
    return path


def read_sidecar(audio_path: str | Path) -> dict[str, Any] | None:
    """The parsed record, None when there is no sidecar; a damaged one is an error (it would mislead)."""
    path = sidecar_path(audio_path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(
            f"unreadable take settings ({type(exc).__name__}); fix or delete it", path
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProjectError("not a take settings file (format is not 'triergon-take')", path)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProjectError("take settings have no integer 'version'", path)
    if version > VERSION:
        raise ProjectError(
            f"take settings version {data.get('version')} is newer than this app reads ({VERSION})", path
        )
    where = str(path)
    out: dict[str, Any] = {
        "metadata": data.get("metadata") if isinstance(data.get("metadata"), dict) else {},
        "curves": data.get("curves") if isinstance(data.get("curves"), dict) else None,
    }
    try:
        out["prompts"] = (
            Prompts.from_json(data["prompts"], where) if data.get("prompts") is not None else None
        )
        out["settings"] = (
            GenerationSettings.from_json(data["settings"], where)
            if data.get("settings") is not None
            else None
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ProjectError(f"bad take settings: {exc}", path) from exc
    return out


def take_from_record(
    record: dict[str, Any],
    *,
    take_id: str,
    name: str,
    path: str,
    duration_s: float,
    sample_rate: int,
    metadata: dict[str, Any] | None = None,
) -> Take:
    """A generated ``Take`` from what made it (the dict ``make_takes`` writes as the sidecar)."""
    where = f"take {name}"
    prompts = Prompts.from_json(record["prompts"], where) if record.get("prompts") is not None else None
    settings = (
        GenerationSettings.from_json(record["settings"], where)
        if record.get("settings") is not None
        else None
    )
    meta = dict(record.get("metadata") or {})
    meta.update(metadata or {})
    curves = record.get("curves") if isinstance(record.get("curves"), dict) else None
    return Take(
        id=take_id,
        name=name,
        path=path,
        duration_s=duration_s,
        sample_rate=sample_rate,
        source="generated",
        prompts=prompts,
        settings=settings,
        curves=curves,
        metadata=meta,
    )
