"""Paired (video, stereo audio, caption, L/R loudness curves, class) examples, generated on the fly from a seed.

An example is a pure function of ``(seed, index)``: the class, length, frame rate, picture size, scene and
sound are all drawn from one ``numpy.random.Generator``. Video frames are rendered lazily at any size, so a
60 s example costs no memory until frames are asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial

import numpy as np

from triergon_studio.training.corpus import dsp, scenes_events, scenes_textures
from triergon_studio.training.corpus.captions import make_caption
from triergon_studio.training.corpus.dsp import SR
from triergon_studio.training.corpus.scene import Canvas, Script

# name -> (scene builder, nominal level of a full-strength event in dBFS)
CLASS_TABLE: dict[str, tuple[Callable[[np.random.Generator, float], Script], float]] = {
    "impact_wood": (partial(scenes_events.impacts, material="wood"), -8.0),
    "impact_metal": (partial(scenes_events.impacts, material="metal"), -10.0),
    "impact_glass": (partial(scenes_events.impacts, material="glass"), -12.0),
    "footsteps_wood": (partial(scenes_events.footsteps, surface="wood"), -12.0),
    "footsteps_gravel": (partial(scenes_events.footsteps, surface="gravel"), -14.0),
    "footsteps_snow": (partial(scenes_events.footsteps, surface="snow"), -14.0),
    "door": (scenes_events.door, -8.0),
    "cloth_rustle": (scenes_textures.cloth, -14.0),
    "paper_crumple": (scenes_textures.paper, -12.0),
    "switch_click": (scenes_events.switch, -16.0),
    "rain": (scenes_textures.rain, -10.0),
    "wind": (scenes_textures.wind, -10.0),
    "fire": (scenes_textures.fire, -10.0),
    "water": (scenes_textures.water, -12.0),
    "engine": (scenes_textures.engine, -10.0),
    "whoosh": (scenes_events.whoosh, -12.0),
    "bell_chime": (scenes_events.bell, -12.0),
    "glass_break": (scenes_events.glass_break, -8.0),
}
CLASS_NAMES: tuple[str, ...] = tuple(CLASS_TABLE)
FPS_CHOICES: tuple[Fraction, ...] = (
    Fraction(6),
    Fraction(8),
    Fraction(10),
    Fraction(12),
    Fraction(25, 2),
    Fraction(15),
    Fraction(20),
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
)


@dataclass(frozen=True)
class CorpusConfig:
    """What a corpus draws from. ``heldout_captions`` selects the held-out paraphrase templates."""

    min_seconds: float = 1.0
    max_seconds: float = 60.0
    mean_seconds: float = 8.0  # lengths are log-uniform around this, clipped to [min, max]
    classes: tuple[str, ...] = CLASS_NAMES
    min_side: int = 224
    max_side: int = 640
    heldout_captions: bool = False


class SceneVideo:
    """Frames of one example, rendered on demand at the native size or any other size."""

    def __init__(self, script: Script, width: int, height: int, fps: Fraction, n_frames: int) -> None:
        self.script, self.width, self.height, self.fps, self.n_frames = script, width, height, fps, n_frames
        self._bg: dict[tuple[int, int], np.ndarray] = {}

    def _background(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self._bg:
            img = np.zeros((size[1], size[0], 3), np.uint8)
            self.script.background(Canvas(img))
            self._bg[size] = img
        return self._bg[size]

    def render(self, t: float, size: tuple[int, int] | None = None) -> np.ndarray:
        """The picture at time t (seconds) as H x W x 3 uint8 RGB; ``size`` is (width, height)."""
        size = size or (self.width, self.height)
        img = self._background(size).copy()
        self.script.draw(Canvas(img), float(t))
        return img

    def frame(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
        return self.render(index / float(self.fps), size)

    def frames(self, indices: Sequence[int] | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
        idx = range(self.n_frames) if indices is None else indices
        return np.stack([self.frame(int(i), size) for i in idx])

    def frames_at(
        self, times: Sequence[float] | np.ndarray, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The frame shown at each time (frame k is on screen during [k/fps, (k+1)/fps))."""
        fps = float(self.fps)
        idx = [min(self.n_frames - 1, max(0, int(np.floor(t * fps + 1e-9)))) for t in times]
        return self.frames(idx, size)


@dataclass
class Example:
    seed: int
    index: int
    label: str
    class_id: int
    caption: str
    caption_heldout: bool
    template: int
    audio: np.ndarray  # [N, 2] float32 at 44.1 kHz
    video: SceneVideo
    events: np.ndarray
    attrs: dict[str, str] = field(default_factory=dict)
    sample_rate: int = SR
    seconds_start: float = 0.0
    _curves: np.ndarray | None = None

    @property
    def fps(self) -> Fraction:
        return self.video.fps

    @property
    def duration_s(self) -> float:
        return self.video.n_frames / float(self.video.fps)

    @property
    def seconds_total(self) -> float:
        return self.duration_s

    @property
    def curves(self) -> np.ndarray:
        """Per-channel momentary loudness on 1/6 s windows, LUFS [2, F] (the paper's E_L source)."""
        if self._curves is None:
            from triergon_studio.audio.loudness import channel_curves

            self._curves = np.asarray(channel_curves(self.audio, self.sample_rate), dtype=np.float64)
        return self._curves

    def metadata(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "index": self.index,
            "label": self.label,
            "class_id": self.class_id,
            "caption": self.caption,
            "caption_heldout": self.caption_heldout,
            "template": self.template,
            "fps": [self.fps.numerator, self.fps.denominator],
            "n_frames": self.video.n_frames,
            "width": self.video.width,
            "height": self.video.height,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "seconds_start": self.seconds_start,
            "seconds_total": self.seconds_total,
            "events": [round(float(e), 4) for e in self.events],
            "attrs": self.attrs,
        }


def _even(v: float) -> int:
    return int(v) // 2 * 2


def make_example(
    seed: int,
    index: int,
    config: CorpusConfig | None = None,
    label: str | None = None,
    duration_s: float | None = None,
    sound_redraw: int | None = None,
) -> Example:
    """Build example ``index`` of the corpus with ``seed``; ``label``/``duration_s`` pin those draws.

    ``sound_redraw`` = k makes the same picture (and script) with the sound's draws that the picture does not
    show (``_spatialise``: level jitter, room, noise floor) taken from a generator of their own, seeded by k:
    another equally valid sound track of the same video (caption and events unchanged), for measuring what no
    picture-only predictor can know.
    """
    cfg = config or CorpusConfig()
    rng = np.random.default_rng([seed, index, 0x7E1])
    name = label if label is not None else str(rng.choice(cfg.classes))
    if name not in CLASS_TABLE:
        raise KeyError(f"unknown corpus class {name!r}")
    lo, hi = np.log(cfg.min_seconds), np.log(cfg.max_seconds)
    mid = np.log(np.clip(cfg.mean_seconds, cfg.min_seconds, cfg.max_seconds))
    want = float(np.exp(np.clip(rng.normal(mid, 0.6), lo, hi))) if duration_s is None else duration_s
    fps = FPS_CHOICES[int(rng.integers(len(FPS_CHOICES)))]
    n_frames = max(2, int(round(want * fps)))
    dur = n_frames / float(fps)
    n_samples = int(round(n_frames * SR / fps))  # picture length to the sample
    width = _even(int(rng.integers(cfg.min_side, cfg.max_side + 1)))
    height = _even(int(rng.integers(cfg.min_side, min(width, cfg.max_side) + 1)))
    builder, level_db = CLASS_TABLE[name]
    script = builder(rng, n_samples / SR + 1e-6)
    audio = _spatialise(rng, script, n_samples, level_db)  # always, so the draws after it stay the same
    if sound_redraw is not None:
        own = np.random.default_rng([seed, index, 0x50DD, sound_redraw])
        audio = _spatialise(own, script, n_samples, level_db)
    caption, template = make_caption(rng, name, script.attrs, cfg.heldout_captions)
    video = SceneVideo(script, width, height, fps, n_frames)
    events = script.events[(script.events >= 0) & (script.events < dur)]
    return Example(
        seed=seed,
        index=index,
        label=name,
        class_id=CLASS_NAMES.index(name),
        caption=caption,
        caption_heldout=cfg.heldout_captions,
        template=template,
        audio=audio,
        video=video,
        events=events,
        attrs=dict(script.attrs),
    )


def _spatialise(rng: np.random.Generator, script: Script, n: int, level_db: float) -> np.ndarray:
    """Pan to the on-screen x, scale by apparent size (distance), add a room and a faint noise floor."""
    dry = script.dry[:n] if len(script.dry) >= n else np.pad(script.dry, (0, n - len(script.dry)))
    gain = dsp.ctrl_to_audio(np.clip(script.size, 0.2, 3.0), n)
    st = dsp.pan_equal_power(dry * gain, script.x) * 10 ** ((level_db + rng.uniform(-2.0, 2.0)) / 20)
    st = dsp.distance_lowpass(st, 1.0 / float(np.clip(np.mean(script.size), 0.2, 3.0)))
    st = dsp.apply_room(rng, st, rt60=rng.uniform(0.15, 0.7), wet=rng.uniform(0.05, 0.3))
    floor = 10 ** (rng.uniform(-80.0, -62.0) / 20)
    st += floor * np.stack([dsp.pink_noise(rng, n), dsp.pink_noise(rng, n)], 1)
    peak = float(np.abs(st).max())
    if peak > 0.98:  # keep the waveform legal; the rare loud example is turned down as a whole
        st *= 0.98 / peak
    return st.astype(np.float32)


class Corpus:
    """An endless deterministic stream of examples: example i of seed s is always the same."""

    def __init__(self, seed: int, config: CorpusConfig | None = None) -> None:
        self.seed = seed
        self.config = config or CorpusConfig()

    def __getitem__(self, index: int) -> Example:
        return make_example(self.seed, index, self.config)

    def __iter__(self) -> Iterator[Example]:
        i = 0
        while True:
            yield self[i]
            i += 1
