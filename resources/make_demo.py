"""Make the demo picture and its project: ``python resources/make_demo.py --ensure``.

Renders ~12 s of 1280x720 at 25 fps with OpenCV -- a ball bouncing on a wooden floor, a door swinging shut,
a figure whose feet hit the floor -- with burnt-in timecode, encodes it with PyAV (H.264), and writes a
project for it with a marker at every sound event (times computed from the same motion that drew them).
``--ensure`` does nothing when both files exist and the project opens; the outputs are git-ignored.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

W, H, FPS, SECONDS = 1280, 720, 25, 12
FLOOR_Y = 600
OUT_DIR = ROOT / "resources" / "demo"


@dataclass(frozen=True)
class Event:
    time_s: float
    name: str
    level_lufs: float  # how loud the drawn curve makes it


# --- motion (shared by the drawing and the markers) ---------------------------------------------------


class Ball:
    """Dropped at t=0.4 s from 420 px above the floor; loses a quarter of its speed at each bounce."""

    radius, g, restitution, drop_t, x0, vx = 34, 2600.0, 0.72, 0.4, 140.0, 38.0

    def __init__(self) -> None:
        h = 420.0
        t = self.drop_t + math.sqrt(2 * h / self.g)
        v = math.sqrt(2 * self.g * h) * self.restitution
        self.impacts = [t]
        while v > 140:  # smaller bounces are not worth a sound
            t += 2 * v / self.g
            self.impacts.append(t)
            v *= self.restitution
        self.rest_t = t

    def height(self, t: float) -> float:
        """Height of the ball's bottom above the floor."""
        if t < self.drop_t:
            return 420.0
        if t < self.impacts[0]:
            return 420.0 - 0.5 * self.g * (t - self.drop_t) ** 2
        for i in range(len(self.impacts) - 1):
            a, b = self.impacts[i], self.impacts[i + 1]
            if a <= t < b:
                v = self.g * (b - a) / 2
                return max(0.0, v * (t - a) - 0.5 * self.g * (t - a) ** 2)
        return 0.0

    def x(self, t: float) -> float:
        return self.x0 + self.vx * min(max(t - self.drop_t, 0.0), self.rest_t)


class Door:
    """Opens out of view, then swings shut with accelerating speed: slams at 6.4 s."""

    hinge_x, top, bottom, width = 640, 250, FLOOR_Y, 190
    start_t, slam_t, open_deg = 4.9, 6.4, 80.0

    def angle(self, t: float) -> float:
        if t <= self.start_t:
            return self.open_deg
        if t >= self.slam_t:
            # a small rebound after the slam
            dt = t - self.slam_t
            return 3.0 * math.exp(-dt * 9) * abs(math.sin(dt * 30))
        u = (t - self.start_t) / (self.slam_t - self.start_t)
        return self.open_deg * (1 - u * u)


class Walker:
    """Walks in from the right at 8.0 s; one footfall every 0.45 s until 11.6 s."""

    start_t, step_s, end_t, x_start, speed = 8.0, 0.45, 11.6, 1240.0, 95.0

    def footfalls(self) -> list[float]:
        n = int((self.end_t - self.start_t) / self.step_s)
        return [self.start_t + self.step_s * (k + 1) for k in range(n)]

    def pose(self, t: float) -> tuple[float, list[tuple[float, float]]]:
        """Hip x and the two feet (x, height above floor)."""
        tt = min(max(t - self.start_t, 0.0), self.end_t - self.start_t)
        hip = self.x_start - self.speed * tt
        feet = []
        for foot in (0, 1):
            phase = (tt / self.step_s + foot) % 2.0  # 0..1 swinging, 1..2 planted
            if t < self.start_t or t > self.end_t or phase >= 1.0:
                feet.append((hip + (10 if foot else -10), 0.0))
            else:
                feet.append((hip - 30 + 60 * phase, 38 * math.sin(math.pi * phase)))
        return hip, feet


def contact_frame(t: float) -> int:
    """The frame an editor syncs a hit to: the one nearest the moment of contact."""
    return round(t * FPS)


def events() -> list[Event]:
    """Sound events at the time of their contact frame (markers sit on frames, as an editor puts them)."""
    ball, door, walker = Ball(), Door(), Walker()
    raw = [(t, f"ball bounce {i + 1}", -20.0 - 3.0 * i) for i, t in enumerate(ball.impacts)]
    raw.append((door.slam_t, "door slam", -14.0))
    raw += [(t, f"footstep {i + 1}", -26.0) for i, t in enumerate(walker.footfalls())]
    return sorted((Event(contact_frame(t) / FPS, name, lv) for t, name, lv in raw), key=lambda e: e.time_s)


# --- drawing -------------------------------------------------------------------------------------------


def background() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    ramp = np.linspace(70, 120, FLOOR_Y, dtype=np.float32)[:, None]
    img[:FLOOR_Y] = np.stack([ramp * 0.9, ramp * 0.95, ramp], axis=-1).astype(np.uint8)
    img[FLOOR_Y:] = (96, 64, 40)  # RGB wood
    for x in range(0, W, 160):  # floor boards
        img[FLOOR_Y:, x : x + 3] = (70, 45, 28)
    img[FLOOR_Y : FLOOR_Y + 4] = (40, 28, 18)
    return img


def draw_frame(base: np.ndarray, i: int, ball: Ball, door: Door, walker: Walker) -> np.ndarray:
    import cv2

    from triergon_studio.core.timecode import frames_to_timecode

    t = i / FPS
    img = base.copy()
    # door frame and door leaf (its far edge moves towards the viewer as it opens)
    cv2.rectangle(
        img, (door.hinge_x - 8, door.top - 8), (door.hinge_x + door.width + 8, door.bottom), (50, 40, 35), -1
    )
    cv2.rectangle(img, (door.hinge_x, door.top), (door.hinge_x + door.width, door.bottom), (15, 15, 20), -1)
    a = math.radians(door.angle(t))
    far_x = door.hinge_x + door.width * math.cos(a)
    lift = 40 * math.sin(a)
    leaf = np.array(
        [
            [door.hinge_x, door.top],
            [far_x, door.top - lift],
            [far_x, door.bottom + lift * 0.5],
            [door.hinge_x, door.bottom],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [leaf], (150, 95, 55), lineType=cv2.LINE_AA)
    knob = (int(door.hinge_x + 0.85 * (far_x - door.hinge_x)), (door.top + door.bottom) // 2)
    cv2.circle(img, knob, 7, (220, 190, 80), -1, cv2.LINE_AA)
    # ball: on the frame nearest each impact it is drawn on the floor, squashed
    contact = any(contact_frame(x) == i for x in ball.impacts)
    h = 0.0 if contact else ball.height(t)
    squash = 0.8 if contact else 1.0
    ry = int(ball.radius * squash)
    cy = int(FLOOR_Y - h - ry)
    cx = int(ball.x(t))
    cv2.ellipse(
        img,
        (cx, FLOOR_Y - 2),
        (int(ball.radius * (1.2 - min(h, 400) / 600)), 6),
        0,
        0,
        360,
        (50, 35, 25),
        -1,
        cv2.LINE_AA,
    )
    cv2.ellipse(img, (cx, cy), (int(ball.radius / squash), ry), 0, 0, 360, (220, 60, 50), -1, cv2.LINE_AA)
    # walker
    if t >= walker.start_t - 0.5:
        hip, feet = walker.pose(t)
        hip_y = FLOOR_Y - 95
        head = (int(hip), hip_y - 120)
        cv2.line(img, (int(hip), hip_y), (int(hip), hip_y - 95), (235, 235, 235), 9, cv2.LINE_AA)
        cv2.circle(img, head, 22, (235, 235, 235), -1, cv2.LINE_AA)
        for fx, fh in feet:
            cv2.line(
                img, (int(hip), hip_y), (int(fx), int(FLOOR_Y - 6 - fh)), (235, 235, 235), 9, cv2.LINE_AA
            )
            cv2.line(
                img,
                (int(fx), int(FLOOR_Y - 6 - fh)),
                (int(fx) - 18, int(FLOOR_Y - 6 - fh)),
                (30, 30, 30),
                9,
                cv2.LINE_AA,
            )
    # burnt-in timecode, as on a picture-locked cut
    tc = frames_to_timecode(i, FPS)
    cv2.rectangle(img, (W - 330, 18), (W - 18, 66), (0, 0, 0), -1)
    cv2.putText(
        img, f"{tc}  {i:03d}", (W - 318, 54), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA
    )
    return img


def render_video(path: Path) -> None:
    import av

    ball, door, walker = Ball(), Door(), Walker()
    base = background()
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    container = av.open(str(tmp), "w", format="mp4")
    try:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = FPS * 2
        stream.codec_context.options = {"preset": "veryfast", "crf": "26", "tune": "animation"}
        for i in range(FPS * SECONDS):
            frame = av.VideoFrame.from_ndarray(draw_frame(base, i, ball, door, walker), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    tmp.replace(path)


def write_project(video: Path, project_path: Path) -> None:
    from triergon_studio.video.project_video import new_project

    project = new_project(video, project_path)
    assert project.fps == Fraction(FPS)
    project.set_prompt_text(
        "rubber ball bouncing on a wooden floor, a heavy wooden door slams shut, footsteps on wooden boards"
    )
    evs = events()
    for e in evs:
        project.add_marker(round(e.time_s, 4), e.name)
    try:
        from triergon_studio.core.curves import CurveSource, LoudnessCurve
    except ImportError:  # the curves module ships with the audio layer; the demo works without curves
        LoudnessCurve = None  # noqa: N806
    if LoudnessCurve is not None:
        n = math.ceil(project.duration_s * 6)
        t = np.arange(n) / 6.0
        level = np.full(n, -50.0)
        for e in evs:  # each event: a jump to its level, decaying 30 LU/s
            dt = t - e.time_s
            level = np.maximum(level, np.where(dt >= -1 / 6, e.level_lufs - 30 * np.clip(dt, 0, None), -70))
        # the door is on the right of the picture centre, the ball on the left: pan the curves to match
        right = level.copy()
        left = level.copy()
        for e in evs:
            k = min(n - 1, max(0, int(e.time_s * 6)))
            if e.name.startswith("ball"):
                right[k : k + 3] -= 6
            elif e.name.startswith("footstep"):
                left[k : k + 3] -= 6
        project.set_curves(LoudnessCurve(left, right, project.duration_s, 6.0, CurveSource.DRAWN))
    project.undo.clear()
    project.save(project_path, overwrite=True)


def is_ready(video: Path, project_path: Path) -> bool:
    if not (video.is_file() and project_path.is_file()):
        return False
    try:
        from triergon_studio.core.project import Project

        return Project.load(project_path).video_status() == "ok"
    except Exception:  # noqa: BLE001 -- anything unreadable is simply regenerated
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensure", action="store_true", help="only generate what is missing or unreadable")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    video, project_path = args.out / "demo.mp4", args.out / "demo_project.json"
    if args.ensure and is_ready(video, project_path):
        print(f"demo ready: {project_path}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    render_video(video)
    write_project(video, project_path)
    print(f"demo written in {time.perf_counter() - t0:.1f} s: {video} and {project_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
