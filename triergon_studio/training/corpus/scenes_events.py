"""Scenes made of discrete visual events: impacts, footsteps, doors, switches, bells, breaking glass, whooshes."""

from __future__ import annotations

import numpy as np

from triergon_studio.training.corpus import dsp, sounds
from triergon_studio.training.corpus.dsp import CTRL_RATE, SR
from triergon_studio.training.corpus.scene import (
    Canvas,
    Script,
    at,
    ctrl_len,
    fold,
    jitter_color,
    plain_background,
)

MATERIAL_LOOK = {"wood": (150, 95, 50), "metal": (170, 175, 185), "glass": (170, 225, 240)}
MATERIAL_OBJ = {
    "wood": ["block", "plank", "log"],
    "metal": ["pipe", "pan", "can"],
    "glass": ["jar", "bottle", "cup"],
}


def impacts(rng: np.random.Generator, dur: float, material: str) -> Script:
    """Objects dropped onto a floor; every bounce is a modal strike whose strength follows impact speed."""
    n = ctrl_len(dur)
    x, y, size, vis = np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n, bool)
    floor = rng.uniform(0.72, 0.88)
    g = rng.uniform(2.2, 3.5)
    rest = {"wood": 0.35, "metal": 0.55, "glass": 0.45}[material] * rng.uniform(0.85, 1.1)
    base_r = rng.uniform(0.04, 0.08)
    dry = np.zeros(int(dur * SR))
    events: list[float] = []
    i = int(rng.uniform(0.0, 0.4) * CTRL_RATE)
    while i < n - 10:
        depth = rng.uniform(0.6, 1.4)
        x0, vx = rng.uniform(0.15, 0.85), rng.uniform(-0.08, 0.08)
        yy, v, i0 = floor - rng.uniform(0.3, floor - 0.1), 0.0, i
        f0 = rng.uniform(*sounds.MATERIALS[material]["f0"])
        while i < n:
            v += g / CTRL_RATE
            y_new = yy + v / CTRL_RATE
            if y_new >= floor:
                t_hit = (i + (floor - yy) / max(v / CTRL_RATE, 1e-6)) / CTRL_RATE
                strength = min(1.0, v / 3.0)
                events.append(t_hit)
                dsp.add_at(dry, sounds.modal_hit(rng, material, strength, f0), t_hit, strength * depth)
                y_new, v = floor, -rest * v
                if abs(v) < 0.4:
                    break
            yy = y_new
            x[i], y[i], size[i], vis[i] = x0 + vx * (i - i0) / CTRL_RATE, yy, depth, True
            i += 1
        stay = i + int(rng.uniform(0.2, 1.2) * CTRL_RATE)
        while i < min(n, stay):
            x[i], y[i], size[i], vis[i] = x[max(i - 1, 0)], floor, depth, True
            i += 1
        i += int(rng.uniform(0.1, 0.8) * CTRL_RATE)
    col = jitter_color(rng, MATERIAL_LOOK[material])
    square = material == "wood"

    def draw(c: Canvas, t: float) -> None:
        k = int(np.clip(round(t * CTRL_RATE), 0, n - 1))
        if not vis[k]:
            return
        r = base_r * size[k]
        cx, cy = at(x, t), min(at(y, t), floor) - r
        if square:
            c.rect(cx - 1.4 * r, cy - r, cx + 1.4 * r, cy + r, col)
        else:
            c.circle(cx, cy, r, col)
            c.circle(cx - 0.3 * r, cy - 0.3 * r, 0.3 * r, (240, 240, 240))

    x[~vis] = 0.5
    return Script(
        dry,
        x,
        size,
        np.array(events),
        draw,
        plain_background(rng, (70, 80, 95), (110, 100, 90), floor, "planks"),
        {"material": material, "obj": str(rng.choice(MATERIAL_OBJ[material]))},
    )


SURFACE_LOOK = {
    "wood": ((140, 95, 60), "planks"),
    "gravel": ((130, 130, 125), "dots"),
    "snow": ((235, 240, 250), "snow"),
}


def footsteps(rng: np.random.Generator, dur: float, surface: str) -> Script:
    """A walking stick figure; each foot landing is a step sound, pan follows the figure."""
    n = ctrl_len(dur)
    t = np.arange(n) / CTRL_RATE
    period = rng.uniform(0.38, 0.7)
    speed = rng.uniform(0.05, 0.18)
    ground = rng.uniform(0.8, 0.9)
    x = fold(rng.uniform(0.1, 0.9) + rng.choice([-1, 1]) * speed * t, 0.08, 0.92)
    height = np.linspace(rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6), n)
    steps = np.arange(rng.uniform(0.1, period), dur - 0.05, period)
    steps = steps + rng.uniform(-0.02, 0.02, size=len(steps))
    dirs = np.sign(np.gradient(x)) + 1e-9
    land_x = np.array([at(x, s) + np.sign(at(dirs, s)) * 0.5 * speed * period for s in steps])
    dry = np.zeros(int(dur * SR))
    pace = 0.6 + 0.4 * (0.7 - period) / 0.32
    for s in steps:
        strength = at(height, s) / 0.45 * pace * rng.uniform(0.8, 1.2)
        dsp.add_at(dry, sounds.footstep(rng, surface, 1.0), s, strength)
    look, tex = SURFACE_LOOK[surface]
    body = jitter_color(rng, (40, 40, 60), 30)

    def foot(t_now: float, j: int) -> tuple[float, float]:
        idx = np.arange(j, len(steps), 2)
        if len(idx) == 0:
            return at(x, t_now), 0.0
        past = idx[steps[idx] <= t_now]
        if len(past) == 0:
            return at(x, t_now), 0.0
        k = past[-1]
        if t_now < steps[k] + period or k + 2 >= len(steps):
            return land_x[k], 0.0
        q = (t_now - steps[k] - period) / period
        return land_x[k] + (land_x[k + 2] - land_x[k]) * q, np.sin(np.pi * q)

    def draw(c: Canvas, t_now: float) -> None:
        h, bx = at(height, t_now), at(x, t_now)
        hip = ground - 0.5 * h
        c.circle(bx, ground - 0.92 * h, 0.08 * h, body)
        c.line(bx, ground - 0.84 * h, bx, hip, body, 0.03 * h)
        c.line(bx, ground - 0.75 * h, bx - 0.1 * h, hip + 0.05 * h, body, 0.02 * h)
        c.line(bx, ground - 0.75 * h, bx + 0.1 * h, hip + 0.05 * h, body, 0.02 * h)
        for j in (0, 1):
            fx, lift = foot(t_now, j)
            fy = ground - 0.12 * h * lift
            c.line(bx, hip, fx, fy, body, 0.025 * h)
            c.line(fx, fy, fx + 0.06 * h, fy, body, 0.02 * h)

    return Script(
        dry,
        x,
        height / 0.45,
        steps,
        draw,
        plain_background(rng, (120, 150, 180), look, ground, tex),
        {"surface": surface},
    )


def door(rng: np.random.Generator, dur: float) -> Script:
    """A door that opens (creaking hinge), closes (latch) or slams (boom and rattle)."""
    n = ctrl_len(dur)
    action = str(rng.choice(["opening", "closing", "slamming"]))
    angle = np.zeros(n)
    dry = np.zeros(int(dur * SR))
    events: list[float] = []
    i = int(rng.uniform(0.0, 0.6) * CTRL_RATE)
    open_now = action == "closing"
    if open_now:
        angle[:] = np.deg2rad(rng.uniform(50, 80))
    creaky = rng.uniform() < 0.8
    while i < n - 5:
        if not open_now:
            d = int(rng.uniform(0.6, 2.0 if action == "opening" else 1.0) * CTRL_RATE)
            target = np.deg2rad(rng.uniform(45, 85))
            ramp = target * (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, d)))
            m = min(d, n - i)
            angle[i : i + m] = ramp[:m]
            angle[i + m :] = ramp[m - 1]
            events.append(i / CTRL_RATE)
            i += d
        else:
            slam = action == "slamming" or (action == "opening" and rng.uniform() < 0.3)
            d = int((rng.uniform(0.12, 0.3) if slam else rng.uniform(0.4, 1.0)) * CTRL_RATE)
            a0 = angle[min(i, n - 1)]
            prof = np.linspace(0, 1, d) ** (2.0 if slam else 1.0)
            ramp = a0 * (1 - (prof if slam else 0.5 - 0.5 * np.cos(np.pi * prof)))
            m = min(d, n - i)
            angle[i : i + m] = ramp[:m]
            angle[i + m :] = 0.0
            if i + d < n:
                t_hit = (i + d) / CTRL_RATE
                events.append(t_hit)
                dsp.add_at(dry, sounds.door_hit(rng, slam), t_hit, 1.0 if slam else 0.45)
            i += d
        open_now = not open_now
        i += int(rng.uniform(0.3, 1.8) * CTRL_RATE)
    speed = np.abs(np.gradient(angle)) * CTRL_RATE / 2.0
    if creaky:
        dry += 0.35 * sounds.creak(rng, np.clip(speed, 0, 1) * (angle > 0.02))[: len(dry)]
    cx, w = rng.uniform(0.3, 0.7), rng.uniform(0.18, 0.28)
    top, bottom = rng.uniform(0.1, 0.25), rng.uniform(0.8, 0.92)
    leaf = jitter_color(rng, (120, 70, 40), 35)
    xs = cx - w / 2 + w * np.cos(angle) / 2

    def draw(c: Canvas, t: float) -> None:
        a = at(angle, t)
        x0 = cx - w / 2
        c.rect(x0 - 0.015, top - 0.015, x0 + w + 0.015, bottom, (230, 225, 210))
        c.rect(x0, top, x0 + w, bottom, (20, 20, 25))
        xe, dy = x0 + w * np.cos(a), 0.08 * np.sin(a)
        c.poly(np.array([[x0, top], [xe, top - dy], [xe, bottom + dy], [x0, bottom]]), leaf)
        c.circle(x0 + (xe - x0) * 0.85, (top + bottom) / 2, 0.012, (210, 190, 90))

    return Script(
        dry,
        xs,
        np.full(n, 1.0),
        np.array(events),
        draw,
        plain_background(rng, (185, 170, 150), (90, 80, 70), bottom, "planks"),
        {"action": action},
    )


def switch(rng: np.random.Generator, dur: float) -> Script:
    """A wall switch toggling a lamp: each flip is a click."""
    n = ctrl_len(dur)
    times = np.cumsum(rng.uniform(0.3, 2.0, size=int(dur / 0.3) + 2))
    times = times[times < dur - 0.05] + rng.uniform(0, 0.2)
    times = times[times < dur - 0.05]
    state = np.zeros(n)
    dry = np.zeros(int(dur * SR))
    double = rng.uniform() < 0.4
    for k, tt in enumerate(times):
        state[int(tt * CTRL_RATE) :] = (k + 1) % 2
        dsp.add_at(dry, sounds.click(rng), tt, rng.uniform(0.7, 1.0))
        if double:
            dsp.add_at(dry, sounds.click(rng), tt + rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.5))
    sx, lx = rng.uniform(0.2, 0.45), rng.uniform(0.55, 0.8)
    sc = rng.uniform(0.8, 1.2)

    def draw(c: Canvas, t: float) -> None:
        on = state[int(np.clip(t * CTRL_RATE, 0, n - 1))] > 0.5
        c.rect(sx - 0.05 * sc, 0.45 - 0.08 * sc, sx + 0.05 * sc, 0.45 + 0.08 * sc, (235, 235, 230))
        ly = 0.45 - 0.04 * sc if on else 0.45 + 0.04 * sc
        c.rect(sx - 0.015 * sc, ly - 0.03 * sc, sx + 0.015 * sc, ly + 0.03 * sc, (90, 90, 90))
        c.line(lx, 0.0, lx, 0.3, (40, 40, 40), 0.006)
        c.circle(lx, 0.35, 0.07 * sc, (255, 230, 120) if on else (70, 70, 60))

    return Script(
        dry,
        np.full(n, sx),
        np.full(n, sc),
        times,
        draw,
        plain_background(rng, (140, 130, 120), None, 1.0),
        {"obj": "light switch" if not double else "push button"},
    )


def bell(rng: np.random.Generator, dur: float) -> Script:
    """A swinging bell struck by its clapper at each extreme, or a chime tube struck by a mallet."""
    n = ctrl_len(dur)
    t = np.arange(n) / CTRL_RATE
    kind = str(rng.choice(["bell", "chime"]))
    period = rng.uniform(1.0, 2.2)
    amp = np.deg2rad(rng.uniform(15, 35)) * (dsp.smooth_random(rng, n, 3.0) > 0.3)
    amp = np.convolve(amp, np.ones(50) / 50, mode="same")
    phase0 = rng.uniform(0, 2 * np.pi)
    swing = amp * np.sin(2 * np.pi * t / period + phase0)
    k = np.arange(-2, int(2 * dur / period) + 3)
    strikes = (np.pi / 2 + k * np.pi - phase0) * period / (2 * np.pi)  # the swing's extremes
    strikes = strikes[(strikes > 0.02) & (strikes < dur - 0.05)]
    strikes = np.array([s for s in strikes if at(amp, s) > np.deg2rad(8)])
    dry = np.zeros(int(dur * SR))
    for s in strikes:
        dsp.add_at(dry, sounds.bell(rng, kind, 0.7), s, at(amp, s) / np.deg2rad(30))
    px, py, length = rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.15), rng.uniform(0.3, 0.45)
    col = jitter_color(rng, (200, 160, 60) if kind == "bell" else (190, 195, 205))
    bx = px + length * np.sin(swing)

    def draw(c: Canvas, tt: float) -> None:
        a = at(swing, tt)
        ex, ey = px + length * np.sin(a), py + length * np.cos(a)
        c.line(px, py, ex, ey, (60, 50, 40), 0.01)
        if kind == "bell":
            c.poly(
                np.array([[ex - 0.05, ey], [ex + 0.05, ey], [ex + 0.1, ey + 0.14], [ex - 0.1, ey + 0.14]]),
                col,
            )
        else:
            c.rect(ex - 0.015, ey, ex + 0.015, ey + 0.3, col)

    return Script(
        dry,
        bx,
        np.full(n, 1.0),
        strikes,
        draw,
        plain_background(rng, (90, 120, 150), None, 1.0),
        {"kind": kind},
    )


def glass_break(rng: np.random.Generator, dur: float) -> Script:
    """A thrown ball breaks a pane; shards fall and tinkle as they land."""
    n = ctrl_len(dur)
    floor = rng.uniform(0.82, 0.92)
    dry = np.zeros(int(dur * SR))
    events: list[float] = []
    panes: list[tuple[float, float, float, np.ndarray]] = []  # t_hit, cx, from_side, shard params
    t_hit = rng.uniform(0.3, min(1.0, dur * 0.5))
    while t_hit < dur - 0.1:
        cx = rng.uniform(0.35, 0.65)
        shards = rng.uniform(-1, 1, size=(int(rng.integers(10, 24)), 4))  # dx, dy, vx, vy
        panes.append((t_hit, cx, float(rng.choice([-1, 1])), shards))
        events.append(t_hit)
        dsp.add_at(dry, sounds.modal_hit(rng, "glass", 1.0), t_hit, 0.8)
        crack = dsp.band_noise(rng, int(0.08 * SR), 1500, 12000) * dsp.t60_env(int(0.08 * SR), 0.06)
        dsp.add_at(dry, crack, t_hit, 1.0)
        for _dx, dy, _vx, vy in shards:
            y0 = 0.45 + 0.15 * dy
            fall = (0.4 * vy + np.sqrt((0.4 * vy) ** 2 + 2 * 3.0 * (floor - y0))) / 3.0
            land = t_hit + fall
            dsp.add_at(dry, sounds.shards(rng, 3, 0.05)[0], land, rng.uniform(0.15, 0.4))
        tail, _ = sounds.shards(rng, int(rng.integers(15, 40)), rng.uniform(0.3, 0.8))
        dsp.add_at(dry, tail, t_hit + 0.01, 0.5)
        t_hit += rng.uniform(2.0, 4.0)
    pane_col = jitter_color(rng, (180, 220, 235), 15)

    def draw(c: Canvas, t: float) -> None:
        cur = [p for p in panes if p[0] - 1.0 <= t < p[0] + 1.6]
        if not cur:
            nxt = [p for p in panes if p[0] > t]
            if nxt:
                cx = nxt[0][1]
                c.rect(cx - 0.15, 0.3, cx + 0.15, 0.6, pane_col)
            return
        th, cx, side, shards = cur[0]
        if t < th:
            c.rect(cx - 0.15, 0.3, cx + 0.15, 0.6, pane_col)
            q = 1 - (th - t)
            c.circle(cx - side * (0.6 * (1 - q)), 0.45, 0.025, (200, 60, 50))
            return
        dt = t - th
        for dx, dy, vx, vy in shards:
            sx = cx + 0.15 * dx + 0.15 * vx * dt
            sy = min(0.45 + 0.15 * dy - 0.4 * vy * dt + 1.5 * dt * dt, floor)
            c.poly(np.array([[sx, sy], [sx + 0.02, sy + 0.01], [sx + 0.005, sy + 0.03]]), pane_col)

    x = np.full(n, 0.5)
    for th, cx, _, _ in panes:
        x[int(max(0, th - 1.0) * CTRL_RATE) :] = cx
    return Script(
        dry,
        x,
        np.full(n, 1.0),
        np.array(events),
        draw,
        plain_background(rng, (60, 60, 70), (100, 95, 90), floor),
        {},
    )


def whoosh(rng: np.random.Generator, dur: float) -> Script:
    """Objects swung fast across the frame; the whoosh follows the object's speed and position."""
    n = ctrl_len(dur)
    x = np.full(n, 0.5)
    y = np.full(n, 0.5)
    speed = np.zeros(n)
    events: list[float] = []
    i = int(rng.uniform(0.1, 0.8) * CTRL_RATE)
    while i < n - 20:
        d = int(rng.uniform(0.2, 0.7) * CTRL_RATE)
        a, b = (0.0, 1.0) if rng.uniform() < 0.5 else (1.0, 0.0)
        q = np.linspace(0, 1, d)
        path = a + (b - a) * (3 * q**2 - 2 * q**3)
        m = min(d, n - i)
        x[i : i + m] = path[:m]
        x[i + m :] = path[m - 1]
        y[i : i + m] = rng.uniform(0.3, 0.7) + 0.1 * np.sin(np.pi * q[:m])
        sp = np.abs(np.gradient(path)) * CTRL_RATE * d / CTRL_RATE / 1.5
        speed[i : i + m] = sp[:m] * min(1.0, 0.3 / (d / CTRL_RATE))
        events.append((i + d / 2) / CTRL_RATE)
        i += d + int(rng.uniform(0.3, 2.0) * CTRL_RATE)
    speed = np.clip(speed, 0, 1)
    dry = sounds.swept_noise(rng, speed)[: int(dur * SR)]
    dry = np.pad(dry, (0, int(dur * SR) - len(dry)))
    col = jitter_color(rng, (230, 230, 240), 20)

    def draw(c: Canvas, t: float) -> None:
        if at(speed, t) < 0.02:
            return
        x1, x0 = at(x, t), at(x, max(0.0, t - 0.06))
        c.line(x0, at(y, t) + 0.05, x1, at(y, t), col, 0.02)
        c.circle(x1, at(y, t), 0.03, col)

    return Script(
        dry * 1.5,
        x,
        np.full(n, 1.0),
        np.array(events),
        draw,
        plain_background(rng, (30, 40, 60), None, 1.0),
        {},
    )
