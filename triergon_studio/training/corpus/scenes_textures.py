"""Scenes of continuous sound whose level follows what moves on screen: rain, wind, fire, water, engines,
cloth and paper."""

from __future__ import annotations

import numpy as np

from triergon_studio.training.corpus import dsp, sounds
from triergon_studio.training.corpus.dsp import CTRL_RATE, SR
from triergon_studio.training.corpus.scene import (
    Canvas,
    Script,
    at,
    ctrl_len,
    jitter_color,
    plain_background,
)


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _bursts(rng: np.random.Generator, n: int, busy: float) -> np.ndarray:
    """Activity that switches on and off smoothly (someone handling an object)."""
    gate = (dsp.smooth_random(rng, n, 0.6) < busy).astype(float)
    gate = np.convolve(gate, np.hanning(15) / np.hanning(15).sum(), mode="same")
    return np.clip(gate * dsp.smooth_random(rng, n, 0.3, 0.5, 1.0), 0, 1)


def rain(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    heavy = rng.uniform() < 0.5
    rate = dsp.smooth_random(rng, n, 4.0, 0.5, 1.0) * (1.0 if heavy else 0.45)
    cx = dsp.smooth_random(rng, n, 5.0, 0.3, 0.7)
    drops = dsp.poisson_times(rng, rate, 400.0)
    drops = drops[drops < dur]
    dry = 0.5 * sounds.bubbles(rng, drops, 1500, 4500, ns, rng.uniform(0.1, 0.6, size=len(drops)))
    hiss = dsp.band_filter(dsp.pink_noise(rng, ns), 1500, 12000) * dsp.ctrl_to_audio(rate, ns) ** 0.8
    dry += 0.25 * hiss
    lanes = rng.uniform(0, 1, size=(150, 3))  # x offset, phase, speed
    col = (200, 210, 230)

    def draw(c: Canvas, t: float) -> None:
        k = int(at(rate, t) * len(lanes))
        centre = at(cx, t)
        for ox, ph, sp in lanes[:k]:
            xx = centre + (ox - 0.5) * 0.9
            yy = (ph + t * (1.2 + sp)) % 1.1 - 0.05
            c.line(xx, yy, xx - 0.01, yy + 0.05, col, 0.003)

    return Script(
        dry,
        cx,
        np.full(n, 1.0),
        drops[:0],
        draw,
        plain_background(rng, (50, 60, 75), (60, 65, 70), 0.9),
        {"adj": "heavy" if heavy else "light"},
    )


def wind(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    gust = dsp.smooth_random(rng, n, rng.uniform(1.0, 3.0), 0.1, 1.0) ** 1.5
    g = dsp.ctrl_to_audio(gust, ns)
    rumble = dsp.band_filter(dsp.pink_noise(rng, ns), 60, 400) * g
    mid = dsp.band_filter(dsp.pink_noise(rng, ns), 400, 1500) * g**2
    howl_f = 300 + 500 * gust * rng.uniform(0.7, 1.3)
    howl = np.sin(dsp.oscillator(howl_f, ns)) * dsp.band_filter(rng.standard_normal(ns), 1, 8) * 20 * g**2
    dry = 0.6 * rumble + 0.5 * mid + 0.15 * howl
    leaves = rng.uniform(0, 1, size=(12, 3))
    drift = np.cumsum(gust) / CTRL_RATE * 0.4
    x = 0.5 + 0.25 * np.sin(drift * 0.8)
    blades = np.sort(rng.uniform(0, 1, size=40))
    col = jitter_color(rng, (60, 140, 60))

    def draw(c: Canvas, t: float) -> None:
        gg = at(gust, t)
        for k, bxx in enumerate(blades):
            bend = 0.08 * gg * (1 + 0.3 * np.sin(7 * t + k))
            c.line(bxx, 0.95, bxx + bend, 0.75 - 0.05 * np.sin(k), col, 0.006)
        d = at(drift, t)
        for lx, ly, ph in leaves:
            c.circle(
                (lx + d + 0.1 * np.sin(3 * t + 6 * ph)) % 1.0,
                0.2 + 0.5 * ly + 0.05 * np.sin(5 * t + ph * 9),
                0.012,
                (170, 120, 40),
            )

    return Script(
        dry,
        x,
        np.full(n, 1.0),
        np.zeros(0),
        draw,
        plain_background(rng, (150, 180, 210), (80, 120, 60), 0.95),
        {"adj": "gusty" if gust.std() > 0.2 else "steady"},
    )


def fire(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    inten = dsp.smooth_random(rng, n, 3.0, 0.35, 1.0)
    pops = dsp.poisson_times(rng, inten**2, rng.uniform(6, 20))
    pops = pops[pops < dur]
    roar = dsp.band_filter(dsp.brown_noise(rng, ns), 30, 600) * dsp.ctrl_to_audio(inten, ns)
    crack = sounds.crackle_train(rng, dsp.poisson_times(rng, inten, 300.0), ns, 1500, 9000)
    dry = 0.5 * roar + 0.15 * crack / (np.abs(crack).max() + 1e-9)
    for p in pops:
        dsp.add_at(dry, sounds.modal_hit(rng, "wood", 0.9)[: int(0.03 * SR)], p, rng.uniform(0.3, 0.8))
    x0 = rng.uniform(0.3, 0.7)
    tongues = rng.uniform(0, 1, size=(7, 2))
    sparks = rng.uniform(-1, 1, size=(len(pops), 2))

    def draw(c: Canvas, t: float) -> None:
        it = at(inten, t)
        c.rect(x0 - 0.15, 0.85, x0 + 0.15, 0.9, (90, 55, 30))
        for k, (o, ph) in enumerate(tongues):
            h = 0.35 * it * (0.6 + 0.4 * np.sin(11 * t + 13 * ph))
            bx = x0 + (o - 0.5) * 0.22
            pts = np.array(
                [[bx - 0.035, 0.86], [bx + 0.035, 0.86], [bx + 0.01 * np.sin(9 * t + k), 0.86 - h]]
            )
            c.poly(pts, (255, 140 + int(80 * ph), 30))
        for p, (sx, sy) in zip(pops, sparks, strict=False):
            if 0 <= t - p < 0.5:
                c.circle(
                    x0 + sx * 0.1 + sx * 0.2 * (t - p),
                    0.7 - (0.4 + 0.2 * sy) * (t - p),
                    0.008,
                    (255, 230, 120),
                )

    return Script(
        dry,
        np.full(n, x0),
        np.full(n, 1.0),
        pops,
        draw,
        plain_background(rng, (25, 20, 30), (40, 35, 30), 0.88),
        {"adj": "roaring" if inten.mean() > 0.7 else "crackling"},
    )


def water(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    action = str(rng.choice(["pouring", "splashing"]))
    dry = np.zeros(ns)
    events: list[float] = []
    if action == "pouring":
        flow = _bursts(rng, n, 0.6)
        fill = np.mod(np.cumsum(flow) / CTRL_RATE / rng.uniform(3.0, 6.0), 1.0)
        times = dsp.poisson_times(rng, flow, 250.0)
        times = times[times < dur]
        # the resonance above the water shortens as the glass fills, so bubbles rise in pitch
        f_fill = np.interp(times * CTRL_RATE, np.arange(n), fill)
        dry += 0.5 * sounds.bubbles(rng, times, 300 + 1500 * f_fill, 400 + 1800 * f_fill, ns)
        dry += 0.3 * dsp.band_filter(dsp.pink_noise(rng, ns), 500, 4000) * dsp.ctrl_to_audio(flow, ns)
        gx = rng.uniform(0.35, 0.65)

        def draw(c: Canvas, t: float) -> None:
            fl, lv = at(flow, t), at(fill, t)
            c.rect(gx - 0.08, 0.55, gx + 0.08, 0.85, (200, 220, 235), 0.006)
            c.rect(gx - 0.075, 0.85 - 0.28 * lv, gx + 0.075, 0.85, (80, 130, 220))
            tilt = 0.1 * fl
            c.poly(
                np.array([[gx - 0.2, 0.2 + tilt], [gx - 0.05, 0.25], [gx - 0.05, 0.4], [gx - 0.2, 0.4]]),
                (180, 90, 60),
            )
            if fl > 0.05:
                c.line(gx - 0.04, 0.26, gx - 0.02, 0.85 - 0.28 * lv, (80, 130, 220), 0.004 + 0.015 * fl)

        return Script(
            dry,
            np.full(n, gx),
            np.full(n, 1.0),
            np.zeros(0),
            draw,
            plain_background(rng, (200, 195, 180), (150, 120, 90), 0.85),
            {"action": action},
        )
    surface = rng.uniform(0.6, 0.75)
    x = np.full(n, 0.5)
    drops: list[tuple[float, float, float]] = []
    t_hit = rng.uniform(0.4, 1.0)
    while t_hit < dur - 0.05:
        xx, size = rng.uniform(0.2, 0.8), rng.uniform(0.6, 1.4)
        drops.append((t_hit, xx, size))
        events.append(t_hit)
        x[int(max(0, t_hit - 0.5) * CTRL_RATE) :] = xx
        m = int(0.4 * SR)
        burst = dsp.band_noise(rng, m, 300, 8000) * dsp.t60_env(m, 0.3) ** 0.7
        dsp.add_at(dry, burst, t_hit, 0.8 * size)
        bub_t = rng.exponential(0.15, size=int(rng.integers(10, 30)))
        dsp.add_at(dry, sounds.bubbles(rng, bub_t, 400, 1600, int(0.8 * SR)), t_hit + 0.02, 0.4 * size)
        t_hit += rng.uniform(0.8, 3.0)

    def draw_splash(c: Canvas, t: float) -> None:
        c.rect(0, surface, 1, 1, (50, 90, 160))
        for th, xx, size in drops:
            if th - 0.5 <= t < th:
                c.circle(xx, surface - (th - t) ** 2 * 2.0, 0.02 * size, (120, 110, 100))
            elif th <= t < th + 1.5:
                dt = t - th
                c.ellipse(xx, surface, 0.05 + 0.2 * dt, 0.01 + 0.03 * dt, (170, 200, 240), 0.004)
                if dt < 0.4:
                    for k in range(6):
                        ang = np.pi * (k + 0.5) / 6
                        c.circle(
                            xx + np.cos(ang) * 0.25 * dt * size,
                            surface - np.sin(ang) * (0.5 * dt - dt * dt) * size,
                            0.006,
                            (200, 220, 250),
                        )

    return Script(
        dry,
        x,
        np.full(n, 1.0),
        np.array(events),
        draw_splash,
        plain_background(rng, (160, 190, 210), None, 1.0),
        {"action": action},
    )


def engine(rng: np.random.Generator, dur: float) -> Script:
    n = ctrl_len(dur)
    idle = rng.uniform(700, 1000)
    rpm = np.full(n, idle)
    i = int(rng.uniform(0.2, 1.0) * CTRL_RATE)
    while i < n:
        up, hold, down = (int(rng.uniform(a, b) * CTRL_RATE) for a, b in ((0.4, 2.0), (0.0, 1.5), (0.5, 2.0)))
        peak = rng.uniform(2500, 6000)
        seg = np.concatenate(
            [np.linspace(idle, peak, up), np.full(hold, peak), np.linspace(peak, idle, down)]
        )
        m = min(len(seg), n - i)
        rpm[i : i + m] = seg[:m]
        i += len(seg) + int(rng.uniform(0.3, 2.0) * CTRL_RATE)
    moving = rng.uniform() < 0.5
    load = (rpm - idle) / 5300
    x = np.full(n, rng.uniform(0.3, 0.7))
    if moving:
        x = np.mod(rng.uniform(0, 1) + np.cumsum(0.05 + 0.25 * load) / CTRL_RATE, 1.4) - 0.2
    dry = sounds.engine(rng, rpm, int(rng.choice([4, 6, 8])))
    dry = _pad(dry, int(dur * SR)) * 0.6
    wheel_angle = np.cumsum(rpm / 60.0 * 2 * np.pi * 0.05) / CTRL_RATE
    body = jitter_color(rng, (180, 40, 40), 60)
    ground = rng.uniform(0.78, 0.88)

    def draw(c: Canvas, t: float) -> None:
        cx, wa = at(x, t), at(wheel_angle, t)
        c.rect(cx - 0.18, ground - 0.16, cx + 0.18, ground - 0.06, body)
        c.rect(cx - 0.1, ground - 0.24, cx + 0.08, ground - 0.16, body)
        for wx in (cx - 0.11, cx + 0.11):
            c.circle(wx, ground - 0.05, 0.05, (30, 30, 30))
            c.line(
                wx,
                ground - 0.05,
                wx + 0.045 * np.cos(wa),
                ground - 0.05 + 0.045 * np.sin(wa),
                (200, 200, 200),
                0.008,
            )
        if at(load, t) > 0.3:
            c.circle(
                cx - 0.22 - 0.05 * ((t * 3) % 1), ground - 0.08, 0.02 + 0.02 * ((t * 3) % 1), (150, 150, 150)
            )

    return Script(
        dry,
        x,
        np.full(n, 1.0),
        np.zeros(0),
        draw,
        plain_background(rng, (140, 170, 200), (70, 70, 75), ground),
        {"action": "driving past" if moving else "revving"},
    )


def cloth(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    act = _bursts(rng, n, 0.55)
    a = dsp.ctrl_to_audio(act, ns)
    swish = dsp.band_filter(dsp.pink_noise(rng, ns), 800, 6000) * a**1.2
    fib = sounds.crackle_train(rng, dsp.poisson_times(rng, act, 600.0), ns, 1500, 9000, pareto=3.0)
    dry = 0.5 * swish + 0.2 * fib / (np.abs(fib).max() + 1e-9)
    cx = dsp.smooth_random(rng, n, 3.0, 0.3, 0.7)
    phase = np.cumsum(act) / CTRL_RATE * 8
    col = jitter_color(rng, (60, 90, 170), 60)

    def draw(c: Canvas, t: float) -> None:
        x0, ac, ph = at(cx, t), at(act, t), at(phase, t)
        xs = np.linspace(x0 - 0.2, x0 + 0.2, 9)
        bottom = 0.75 + 0.08 * ac * np.sin(ph + np.arange(9))
        pts = np.concatenate(
            [
                np.stack([xs, np.full(9, 0.2)], 1),
                np.stack([xs[::-1] + 0.04 * ac * np.sin(ph), bottom[::-1]], 1),
            ]
        )
        c.poly(pts, col)
        c.line(0.0, 0.2, 1.0, 0.2, (80, 80, 80), 0.006)

    return Script(
        dry, cx, np.full(n, 1.0), np.zeros(0), draw, plain_background(rng, (210, 205, 195), None, 1.0), {}
    )


def paper(rng: np.random.Generator, dur: float) -> Script:
    n, ns = ctrl_len(dur), int(dur * SR)
    act = _bursts(rng, n, 0.5)
    times = dsp.poisson_times(rng, act, 1200.0)
    crack = sounds.crackle_train(rng, times, ns, 1000, 9000, pareto=1.8)
    crinkle = dsp.band_filter(dsp.pink_noise(rng, ns), 300, 2500) * dsp.ctrl_to_audio(act, ns)
    dry = 0.6 * crack / (np.abs(crack).max() + 1e-9) + 0.15 * crinkle
    squeeze = np.minimum(np.cumsum(act) / CTRL_RATE / rng.uniform(4, 10), 0.6)
    cx = rng.uniform(0.35, 0.65)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    jit = rng.uniform(-1, 1, size=(12,))

    def draw(c: Canvas, t: float) -> None:
        ac, sq = at(act, t), at(squeeze, t)
        r = 0.2 * (1 - sq) * (1 + 0.25 * ac * np.sin(17 * t + 5 * jit))
        pts = np.stack([cx + r * np.cos(angles) * 0.8, 0.5 + r * np.sin(angles)], 1)
        c.poly(pts, (245, 245, 235))
        for s in (-1, 1):
            c.circle(cx + s * (0.2 * (1 - sq) + 0.04), 0.5, 0.05, (230, 180, 150))

    return Script(
        dry,
        np.full(n, cx),
        np.full(n, 1.0),
        np.zeros(0),
        draw,
        plain_background(rng, (90, 80, 70), None, 1.0),
        {},
    )
