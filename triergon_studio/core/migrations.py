"""Project schema versions and the migrations between them.

v0 is the pre-release layout (flat keys, float fps, lanes as a name -> list mapping, takes with bare
generation fields). v1 added nothing but stored the app's fixed sampling defaults; v2 (current, written by ``Project.to_json``)
stores None for "the model's default". Each migration takes the
previous version's dict and returns the next one's; they run in sequence on load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triergon_studio.core.timecode import as_fraction
from triergon_studio.errors import ProjectError

FORMAT = "triergon-project"
CURRENT_VERSION = 2


def detect_version(doc: dict[str, Any]) -> int:
    fmt = doc.get("format")
    if fmt is None and "video_path" in doc:
        return 0  # v0 had no format tag
    if fmt != FORMAT:
        raise ProjectError("is not a Tri-Ergon Studio project (no 'format': 'triergon-project')")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ProjectError("has no valid schema 'version'")
    return version


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    fps = as_fraction(doc.get("fps", 25))
    settings_keys = ("model", "seed", "steps", "cfg", "sampler")
    takes = []
    for t in doc.get("takes", []) or []:
        if not isinstance(t, dict):
            raise ProjectError("v0 take is not an object")
        takes.append(
            {
                "id": t.get("id"),
                "name": t.get("name", ""),
                "path": t.get("file"),
                "created": t.get("time", ""),
                "duration_s": t.get("duration", 0.0),
                "sample_rate": t.get("sr", 44100),
                "source": "generated" if "seed" in t else "imported",
                "prompts": {"text": t.get("prompt", ""), "references": [], "use_video": True},
                "settings": {k: t[k] for k in settings_keys if k in t} or None,
                "curves": None,
                "metadata": {},
            }
        )
    lanes_raw = doc.get("lanes", {}) or {}
    if not isinstance(lanes_raw, dict):
        raise ProjectError("v0 lanes must be a mapping of lane name to placements")
    lanes = []
    for name, placed in lanes_raw.items():
        if not isinstance(placed, list):
            raise ProjectError(f"v0 lane {name!r} must be a list")
        items = []
        for p in placed:
            if not isinstance(p, dict):
                raise ProjectError(f"v0 lane {name!r} holds a placement that is not an object")
            items.append({"take_id": p.get("take"), "offset_s": p.get("at", 0.0)})
        lanes.append({"name": name, "gain_db": 0.0, "mute": False, "solo": False, "items": items})
    video_path = doc.get("video_path")
    return {
        "format": FORMAT,
        "version": 1,
        "name": doc.get("name", ""),
        "video": {"path": video_path, "fingerprint": None} if video_path else None,
        "fps": {"num": fps.numerator, "den": fps.denominator},
        "drop_frame": bool(doc.get("drop_frame", False)),
        "frame_count": doc.get("frames", 0),
        "duration_s": doc.get("duration", 0.0),
        "start_timecode": doc.get("start_tc", "00:00:00:00"),
        "sample_rate": doc.get("sr", 48000),
        "curves": None,
        "prompts": {"text": doc.get("prompt", ""), "references": [], "use_video": True},
        "settings": {},
        "takes": takes,
        "lanes": lanes,
        "markers": [],
        "regions": [],
    }


# v1 projects stored the app's old fixed defaults (50 steps, CFG 7, dpmpp_3m_sde) even when the user never
# chose them; v2 stores None for "the model's own default". Values equal to those old defaults become None.
_V1_APP_DEFAULTS = {"steps": 50, "cfg": 7.0, "sampler": "dpmpp_3m_sde"}


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    settings = doc.get("settings")
    if isinstance(settings, dict):
        settings = dict(settings)
        for key, old in _V1_APP_DEFAULTS.items():
            if key in settings and settings[key] == old:
                settings[key] = None
        doc = {**doc, "settings": settings}
    return {**doc, "version": 2}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1, 1: _v1_to_v2}


def migrate(doc: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Bring ``doc`` to CURRENT_VERSION. Returns (doc, version it was read as). Newer versions are refused."""
    version = detect_version(doc)
    if version > CURRENT_VERSION:
        raise ProjectError(
            f"was saved by a newer Tri-Ergon Studio (schema v{version}; this version reads up "
            f"to v{CURRENT_VERSION}); update the app to open it"
        )
    original = version
    while version < CURRENT_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc, original
