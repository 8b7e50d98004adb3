"""The cue list of ``triergon-studio render``: one JSON object per line (JSONL).

A line is a ``TakeSpec`` in its JSON form (``TakeSpec.to_json``: ``span``, ``video``, ``text``, ``curves`` or
``curve_method``, ``model``, ``seed``, ``variations``, ...) plus two keys of the render's own:

- ``name``: the take files' stem (letters, digits, ``-``, ``_``, ``.``); default ``cue-<line number>``;
  unique in the list. One variation -> ``NAME.wav``; more -> ``NAME_v1.wav``, ``NAME_v2.wav``, ...
- ``lane``: the project lane the takes go on with ``--project`` (optional).

Shorthands a person writing a cue list by hand will want: ``"span": [start_s, end_s]``; ``"video": "a.mp4"``
(probed for its frame count and rate); ``"curves": "c.curves.json"`` (a curves file). Relative paths are taken
from the cue list's folder. Blank lines and lines starting with ``#`` are skipped.

Each take's sidecar records ``cue_digest`` (the spec's ``digest()``), so a rerun skips the cues whose takes
exist and were made from the same spec.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triergon_studio.core.take_spec import TakeSpec
from triergon_studio.errors import StudioError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
RENDER_KEYS = ("name", "lane")
PATH_KEYS = ("reference", "init_audio")  # AudioClip objects with a "path"


class CueError(StudioError):
    """A cue list line that cannot be rendered."""


@dataclass(frozen=True, slots=True)
class Cue:
    line: int
    name: str
    lane: str | None
    spec: TakeSpec

    @property
    def digest(self) -> str:
        return self.spec.digest()

    def outputs(self, out_dir: Path) -> list[Path]:
        n = self.spec.variations
        if n == 1:
            return [out_dir / f"{self.name}.wav"]
        return [out_dir / f"{self.name}_v{k + 1}.wav" for k in range(n)]


def _abs(base: Path, text: Any, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise CueError(f"{what} must be a file path (a non-empty string)")
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _normalise(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Expand the shorthands and make paths absolute; the result is plain ``TakeSpec.from_json`` input."""
    out = dict(data)
    span = out.get("span")
    if isinstance(span, list | tuple):
        if len(span) != 2:
            raise CueError('span must be [start_s, end_s] or {"start_s": ..., "end_s": ...}')
        out["span"] = {"start_s": span[0], "end_s": span[1]}
    video = out.get("video")
    if isinstance(video, str):
        from triergon_studio.video.probe import probe

        path = _abs(base, video, "video")
        info = probe(path)
        out["video"] = {
            "path": path,
            "frame_count": info.frame_count,
            "fps_num": info.fps.numerator,
            "fps_den": info.fps.denominator,
        }
    elif isinstance(video, dict) and "path" in video:
        out["video"] = {**video, "path": _abs(base, video["path"], "video.path")}
    for key in PATH_KEYS:
        clip = out.get(key)
        if isinstance(clip, str):
            out[key] = {"path": _abs(base, clip, key)}
        elif isinstance(clip, dict) and "path" in clip:
            out[key] = {**clip, "path": _abs(base, clip["path"], f"{key}.path")}
    region = out.get("region")
    if isinstance(region, dict) and "take_path" in region:
        out["region"] = {**region, "take_path": _abs(base, region["take_path"], "region.take_path")}
    curves = out.get("curves")
    if isinstance(curves, str):
        from triergon_studio.core.curves import LoudnessCurve

        out["curves"] = LoudnessCurve.load(_abs(base, curves, "curves")).to_json()
    model = out.get("model")
    if isinstance(model, str) and model.strip() and not model.startswith("server:"):
        p = Path(model).expanduser()
        if not p.is_absolute() and (base / p).is_dir():  # a folder beside the list; a name stays a name
            out["model"] = str((base / p).resolve())
    return out


def parse_cue(text: str, line: int, base: Path) -> Cue:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CueError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise CueError("a cue must be a JSON object")
    name = data.pop("name", None)
    lane = data.pop("lane", None)
    if name is None:
        name = f"cue-{line}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CueError(f"name {name!r} is not a file stem (letters, digits, '-', '_', '.'; up to 100)")
    if lane is not None and (not isinstance(lane, str) or not lane.strip()):
        raise CueError("lane must be a non-empty string")
    try:
        spec = TakeSpec.from_json(_normalise(data, base), where="cue")
    except StudioError as exc:
        raise CueError(str(exc)) from exc
    except (TypeError, ValueError) as exc:  # e.g. a number where an object belongs
        raise CueError(f"bad value: {exc}") from exc
    return Cue(line, name, lane.strip() if lane else None, spec)


@dataclass(frozen=True, slots=True)
class CueList:
    path: Path
    cues: list[Cue]
    errors: list[tuple[int, str]]  # (line number, problem)

    def error_lines(self) -> list[str]:
        return [f"{self.path}:{line}: {problem}" for line, problem in self.errors]


def read_cues(path: str | Path) -> CueList:
    """Every line parsed; bad lines are collected with their numbers (the caller decides whether to go on)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CueError("cue list not found", p) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CueError(f"unreadable cue list ({type(exc).__name__})", p) from exc
    base = p.resolve().parent
    cues: list[Cue] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            cue = parse_cue(line, n, base)
        except StudioError as exc:
            errors.append((n, str(exc)))
            continue
        key = cue.name.casefold()
        if key in seen:
            errors.append((n, f"name {cue.name!r} is already used on line {seen[key]}"))
            continue
        seen[key] = n
        cues.append(cue)
    if not cues and not errors:
        raise CueError("the cue list holds no cues", p)
    return CueList(p, cues, errors)


# ---------------------------------------------------------------------------------------- resume


@dataclass(frozen=True, slots=True)
class CueState:
    done: bool  # every take exists and was made from this spec
    problem: str | None = None  # files in the way that this cue did not make


def cue_state(cue: Cue, out_dir: Path) -> CueState:
    from triergon_studio.core.take_sidecar import sidecar_path

    digest = cue.digest
    matches = 0
    for path in cue.outputs(out_dir):
        side = sidecar_path(path)
        if not path.exists() and not side.exists():
            continue
        if not path.exists() or not side.exists():
            missing = path if not path.exists() else side
            return CueState(
                False,
                f"{missing.name} is missing beside its partner (an interrupted write?); "
                f"use --force to render the cue again",
            )
        try:
            meta = json.loads(side.read_text(encoding="utf-8")).get("metadata") or {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            meta = {}
        if meta.get("cue_digest") != digest:
            return CueState(
                False,
                f"{path.name} exists and was not made from this cue's spec; "
                f"use --force to replace it, or another --out folder",
            )
        matches += 1
    return CueState(matches == cue.spec.variations)
