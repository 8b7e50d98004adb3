"""The typed take request shared by the app, the CLI, the Python API and the cluster workers.

A ``TakeSpec`` says what to generate; ``None`` in a setting means "the model's own default", so the same spec
gives the same take, sample for sample, wherever it runs. It is plain data: building it never imports torch or
Qt, and it round-trips through JSON (the cue lists and the cluster send it that way). Unknown or misspelt
fields are an error (slots, and ``from_json`` refuses unknown keys).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from triergon_studio.core.constants import SAMPLE_RATE
from triergon_studio.core.curves import LoudnessCurve
from triergon_studio.errors import ModelError

#: How the take follows the loudness curves beyond the model's own conditioning (issue 13); None = family default.
FOLLOW_MODES = ("off", "shape", "guide", "shape+guide")
#: Where curves come from when the spec carries none.
CURVE_METHODS = ("t_lufs", "motion")
MAX_SEED = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """Seconds in video time (or from 0 without a video): the one way a spec says when."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s) and 0 <= self.start_s < self.end_s):
            raise ModelError(f"bad time span {self.start_s}-{self.end_s} s: need finite 0 <= start < end")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class VideoSource:
    """The picture: its file and its exact length (frames at a rational rate ``fps_num/fps_den``)."""

    path: str
    frame_count: int
    fps_num: int
    fps_den: int = 1
    vfr_duration_s: float | None = None  # variable frame rate: the picture's length is its duration

    @property
    def duration_s(self) -> float:
        if self.vfr_duration_s is not None:
            return self.vfr_duration_s
        return self.frame_count * self.fps_den / self.fps_num

    def picture_samples(self, sample_rate: int) -> int:
        """The picture's length in samples, exactly as the project and the export compute it."""
        from fractions import Fraction

        from triergon_studio.core.timecode import picture_samples, seconds_to_samples

        if self.vfr_duration_s is not None:
            return seconds_to_samples(Fraction(self.vfr_duration_s), sample_rate)
        return picture_samples(self.frame_count, Fraction(self.fps_num, self.fps_den), sample_rate)

    @classmethod
    def from_probe(cls, info: Any) -> VideoSource:
        """From a ``video.probe.VideoInfo`` (or anything with path, frame_count, fps, duration_s, is_vfr)."""
        from fractions import Fraction

        fps = Fraction(info.fps)
        return cls(
            str(info.path),
            int(info.frame_count),
            fps.numerator,
            fps.denominator,
            float(info.duration_s) if getattr(info, "is_vfr", False) else None,
        )


@dataclass(frozen=True, slots=True)
class AudioClip:
    """A sound file used between ``in_s`` and ``out_s`` (None = to its end)."""

    path: str
    in_s: float = 0.0
    out_s: float | None = None

    def __post_init__(self) -> None:
        if self.in_s < 0 or (self.out_s is not None and self.out_s <= self.in_s):
            raise ModelError("in/out points out of order", self.path)


@dataclass(frozen=True, slots=True)
class RegionSource:
    """Regenerate ``[start_s, end_s)`` (video time) of an existing take placed at ``take_start_s``."""

    take_path: str
    take_start_s: float
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeSpec:
    span: TimeSpan
    video: VideoSource | None = None
    use_video: bool = True  # the picture as a prompt, where the model takes one
    text: str = ""
    negative_text: str = ""
    reference: AudioClip | None = None  # reference-audio prompt
    init_audio: AudioClip | None = None  # audio-to-audio: sample from this sound noised to init_noise
    init_noise: float | None = None
    curves: LoudnessCurve | None = None  # video time; must cover the span
    curve_method: str | None = None  # where curves come from when ``curves`` is None (CURVE_METHODS)
    follow_curves: str | None = None  # FOLLOW_MODES; None = the family's default
    conform: bool = False  # conform the take's loudness to the curves (the last, exact stage)
    model: str | None = None  # a model name or folder; None = the bundled default
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    guidance: str | None = None  # "cfg" or "apg" where the family offers them
    seed: int | None = None  # None = a random seed, recorded in the take
    variations: int = 1
    region: RegionSource | None = None
    extra: dict[str, float] = field(default_factory=dict)  # family-specific numeric knobs, validated there

    def __post_init__(self) -> None:
        if self.steps is not None and not 1 <= self.steps <= 10_000:
            raise ModelError(f"steps must be between 1 and 10000, got {self.steps}")
        if self.cfg is not None and not (math.isfinite(self.cfg) and 0 <= self.cfg <= 100):
            raise ModelError(f"cfg must be a finite number between 0 and 100, got {self.cfg}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ModelError(f"seed must be between 0 and 2^63 - 1, got {self.seed}")
        if not 1 <= self.variations <= 64:
            raise ModelError(f"variations must be between 1 and 64, got {self.variations}")
        if self.init_noise is not None and not (math.isfinite(self.init_noise) and 0 < self.init_noise <= 1):
            raise ModelError(f"init noise must be in (0, 1], got {self.init_noise}")
        if self.follow_curves is not None and self.follow_curves not in FOLLOW_MODES:
            raise ModelError(
                f"follow curves must be one of {', '.join(FOLLOW_MODES)}, got {self.follow_curves!r}"
            )
        if self.curve_method is not None and self.curve_method not in CURVE_METHODS:
            raise ModelError(
                f"curve method must be one of {', '.join(CURVE_METHODS)}, got {self.curve_method!r}"
            )
        if self.video is not None and self.span.end_s > self.video.duration_s + 1e-6:
            raise ModelError(
                f"span ends at {self.span.end_s:.3f} s, after the picture's end "
                f"({self.video.duration_s:.3f} s)",
                self.video.path,
            )

    # ---------------------------------------------------------------------------------- derived facts

    def n_samples(self, sample_rate: int = SAMPLE_RATE) -> int:
        """The exact output length: the picture's length to the sample for the whole video, else the span's."""
        v = self.video
        if v is not None and self.span.start_s == 0 and abs(self.span.end_s - v.duration_s) < 1e-6:
            return v.picture_samples(sample_rate)
        return int(round(self.span.duration_s * sample_rate))

    def with_seed(self, seed: int) -> TakeSpec:
        return replace(self, seed=seed)

    # ---------------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, LoudnessCurve):
                v = v.to_json()
            elif v is not None and hasattr(v, "__dataclass_fields__"):
                v = {g.name: getattr(v, g.name) for g in fields(v)}
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "take spec") -> TakeSpec:
        if not isinstance(data, dict):
            raise ModelError(f"{where} must be a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelError(f"{where} has unknown field(s): {', '.join(unknown)}")
        kinds: dict[str, type] = {
            "span": TimeSpan,
            "video": VideoSource,
            "reference": AudioClip,
            "init_audio": AudioClip,
            "region": RegionSource,
        }
        kw: dict[str, Any] = {}
        for key, value in data.items():
            if key in kinds and value is not None:
                try:
                    value = kinds[key](**value)
                except TypeError as exc:
                    raise ModelError(f"{where}.{key}: {exc}") from exc
            elif key == "curves" and value is not None:
                value = LoudnessCurve.from_json(value)
            elif key == "extra":
                value = {str(k): float(v) for k, v in (value or {}).items()}
            kw[key] = value
        if "span" not in kw:
            raise ModelError(f"{where} needs a span")
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ModelError(f"{where}: {exc}") from exc

    def digest(self) -> str:
        """A stable hash of everything that shapes the audio (for resumable batch renders)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def spec_from_project(
    project: Any,
    *,
    region: tuple[float, float] | None = None,
    source_take: Any | None = None,
    seed: int | None = None,
) -> TakeSpec:
    """The app's ``TakeSpec``: the project's prompts, curves and settings (a snapshot, taken on the UI thread).

    ``region`` (video seconds) generates that part of the picture; with ``source_take`` (a ``core.Take`` on the
    project) it regenerates that region of the take by inpainting instead."""
    from triergon_studio.core.model import Take

    s = project.settings
    video = None
    path = project.video_abspath() if project.video is not None else None
    if path is not None:
        fps = project.fps
        vfr = float(project.duration_s) if project.video.is_vfr else None
        video = VideoSource(str(path), int(project.frame_count), fps.numerator, fps.denominator, vfr)
    whole = (0.0, video.duration_s if video is not None else float(project.duration_s))
    region_src = None
    if source_take is not None and region is not None:
        assert isinstance(source_take, Take)
        start = (
            float(source_take.metadata.get("start_s", 0.0)) if isinstance(source_take.metadata, dict) else 0.0
        )
        span = (start, start + float(source_take.duration_s))
        region_src = RegionSource(
            str(project.take_path(source_take)), start, float(region[0]), float(region[1])
        )
    else:
        span = region or s.span or whole
    refs = project.prompts.references
    p = project.prompts
    return TakeSpec(
        span=TimeSpan(float(span[0]), float(span[1])),
        video=video,
        use_video=bool(p.use_video),
        text=p.text.strip(),
        negative_text=p.negative_text.strip(),
        reference=AudioClip(refs[0].path, refs[0].in_s, refs[0].out_s) if refs else None,
        init_audio=AudioClip(p.init_audio.path, p.init_audio.in_s, p.init_audio.out_s)
        if p.init_audio
        else None,
        init_noise=s.init_noise,
        curves=project.curves,
        follow_curves=s.follow_curves,
        conform=bool(s.conform),
        model=s.model,
        steps=s.steps,
        cfg=s.cfg,
        sampler=s.sampler,
        guidance=s.guidance,
        seed=seed,
        variations=max(1, int(s.variations)),
        region=region_src,
    )
