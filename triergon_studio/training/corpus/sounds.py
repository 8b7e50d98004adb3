"""Physically motivated sound sources for the corpus: modal impacts, granular footsteps, stick-slip creaks,
bubbles, crackles, firing-rate engines and swept noise. All return mono float64 arrays at 44.1 kHz."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from scipy import signal

from triergon_studio.training.corpus import dsp
from triergon_studio.training.corpus.dsp import SR


class Material(TypedDict):
    f0: tuple[float, float]  # (low, high) ranges drawn uniformly
    ratios: tuple[float, ...]
    t60: tuple[float, float]
    noise: tuple[float, float]


# Mode ratios: wood bar (inharmonic, heavily damped), free metal bar (Euler-Bernoulli ratios 1:2.76:5.40:8.93),
# glass (thin-shell modes), church bell partials (hum, prime, tierce, quint, nominal...).
MATERIALS: dict[str, Material] = {
    "wood": {
        "f0": (160.0, 650.0),
        "ratios": (1.0, 2.57, 4.21, 6.1, 8.3),
        "t60": (0.05, 0.2),
        "noise": (0.3, 0.6),
    },
    "metal": {
        "f0": (280.0, 1300.0),
        "ratios": (1.0, 2.756, 5.404, 8.933, 13.34),
        "t60": (0.7, 2.4),
        "noise": (0.03, 0.1),
    },
    "glass": {
        "f0": (900.0, 2600.0),
        "ratios": (1.0, 2.32, 4.25, 6.63),
        "t60": (0.25, 0.9),
        "noise": (0.02, 0.08),
    },
}
BELL_RATIOS = np.array([0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011])
CHIME_RATIOS = np.array([1.0, 2.756, 5.404, 8.933])


def modal_hit(
    rng: np.random.Generator, material: str, strength: float, f0: float | None = None
) -> np.ndarray:
    """One strike of a resonant object. Harder strikes excite the upper modes more (brighter)."""
    m = MATERIALS[material]
    f0 = f0 if f0 is not None else rng.uniform(*m["f0"])
    ratios = np.asarray(m["ratios"]) * rng.uniform(0.97, 1.03, size=len(m["ratios"]))
    freqs = f0 * ratios
    base_t60 = rng.uniform(*m["t60"])
    t60s = base_t60 / ratios**0.6
    tilt = 1.6 - 0.9 * np.clip(strength, 0, 1)
    amps = rng.uniform(0.5, 1.0, size=len(freqs)) / ratios**tilt
    dur = min(float(t60s.max()) * 1.1, 3.0)
    out = dsp.modal(freqs, t60s, amps, dur, rng)
    # contact noise: a few ms of broadband friction at the moment of impact
    nn = int(0.006 * SR)
    contact = dsp.band_noise(rng, nn, 800.0, 12000.0) * dsp.t60_env(nn, 0.006)
    out[:nn] += rng.uniform(*m["noise"]) * contact * 3.0
    return out / (np.abs(out).max() + 1e-9)


def footstep(rng: np.random.Generator, surface: str, strength: float) -> np.ndarray:
    """Heel then toe contact; the surface decides what each contact sounds like."""
    gap = rng.uniform(0.05, 0.11)
    n = int((gap + 0.35) * SR)
    out = np.zeros(n)
    for k, t0 in enumerate((0.0, gap)):
        amp = 1.0 if k == 0 else rng.uniform(0.4, 0.7)
        if surface == "wood":
            thud = dsp.modal(
                rng.uniform(80, 200) * np.array([1.0, 2.3, 3.9]),
                np.array([0.09, 0.05, 0.03]),
                np.array([1.0, 0.5, 0.25]),
                0.2,
                rng,
            )
            knock = dsp.band_noise(rng, int(0.03 * SR), 300, 4000) * dsp.t60_env(int(0.03 * SR), 0.03)
            grain = thud
            grain[: len(knock)] += 0.6 * knock
        elif surface == "gravel":
            # stones knocking together: many tiny noise grains, clustered just after the contact
            k = int(rng.integers(25, 60))
            times = np.clip(rng.exponential(0.04, size=k), 0, 0.19)
            train = dsp.impulse_train(times, rng.pareto(2.5, size=k) + 0.2, int(0.2 * SR))
            gl = int(rng.uniform(0.002, 0.006) * SR)
            kern = rng.standard_normal(gl) * np.hanning(gl)
            grain = dsp.band_filter(
                np.convolve(train, kern)[: len(train)], rng.uniform(900, 2500), rng.uniform(3500, 8000)
            )
        else:  # snow: compacting crystals, a dense low-passed crunch
            gl = int(rng.uniform(0.15, 0.25) * SR)
            crunch = dsp.band_noise(rng, gl, 250, rng.uniform(2500, 4500))
            crackle = (rng.uniform(0, 1, gl) < 0.02) * rng.uniform(0.5, 1.5, gl)
            env = np.sin(np.linspace(0, np.pi, gl)) ** 0.7
            grain = (crunch * 0.5 + dsp.band_filter(crackle, 600, 5000)) * env
        dsp.add_at(out, grain / (np.abs(grain).max() + 1e-9), t0, amp)
    return out * strength


def creak(rng: np.random.Generator, speed_ctrl: np.ndarray) -> np.ndarray:
    """Stick-slip friction (a hinge): a pulse train whose rate follows the angular speed, through body modes."""
    n = int(len(speed_ctrl) / dsp.CTRL_RATE * SR)
    rate = 25 + 140 * np.clip(speed_ctrl, 0, 1) * rng.uniform(0.7, 1.3)
    phase = dsp.oscillator(rate, n) / (2 * np.pi)
    pulses = np.diff(np.floor(phase), prepend=0.0) * (1 + 0.3 * rng.standard_normal(n))
    body = np.zeros(n)
    for fc in rng.uniform(350, 1800, size=3):
        body += dsp.band_filter(pulses, fc * 0.9, fc * 1.1, order=2)
    env = dsp.ctrl_to_audio(np.clip(speed_ctrl, 0, 1) ** 0.5, n)
    return body * env / (np.abs(body).max() + 1e-9)


def door_hit(rng: np.random.Generator, slam: bool) -> np.ndarray:
    """A door meeting its frame: a latch click, a low thud; a slam adds a big body boom and a rattle."""
    n = int(0.8 * SR)
    out = np.zeros(n)
    latch = modal_hit(rng, "metal", 0.8, f0=rng.uniform(1800, 3500))[: int(0.08 * SR)]
    dsp.add_at(out, latch, 0.0, 0.3)
    f = rng.uniform(55, 120)
    boom = dsp.modal(
        f * np.array([1.0, 1.7, 2.9, 4.4]),
        np.array([0.25, 0.15, 0.1, 0.06]),
        np.array([1.0, 0.6, 0.4, 0.2]),
        0.6,
        rng,
    )
    dsp.add_at(out, boom, 0.002, 1.0 if slam else 0.35)
    if slam:
        for k in range(rng.integers(3, 7)):
            r = modal_hit(rng, "wood", 0.5)[: int(0.05 * SR)]
            dsp.add_at(out, r, 0.03 + 0.025 * k + rng.uniform(0, 0.01), 0.25 * 0.8**k)
    return out / (np.abs(out).max() + 1e-9)


def click(rng: np.random.Generator) -> np.ndarray:
    """A switch: a very short, bright mechanical tick."""
    n = int(0.04 * SR)
    tick = dsp.modal(
        rng.uniform(2000, 6000) * np.array([1.0, 1.9, 3.1]),
        np.array([0.02, 0.012, 0.008]),
        np.array([1.0, 0.5, 0.3]),
        0.04,
        rng,
    )
    burst = dsp.band_noise(rng, n, 2000, 15000) * dsp.t60_env(n, 0.004)
    out = tick + 0.8 * burst
    return out / (np.abs(out).max() + 1e-9)


def _bubble(f: float, dur: float) -> np.ndarray:
    m = int(dur * SR)
    tt = np.arange(m) / SR
    chirp = f * (1 + 0.8 * tt / dur)
    return np.sin(2 * np.pi * np.cumsum(chirp) / SR) * np.exp(-tt / (dur / 4))


def bubbles(
    rng: np.random.Generator,
    times: np.ndarray,
    f_lo: float | np.ndarray,
    f_hi: float | np.ndarray,
    n: int,
    amps: np.ndarray | None = None,
) -> np.ndarray:
    """Minnaert bubbles: short sinusoids whose pitch rises as they decay.

    Pitches are quantised to a bank of 12 grains per call so thousands of drops cost a few convolutions.
    """
    amps = np.ones(len(times)) if amps is None else amps
    freqs = rng.uniform(0, 1, size=len(times)) * (np.asarray(f_hi) - np.asarray(f_lo)) + np.asarray(f_lo)
    out = np.zeros(n)
    if len(times) == 0:
        return out
    edges = np.geomspace(freqs.min() * 0.999, freqs.max() * 1.001, 13)
    which = np.clip(np.searchsorted(edges, freqs) - 1, 0, 11)
    for b in range(12):
        sel = which == b
        if not sel.any():
            continue
        grain = _bubble(float(np.sqrt(edges[b] * edges[b + 1])), rng.uniform(0.006, 0.025))
        train = dsp.impulse_train(times[sel], amps[sel], n)
        out += signal.oaconvolve(train, grain)[:n]
    return out


def crackle_train(
    rng: np.random.Generator, times: np.ndarray, n: int, lo: float, hi: float, pareto: float = 2.0
) -> np.ndarray:
    """Sparse impulses with heavy-tailed amplitudes, band-limited (paper, fire pops, cloth fibres)."""
    amps = (rng.pareto(pareto, size=len(times)) + 0.3) * rng.choice([-1.0, 1.0], size=len(times))
    return dsp.band_filter(dsp.impulse_train(times, amps, n), lo, hi, order=2)


def engine(rng: np.random.Generator, rpm_ctrl: np.ndarray, cylinders: int) -> np.ndarray:
    """Firing-rate harmonics of a four-stroke engine (f = rpm/60 * cylinders/2) plus combustion noise."""
    n = int(len(rpm_ctrl) / dsp.CTRL_RATE * SR)
    f_fire = rpm_ctrl / 60.0 * cylinders / 2.0
    phase = dsp.oscillator(f_fire, n)
    out = np.zeros(n)
    for k in range(1, 14):
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**0.9 * rng.uniform(0.6, 1.0)
    pulse = (0.5 + 0.5 * np.cos(phase)) ** 4
    out += 0.5 * dsp.band_noise(rng, n, 200, 3000) * pulse
    load = dsp.ctrl_to_audio(rpm_ctrl / rpm_ctrl.max(), n)
    out = dsp.band_filter(out, 30, 5000 + 4000 * rng.uniform())
    return out * (0.35 + 0.65 * load)


def swept_noise(rng: np.random.Generator, speed_ctrl: np.ndarray) -> np.ndarray:
    """A whoosh: noise whose band and level follow the object's speed (four crossfaded bands)."""
    n = int(len(speed_ctrl) / dsp.CTRL_RATE * SR)
    s = np.clip(dsp.ctrl_to_audio(speed_ctrl, n), 0, 1)
    edges = [(150, 500), (400, 1200), (1000, 3000), (2500, 7000)]
    base = dsp.pink_noise(rng, n)
    out = np.zeros(n)
    centres = np.linspace(0, 1, len(edges))
    for (lo, hi), c in zip(edges, centres, strict=False):
        w = np.clip(1 - np.abs(s - c) * 2.5, 0, 1)
        out += dsp.band_filter(base, lo, hi) * w
    return out * s**1.5


def bell(rng: np.random.Generator, kind: str, strength: float) -> np.ndarray:
    if kind == "bell":
        f0 = rng.uniform(220, 700)
        ratios = BELL_RATIOS * rng.uniform(0.99, 1.01, size=len(BELL_RATIOS))
        t60s = rng.uniform(2.0, 4.0) / (0.5 + ratios) ** 0.7
    else:
        f0 = rng.uniform(500, 1400)
        ratios = CHIME_RATIOS * rng.uniform(0.995, 1.005, size=len(CHIME_RATIOS))
        t60s = rng.uniform(1.2, 2.5) / ratios**0.5
    amps = rng.uniform(0.4, 1.0, size=len(ratios)) / ratios ** (1.2 - 0.6 * strength)
    out = dsp.modal(f0 * ratios, t60s, amps, min(float(t60s.max()), 3.0), rng)
    return out / (np.abs(out).max() + 1e-9)


def shards(rng: np.random.Generator, n_shards: int, spread_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The tinkling tail of breaking glass: many tiny glass pieces ringing at high frequency."""
    n = int((spread_s + 0.3) * SR)
    out = np.zeros(n)
    times = np.sort(rng.exponential(spread_s / 3, size=n_shards).clip(0, spread_s))
    for t in times:
        f = rng.uniform(2500, 9000)
        g = dsp.modal(
            f * np.array([1.0, 2.3]),
            np.array([rng.uniform(0.03, 0.15), 0.03]),
            np.array([1.0, 0.4]),
            0.15,
            rng,
        )
        dsp.add_at(out, g, t, rng.uniform(0.1, 0.6))
    return out, times
