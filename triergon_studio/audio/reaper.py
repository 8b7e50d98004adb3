"""REAPER project (.rpp, plain text) for the DAW handoff: one track per stem, the picture on its own track,
the project frame rate, the start timecode as the project offset, and the project's markers and regions.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from triergon_studio.core.atomic import atomic_write_text


@dataclass(frozen=True)
class RppItem:
    name: str
    file: str  # as written in the project: relative to the .rpp folder when possible
    position_s: float
    length_s: float
    kind: str = "WAVE"  # WAVE | VIDEO


@dataclass(frozen=True)
class RppTrack:
    name: str
    items: tuple[RppItem, ...]
    mute: bool = False
    solo: bool = False


@dataclass
class RppProject:
    tracks: list[RppTrack]
    fps: Fraction
    drop_frame: bool
    sample_rate: int
    start_offset_s: float = 0.0  # the start timecode in seconds: REAPER's ruler then reads in that timecode
    markers: list[tuple[float, str]] = field(default_factory=list)
    regions: list[tuple[float, float, str]] = field(default_factory=list)


class RppTextError(ValueError):
    """A name cannot be written into a REAPER project (control characters would break its line syntax)."""


def _q(text: str) -> str:
    """REAPER quotes strings with whichever quote character the text does not contain. A line break (or any
    other control character) would end the token and let the rest of a name become project syntax, so it is
    refused, never written."""
    bad = [c for c in text if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise RppTextError(f"name {text[:40]!r} holds control characters that a REAPER project cannot hold")
    for quote in ('"', "'", "`"):
        if quote not in text:
            return f"{quote}{text}{quote}"
    return '"' + text.replace('"', "'") + '"'


def _guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


def _fps_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.6g}"


def render_rpp(project: RppProject) -> str:
    fps = _fps_text(project.fps)
    df = 1 if project.drop_frame else 0
    lines = [
        f'<REAPER_PROJECT 0.1 "7.0/tri-ergon-studio" {int(time.time())}',
        "  RIPPLE 0",
        "  AUTOXFADE 0",
        "  PANLAW 1",
        f"  PROJOFFS {project.start_offset_s:.10g} 0 0",
        "  MAXPROJLEN 0 0",
        # Ruler in timecode (mode 5), frame rate and drop-frame flag of the picture.
        f"  TIMEMODE 5 5 -1 {fps} {df} 0 -1",
        "  VIDEO_CONFIG 0 0 256",
        f"  SMPTESYNC 0 {fps} 100 40 1000 300 0 0 1 0 0",
        f"  SAMPLERATE {project.sample_rate} 1 0",  # 1 = use this rate for the project
        "  TEMPO 120 4 4",
    ]
    for i, (t, name) in enumerate(project.markers, start=1):
        lines.append(f"  MARKER {i} {t:.10g} {_q(name)} 0")
    for j, (a, b, name) in enumerate(project.regions, start=len(project.markers) + 1):
        lines.append(f"  MARKER {j} {a:.10g} {_q(name)} 1")
        lines.append(f'  MARKER {j} {b:.10g} "" 1')
    for track in project.tracks:
        lines += [
            f"  <TRACK {_guid()}",
            f"    NAME {_q(track.name)}",
            "    VOLPAN 1 0 -1 -1 1",
            f"    MUTESOLO {int(track.mute)} {2 if track.solo else 0} 0",
            "    NCHAN 2",
        ]
        for item in track.items:
            lines += [
                "    <ITEM",
                f"      POSITION {item.position_s:.10g}",
                "      SNAPOFFS 0",
                f"      LENGTH {item.length_s:.10g}",
                "      LOOP 0",
                f"      NAME {_q(item.name)}",
                "      SOFFS 0",
                f"      IGUID {_guid()}",
                f"      <SOURCE {item.kind}",
                f"        FILE {_q(item.file)}",
                "      >",
                "    >",
            ]
        lines.append("  >")
    lines.append(">")
    return "\n".join(lines) + "\n"


def write_rpp(path: str | Path, project: RppProject) -> Path:
    atomic_write_text(path, render_rpp(project))
    return Path(path)


def unquote(token: str) -> str:
    """One quoted REAPER string token back to its text (the quote character is the first one)."""
    token = token.strip()
    if len(token) >= 2 and token[0] in "\"'`" and token[-1] == token[0]:
        return token[1:-1]
    return token


def parse_rpp_names(text: str) -> dict[str, list[str]]:
    """Every track, item and marker name in a project, in order (for round-trip checks)."""
    out: dict[str, list[str]] = {"track": [], "item": [], "marker": []}
    in_item = False
    for raw in text.splitlines():
        line = raw.strip()
        if line == "<ITEM":
            in_item = True
        elif line.startswith("<TRACK"):
            in_item = False
        elif line.startswith("NAME "):
            out["item" if in_item else "track"].append(unquote(line[5:]))
        elif line.startswith("MARKER "):
            parts = line.split(" ", 3)
            name = parts[3].rsplit(" ", 1)[0]
            out["marker"].append(unquote(name))
    return out


def parse_rpp_items(text: str) -> list[dict[str, object]]:
    """Minimal reader for tests and checks: each item's track, position, length, source kind and file."""
    items: list[dict[str, object]] = []
    track = ""
    current: dict[str, object] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("NAME ") and current is None:
            track = unquote(line[5:])
        elif line == "<ITEM":
            current = {"track": track}
        elif current is not None:
            if line.startswith("POSITION "):
                current["position_s"] = float(line.split()[1])
            elif line.startswith("LENGTH "):
                current["length_s"] = float(line.split()[1])
            elif line.startswith("<SOURCE "):
                current["kind"] = line.split()[1]
            elif line.startswith("FILE "):
                current["file"] = unquote(line[5:])
                items.append(current)
                current = None
    return items
