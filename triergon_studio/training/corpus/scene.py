"""Scene scripts: the shared description of one example's visual events and the sound they cause.

A script holds control-rate tracks (on-screen x of the source, its apparent size), the event times, the dry
mono source, and a draw function. The video is rendered from the same tracks at any resolution, so what the
picture shows (an object lands, a foot touches down, an object crosses the frame) is what the audio hears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np

from triergon_studio.training.corpus.dsp import CTRL_RATE

Color = tuple[int, int, int]


class Canvas:
    """Draws in normalised coordinates (x, y in [0, 1]; lengths relative to the short side)."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.h, self.w = img.shape[:2]
        self.s = min(self.w, self.h)

    def p(self, x: float, y: float) -> tuple[int, int]:
        return int(round(x * self.w)), int(round(y * self.h))

    def r(self, r: float) -> int:
        return max(1, int(round(r * self.s)))

    def circle(self, x: float, y: float, r: float, color: Color, thick: float = 0.0) -> None:
        cv2.circle(self.img, self.p(x, y), self.r(r), color, -1 if thick <= 0 else self.r(thick))

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, thick: float = 0.01) -> None:
        cv2.line(self.img, self.p(x0, y0), self.p(x1, y1), color, self.r(thick))

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color, thick: float = 0.0) -> None:
        cv2.rectangle(self.img, self.p(x0, y0), self.p(x1, y1), color, -1 if thick <= 0 else self.r(thick))

    def poly(self, pts: np.ndarray, color: Color, thick: float = 0.0) -> None:
        px = np.stack([pts[:, 0] * self.w, pts[:, 1] * self.h], axis=1).round().astype(np.int32)
        if thick <= 0:
            cv2.fillPoly(self.img, [px], color)
        else:
            cv2.polylines(self.img, [px], True, color, self.r(thick))

    def ellipse(self, x: float, y: float, rx: float, ry: float, color: Color, thick: float = 0.0) -> None:
        axes = (max(1, int(rx * self.w)), max(1, int(ry * self.h)))
        cv2.ellipse(self.img, self.p(x, y), axes, 0, 0, 360, color, -1 if thick <= 0 else self.r(thick))


@dataclass
class Script:
    dry: np.ndarray  # mono source at 44.1 kHz, level already set by event strengths
    x: np.ndarray  # on-screen x of the source at CTRL_RATE (drives the pan)
    size: np.ndarray  # apparent size relative to the reference distance (drives gain and air absorption)
    events: np.ndarray  # seconds of the visual events that start sounds
    draw: Callable[[Canvas, float], None]
    background: Callable[[Canvas], None]
    attrs: dict[str, str] = field(default_factory=dict)  # caption slots (material, action, ...)


def ctrl_len(dur: float) -> int:
    return int(np.ceil(dur * CTRL_RATE)) + 1


def at(track: np.ndarray, t: float) -> float:
    """Read a control track at time t (linear interpolation)."""
    f = t * CTRL_RATE
    i = int(np.clip(np.floor(f), 0, len(track) - 1))
    j = min(i + 1, len(track) - 1)
    a = f - np.floor(f)
    return float(track[i] * (1 - a) + track[j] * a)


def jitter_color(rng: np.random.Generator, base: Color, amount: int = 25) -> Color:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in base)  # type: ignore[return-value]


def plain_background(
    rng: np.random.Generator, wall: Color, floor: Color | None, floor_y: float, texture: str = ""
) -> Callable[[Canvas], None]:
    wall = jitter_color(rng, wall)
    floor = jitter_color(rng, floor) if floor is not None else None
    seed = int(rng.integers(1 << 31))

    def draw(c: Canvas) -> None:
        c.img[:] = wall
        if floor is None:
            return
        c.rect(0, floor_y, 1, 1, floor)
        r = np.random.default_rng(seed)  # the same texture at every resolution
        if texture == "planks":
            for k in range(1, 6):
                yy = floor_y + (1 - floor_y) * k / 6
                c.line(0, yy, 1, yy, cast(Color, tuple(max(0, v - 40) for v in floor)), 0.004)
        elif texture == "dots":
            for x, y in r.uniform(0, 1, size=(160, 2)):
                rgb = np.clip(np.array(floor) + r.integers(-60, 60), 0, 255)
                shade = cast(Color, tuple(int(v) for v in rgb))
                c.circle(x, floor_y + y * (1 - floor_y), 0.006, shade)
        elif texture == "snow":
            for x, y in r.uniform(0, 1, size=(60, 2)):
                c.circle(x, floor_y + y * (1 - floor_y), 0.004, (200, 210, 235))

    return draw


def fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect a track into [lo, hi] (a walker turning round at the edges)."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)
