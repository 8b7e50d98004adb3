"""The immutable records a project holds: prompts, settings, takes, lanes, markers, regions, video ref.

Records are frozen dataclasses; an edit replaces a record (``dataclasses.replace``) instead of mutating it,
so an undo command only keeps references to the old and new records and 200+ steps of history stay cheap.
``from_json`` validates strictly and raises ``ProjectError`` on anything malformed.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triergon_studio.core import validate
from triergon_studio.errors import ParameterError, ProjectError

FINGERPRINT_CHUNK = 1 << 20  # 1 MiB from each end of the file


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# --- strict field readers -------------------------------------------------------------------------------


def req(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict):
        raise ProjectError(f"{where} must be an object")
    if key not in data:
        raise ProjectError(f"{where} lacks '{key}'")
    return check(data[key], kind, f"{where}.{key}")


def opt(data: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    if not isinstance(data, dict):
        raise ProjectError(f"{where} must be an object")
    if key not in data or data[key] is None:
        return default
    return check(data[key], kind, f"{where}.{key}")


def check(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ProjectError(f"{where} has the wrong type (bool)")
    if not isinstance(value, kinds):
        raise ProjectError(f"{where} has the wrong type ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProjectError(f"{where} is not a finite number")
    return value


def _list(data: Any, key: str, where: str) -> list[Any]:
    return list(opt(data, key, list, where, []))


# --- records ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceClip:
    """A reference sound from the user's library, used between ``in_s`` and ``out_s``."""

    path: str
    in_s: float = 0.0
    out_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "in_s": self.in_s, "out_s": self.out_s}

    @classmethod
    def from_json(cls, d: Any, where: str = "reference") -> ReferenceClip:
        in_s = opt(d, "in_s", float, where, 0.0)
        out_s = opt(d, "out_s", float, where, None)
        if in_s < 0 or (out_s is not None and out_s <= in_s):
            raise ProjectError(f"{where} has in/out points out of order")
        return cls(req(d, "path", str, where), in_s, out_s)


@dataclass(frozen=True)
class Prompts:
    text: str = ""
    references: tuple[ReferenceClip, ...] = ()
    use_video: bool = True
    negative_text: str = ""
    init_audio: ReferenceClip | None = None  # audio-to-audio source ("Vary this take"), not a prompt

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "references": [r.to_json() for r in self.references],
            "use_video": self.use_video,
            "negative_text": self.negative_text,
            "init_audio": self.init_audio.to_json() if self.init_audio else None,
        }

    @classmethod
    def from_json(cls, d: Any, where: str = "prompts") -> Prompts:
        refs = tuple(
            ReferenceClip.from_json(r, f"{where}.references[{i}]")
            for i, r in enumerate(_list(d, "references", where))
        )
        init = opt(d, "init_audio", dict, where, None)
        return cls(
            opt(d, "text", str, where, ""),
            refs,
            opt(d, "use_video", bool, where, True),
            opt(d, "negative_text", str, where, ""),
            ReferenceClip.from_json(init, f"{where}.init_audio") if init is not None else None,
        )


@dataclass(frozen=True)
class GenerationSettings:
    """The project's generation settings. ``None`` means "the model's own default" (shown as such in the app
    and resolved by the model family), so the app and the CLI make the same take for the same prompt."""

    model: str = "compact"
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    seed: int = 0
    seed_locked: bool = False
    variations: int = 1
    conform: bool = False
    span: tuple[float, float] | None = None  # (start_s, end_s) of the picture to generate for; None = all
    guidance: str | None = None  # "cfg" / "apg" where the family offers both
    init_noise: float | None = None
    follow_curves: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "steps": self.steps,
            "cfg": self.cfg,
            "sampler": self.sampler,
            "seed": self.seed,
            "seed_locked": self.seed_locked,
            "variations": self.variations,
            "conform": self.conform,
            "span": list(self.span) if self.span else None,
            "guidance": self.guidance,
            "init_noise": self.init_noise,
            "follow_curves": self.follow_curves,
        }

    @classmethod
    def from_json(cls, d: Any, where: str = "settings") -> GenerationSettings:
        span_raw = opt(d, "span", list, where, None)
        span = None
        if span_raw is not None:
            if len(span_raw) != 2:
                raise ProjectError(f"{where}.span must be [start_s, end_s]")
            a, b = (check(v, float, f"{where}.span") for v in span_raw)
            if not 0 <= a < b:
                raise ProjectError(f"{where}.span is empty or negative")
            span = (a, b)
        steps = opt(d, "steps", int, where, None)
        variations = opt(d, "variations", int, where, 1)
        if (steps is not None and steps < 1) or variations < 1:
            raise ProjectError(f"{where} needs steps >= 1 and variations >= 1")
        return cls(
            opt(d, "model", str, where, "compact"),
            steps,
            opt(d, "cfg", float, where, None),
            opt(d, "sampler", str, where, None),
            opt(d, "seed", int, where, 0),
            opt(d, "seed_locked", bool, where, False),
            variations,
            opt(d, "conform", bool, where, False),
            span,
            opt(d, "guidance", str, where, None),
            opt(d, "init_noise", float, where, None),
            opt(d, "follow_curves", str, where, None),
        )


@dataclass(frozen=True)
class Take:
    """An audio file inside the project folder plus everything that made it."""

    id: str
    name: str
    path: str  # relative to the project folder, POSIX separators (takes/xxx.wav)
    created: str = field(default_factory=utc_now_iso)
    duration_s: float = 0.0
    sample_rate: int = 44100
    source: str = "generated"  # generated | imported
    prompts: Prompts | None = None
    settings: GenerationSettings | None = None
    curves: dict[str, Any] | None = None  # LoudnessCurve.to_json() of the curves it was generated against
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "created": self.created,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "source": self.source,
            "prompts": self.prompts.to_json() if self.prompts else None,
            "settings": self.settings.to_json() if self.settings else None,
            "curves": self.curves,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, d: Any, where: str = "take") -> Take:
        prompts = opt(d, "prompts", dict, where, None)
        settings = opt(d, "settings", dict, where, None)
        path = req(d, "path", str, where)
        if not path or Path(path).is_absolute() or ".." in Path(path).parts:
            raise ProjectError(f"{where}.path must be a path inside the project folder")
        return cls(
            id=req(d, "id", str, where),
            name=opt(d, "name", str, where, ""),
            path=path,
            created=opt(d, "created", str, where, ""),
            duration_s=opt(d, "duration_s", float, where, 0.0),
            sample_rate=opt(d, "sample_rate", int, where, 44100),
            source=opt(d, "source", str, where, "generated"),
            prompts=Prompts.from_json(prompts, f"{where}.prompts") if prompts is not None else None,
            settings=GenerationSettings.from_json(settings, f"{where}.settings")
            if settings is not None
            else None,
            curves=opt(d, "curves", dict, where, None),
            metadata=opt(d, "metadata", dict, where, {}),
        )


@dataclass(frozen=True)
class LaneItem:
    """A take placed on a lane: the take's first sample sits ``offset_s`` after the picture's first frame.

    Trims choose the part of the take that sounds (``trim_in_s`` to ``trim_out_s``, seconds into the take;
    ``None`` = its end) without moving it against the picture, as in a DAW; ``fade_in_s`` / ``fade_out_s``
    are equal-power fades at the edges of that part."""

    take_id: str
    offset_s: float
    gain_db: float = 0.0
    id: str = field(default_factory=new_id)
    trim_in_s: float = 0.0
    trim_out_s: float | None = None
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "take_id": self.take_id,
            "offset_s": self.offset_s,
            "gain_db": self.gain_db,
        }
        # Written only when set, so projects without edits keep their exact shape.
        for key, default in (
            ("trim_in_s", 0.0),
            ("trim_out_s", None),
            ("fade_in_s", 0.0),
            ("fade_out_s", 0.0),
        ):
            if getattr(self, key) != default:
                d[key] = getattr(self, key)
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "item") -> LaneItem:
        offset = _checked(validate.check_offset_s, req(d, "offset_s", float, where), f"{where}.offset_s")
        gain = _checked(validate.check_gain_db, opt(d, "gain_db", float, where, 0.0), f"{where}.gain_db")
        return cls(
            req(d, "take_id", str, where),
            offset,
            gain,
            opt(d, "id", str, where, None) or new_id(),
            opt(d, "trim_in_s", float, where, 0.0),
            opt(d, "trim_out_s", float, where, None),
            opt(d, "fade_in_s", float, where, 0.0),
            opt(d, "fade_out_s", float, where, 0.0),
        )


@dataclass(frozen=True)
class Lane:
    name: str
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    items: tuple[LaneItem, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gain_db": self.gain_db,
            "mute": self.mute,
            "solo": self.solo,
            "items": [i.to_json() for i in self.items],
        }

    @classmethod
    def from_json(cls, d: Any, where: str = "lane") -> Lane:
        name = _checked(validate.check_text, req(d, "name", str, where), f"{where}.name")
        if not name.strip():
            raise ProjectError(f"{where}.name is empty")
        items = tuple(
            LaneItem.from_json(x, f"{where}.items[{i}]") for i, x in enumerate(_list(d, "items", where))
        )
        gain = _checked(validate.check_gain_db, opt(d, "gain_db", float, where, 0.0), f"{where}.gain_db")
        return cls(name, gain, opt(d, "mute", bool, where, False), opt(d, "solo", bool, where, False), items)


@dataclass(frozen=True)
class Marker:
    time_s: float
    name: str = ""
    id: str = field(default_factory=new_id)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time_s": self.time_s, "name": self.name}

    @classmethod
    def from_json(cls, d: Any, where: str = "marker") -> Marker:
        name = _checked(validate.check_text, opt(d, "name", str, where, ""), f"{where}.name")
        return cls(req(d, "time_s", float, where), name, opt(d, "id", str, where, None) or new_id())


@dataclass(frozen=True)
class Region:
    start_s: float
    end_s: float
    name: str = ""
    id: str = field(default_factory=new_id)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "start_s": self.start_s, "end_s": self.end_s, "name": self.name}

    @classmethod
    def from_json(cls, d: Any, where: str = "region") -> Region:
        start, end = req(d, "start_s", float, where), req(d, "end_s", float, where)
        if end <= start:
            raise ProjectError(f"{where} ends before it starts")
        name = _checked(validate.check_text, opt(d, "name", str, where, ""), f"{where}.name")
        return cls(start, end, name, opt(d, "id", str, where, None) or new_id())


@dataclass(frozen=True)
class VideoFingerprint:
    """Size + hash of the first and last MiB + duration: cheap, and catches a moved-and-replaced file."""

    size: int
    head_tail_sha256: str
    duration_s: float

    @classmethod
    def compute(cls, path: str | Path, duration_s: float) -> VideoFingerprint:
        p = Path(path)
        size = p.stat().st_size
        h = hashlib.sha256()
        with p.open("rb") as f:
            h.update(f.read(FINGERPRINT_CHUNK))
            if size > FINGERPRINT_CHUNK:
                f.seek(max(FINGERPRINT_CHUNK, size - FINGERPRINT_CHUNK))
                h.update(f.read(FINGERPRINT_CHUNK))
        return cls(size, h.hexdigest(), round(float(duration_s), 6))

    def matches(self, other: VideoFingerprint) -> bool:
        return (
            self.size == other.size
            and self.head_tail_sha256 == other.head_tail_sha256
            and abs(self.duration_s - other.duration_s) < 1e-3
        )

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "head_tail_sha256": self.head_tail_sha256, "duration_s": self.duration_s}

    @classmethod
    def from_json(cls, d: Any, where: str = "video.fingerprint") -> VideoFingerprint:
        return cls(
            req(d, "size", int, where),
            req(d, "head_tail_sha256", str, where),
            req(d, "duration_s", float, where),
        )


@dataclass(frozen=True)
class VideoRef:
    """The picture: a path relative to the project file (absolute only if on another drive) + fingerprint."""

    path: str
    fingerprint: VideoFingerprint | None  # None after migrating a v0 project; filled in on load
    width: int = 0
    height: int = 0
    rotation: int = 0
    frame_count: int = 0
    is_vfr: bool = False  # variable frame rate: the picture's length is its duration, not frames / fps

    def to_json(self) -> dict[str, Any]:
        fp = self.fingerprint.to_json() if self.fingerprint else None
        return {
            "path": self.path,
            "fingerprint": fp,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "frame_count": self.frame_count,
            "is_vfr": self.is_vfr,
        }

    @classmethod
    def from_json(cls, d: Any, where: str = "video") -> VideoRef:
        path = req(d, "path", str, where)
        if not path:
            raise ProjectError(f"{where}.path is empty")
        fp = opt(d, "fingerprint", dict, where, None)
        return cls(
            path,
            VideoFingerprint.from_json(fp) if fp is not None else None,
            opt(d, "width", int, where, 0),
            opt(d, "height", int, where, 0),
            opt(d, "rotation", int, where, 0),
            opt(d, "frame_count", int, where, 0),
            opt(d, "is_vfr", bool, where, False),
        )


DEFAULT_LANES = ("FOLEY", "FX", "BG")


def _checked(check: Any, value: Any, name: str) -> Any:
    """A ``core.validate`` check on a project field; out of range is the project's own one-line error."""
    try:
        return check(value, name)
    except ParameterError as exc:
        raise ProjectError(str(exc)) from exc
