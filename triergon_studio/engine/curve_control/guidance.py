"""Curve guidance between sampler steps, for every model family (issue 13).

On chosen steps the sampler's clean-latent estimate ``denoised`` is decoded with the family's differentiable
``decode``, its 6 Hz loudness curve is measured in torch (``loudness_torch``), and a robust loss in LU against
the target curve (frames whose target is above -60 LUFS) is lowered by a few gradient steps on the *clean
latent only* (the decoder is differentiated, the denoiser network is not: that keeps a guided step at about
one decoder forward + backward). The change found for the clean latent is carried into ``x``: in the VE
parameterisation ``x = x0 + sigma * noise`` a shift of x0 is the same shift of ``x``; for rectified flows
``x = (1 - t) x0 + t noise`` it is scaled by ``1 - t``.

A share of the budget (``final``, half by default) is spent on the result itself after the last step, where
nothing denoises the change away, so it is applied whole; on dev clips those passes did most of the work,
but spending more than half there cost prompt accuracy (docs/curve_methods_sweep/).

Each gradient step starts from a damped Polyak step, ``dz = -loss / |g|^2 * g``: for a quadratic loss it goes
half the way to the minimum and for the linear (Huber) part all the way, so its size needs no per-model
tuning; it is capped at ``max_step`` times the latent's RMS. On the result, the passes share one latent, so
they back off (return to the best latent, halve the step) when a pass finds the loss risen, and with
``solver="lbfgs"`` (the default) later passes take their direction from an L-BFGS model of the earlier
ones (36 dev clips: 3.79 -> 3.40 LU raw at 6 passes, the same prompt accuracy).

The head path: a model folder with a latent loudness head (``latent_head``) is guided through the head,
corrected after every forward-only decoder pass (``_head_steps``); a pass then costs about 45 % of a
forward + backward pass, and the same time buys more of them.

Gain mode (``gain``, the head path's default): a free step through a decoder buys loudness with timbre too
(K-weighting rewards a brighter or duller sound as much as a louder one) and leaves a flutter inside each
curve frame; in gain mode each guided step finds the latent change that 1 dB more on the left or the right
channel makes (``_gain_directions``), and its passes move only a left and a right gain per 1/6 s curve
frame along them. On dev clips that kept the prompt's class (36.1 -> 50.0 %, unguided 52.8 %) for 0.8 LU of
raw adherence. Found through the family's encoder (three copies of the decode per guided step) the
directions cost about 0.7x of the unguided time; a model folder's gain direction net (``gain_net``) predicts
them from the latent and its decode instead (36 dev clips: 47.2 %, 3.09 LU, 1.68 s per take against 50.0 %,
3.24 LU, 2.56 s).

The loudness track: a model whose autoencoder can tell a decode's K-weighted power from the latent without
decoding (``loudness_track``; the band-PCA code of bundle version 3 reads it off the magnitudes Griffin-Lim
rebuilds) is measured through it instead: 1-2 % of a decode's time (36 dev clips). The final step's first pass decodes
once and keeps the decode's curve less the track's per frame (``_fix``, about 0.15 LU: Griffin-Lim's output
keeps a little less energy than its target magnitudes), so the passes on the result measure what a decode
would. ``guide_track=0`` decodes every pass.

The cheaper path (``crop_s``): decode only a window of the latent (with a few frames of context each side),
compare the curve frames that lie fully inside it, and move the window across the take from one guided step
to the next. Its cost no longer grows with the take's length.

Settings come from the model's own knobs (its config's ``sampling.guide``; the bundle moves the free latent)
under the take's ``TakeSpec.extra`` (``guide_strength``, ``guide_budget``, ``guide_start``, ``guide_end``,
``guide_passes``, ``guide_crop_s``, ``guide_max_step``, ``guide_final``, ``guide_silence``,
``guide_backtrack``, ``guide_solver``, ``guide_head``, ``guide_gain``, ``guide_gain_net``, ``guide_seeds``,
``guide_seed_steps``, ``guide_track``, ``guide_level``), validated by
``GuideSettings.from_extra``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from triergon_studio.audio.loudness import _frame_bounds
from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_ACTIVE, LUFS_FLOOR
from triergon_studio.engine.curve_control.knobs import GUIDE_KNOBS, check_knob_names
from triergon_studio.engine.curve_control.latent_head import curve_from_blocks, overlap_matrix
from triergon_studio.engine.curve_control.loudness_torch import (
    curve_loss,
    k_weight,
    power_to_lufs,
    track_frame_powers,
)
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

Decode = Callable[[Tensor], Tensor]
PARAMETERISATIONS = ("ve", "flow", "vp")
# decoder context each side of a crop, in latent frames: covers the decoder's receptive field and the
# K-weighting filter's transient
CROP_CONTEXT_FRAMES = 4
SOLVERS = ("polyak", "lbfgs")
GAIN_MODES = ("off", "final", "all")
LBFGS_MEMORY = 6  # (s, y) pairs kept
HEAD_ITERATIONS = 10  # gradient steps through the loudness head per decoder pass
# the head path's defaults: its passes are forward only, so more of them fit in the same time; its steps
# move gains, not the free latent (36 dev clips, no-LUFS variant: prompt accuracy 36.1 -> 50.0 %, none
# 52.8 %; raw 2.47 -> 3.24 LU; docs/curve_methods_sweep/, session 8)
HEAD_DEFAULTS: dict[str, Any] = {"budget": 10, "gain": "all"}
GAIN_STEP_DB = 6.0  # gain mode: cap on one step's RMS gain change, dB
TRACK_FIX_LU = 3.0  # a decode's curve less the loudness track's, clamped: beyond it one of them is silence
LEVEL_MAX_DB = 40.0  # cap on one level shift (the no-LUFS variant's takes lie up to ~45 LU under the curve)
HEAD_TRUST = 0.3  # how far (x latent RMS) one pass's head steps may move the latent at most


@dataclass(frozen=True, slots=True)
class GuideSettings:
    # The defaults are the decoder path's; a model with a loudness head starts from ``HEAD_DEFAULTS``. Both
    # were chosen on dev clips (seed 4242) within 2x the unguided time: docs/curve_methods_sweep/. A model's
    # config may set its own knobs over them (``sampling.guide``; ``hooks.guide_knobs``).
    strength: float = 2.0  # multiple of the clean-latent change carried into x (2: measured on dev clips)
    budget: int = 6  # decoder passes per chunk (forward + backward; forward only on the head path)
    start: float = 0.3  # guided steps lie in [start, end) of the schedule (fractions of the steps)
    end: float = 0.9
    passes: int = 1  # decoder passes per guided step
    crop_s: float = 0.0  # > 0: the cheaper path, decode a crop this long per pass
    max_step: float = 1.0  # cap on one gradient step, in units of the latent's RMS
    # share of the budget spent on the result itself, after the last step: nothing denoises after those
    # passes, so they move the result by the full clean-latent change (strength does not apply)
    final: float = 0.5
    # the final passes run this many steps before the end; the sampler's last steps then refine the result
    final_at: int = 0
    # weight of the loss on frames the curve marks silent (for rising above -60 LUFS); 0: audible only
    silence: float = 0.0
    # final passes back off after a pass that raised the loss (see ``_descend_backtracking``)
    backtrack: bool = True
    # the final passes' direction: "polyak" (the gradient, one global step size) or "lbfgs" (a curvature
    # model from the earlier final passes; see ``_descend_backtracking``)
    solver: str = "lbfgs"
    # guide through the model folder's latent loudness head when it has one (see ``_head_steps``)
    head: bool = True
    # where passes move the latent only along its left and right gain directions (the latent change a
    # smooth gain on that channel makes, from the folder's gain direction net or by encoding the decoded
    # audio; ``_gain_directions``):
    # "off", "final" (the passes on the result) or "all"
    gain: str = "off"
    # gain mode takes its directions from the model folder's gain direction net when it has one
    gain_net: bool = True
    # seeds tried before a guided take: each sampled unguided for ``seed_steps`` steps and decoded, and the
    # take is sampled from the one whose curves lie closest to the target (1: the take's own seed, no search)
    seeds: int = 1
    seed_steps: int = 5
    # measure through the model's loudness track when it has one (``CurveGuide.track``) instead of decoding
    track: bool = True
    # before each guided step's passes, move the whole chunk's level per channel along the gain directions
    # by the median gap to the curve (``_level_shift``): the passes then only shape it
    level: bool = False

    def __post_init__(self) -> None:
        checks = [
            (math.isfinite(self.strength) and 0 <= self.strength <= 10, "guide_strength must be in [0, 10]"),
            (1 <= self.budget <= 1000, "guide_budget must be 1..1000 decoder passes"),
            (0 <= self.start < self.end <= 1, "need 0 <= guide_start < guide_end <= 1"),
            (1 <= self.passes <= self.budget, "guide_passes must be 1..guide_budget"),
            (math.isfinite(self.crop_s) and self.crop_s >= 0, "guide_crop_s must be >= 0 seconds"),
            (math.isfinite(self.max_step) and 0 < self.max_step <= 5, "guide_max_step must be in (0, 5]"),
            (math.isfinite(self.final) and 0 <= self.final <= 1, "guide_final must be a share in [0, 1]"),
            (math.isfinite(self.silence) and 0 <= self.silence <= 10, "guide_silence must be in [0, 10]"),
            (0 <= self.final_at <= 1000, "guide_final_at must be 0..1000 steps"),
            (self.solver in SOLVERS, f"guide_solver must be one of {', '.join(SOLVERS)}"),
            (self.gain in GAIN_MODES, f"guide_gain must be one of {', '.join(GAIN_MODES)}"),
            (1 <= self.seeds <= 16, "guide_seeds must be 1..16 candidate seeds"),
            (1 <= self.seed_steps <= 100, "guide_seed_steps must be 1..100 sampler steps"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ModelError(msg)

    @property
    def final_passes(self) -> int:
        """Decoder passes on the result: the ``final`` share of the budget."""
        return int(round(self.final * self.budget))

    @classmethod
    def from_extra(cls, extra: Mapping[str, float], head: bool = False) -> GuideSettings:
        """Settings from a take's ``extra`` knobs, over the defaults of the path (``head``: the model has
        a loudness head and the knobs do not turn it off)."""
        check_knob_names(extra)
        kw: dict[str, Any] = {}
        for k, v in extra.items():
            name = GUIDE_KNOBS.get(k)
            if name is None:  # another extra (cfg, ...), not guidance's
                continue
            if name == "solver":
                if v not in (0, 1):
                    raise ModelError("guide_solver must be 0 (polyak) or 1 (lbfgs)")
                kw[name] = SOLVERS[int(v)]
            elif name == "gain":
                if v not in (0, 1, 2):
                    raise ModelError("guide_gain must be 0 (off), 1 (final passes) or 2 (all passes)")
                kw[name] = GAIN_MODES[int(v)]
            elif name in ("backtrack", "head", "gain_net", "track", "level"):
                kw[name] = bool(v)
            else:
                kw[name] = (
                    int(v) if name in ("budget", "passes", "final_at", "seeds", "seed_steps") else float(v)
                )
        if head and kw.get("head", True):
            kw = HEAD_DEFAULTS | kw
        return cls(**kw)


def guided_steps(total: int, s: GuideSettings) -> list[int]:
    """Completed-step numbers (1..total) after which guidance runs: evenly spread over [start, end) of the
    schedule, as many as the budget left after the final passes allows; the last step (its ``x`` is the
    result) only when final passes are asked for."""
    final = final_step(total, s)
    lo = int(math.floor(s.start * total)) + 1
    hi = min(final - 1, max(lo, int(math.ceil(s.end * total))))
    pool = list(range(lo, hi + 1))
    n = min(len(pool), (s.budget - s.final_passes) // s.passes)
    idx: list[int] = (
        np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int)).tolist() if n > 0 else []
    )
    return [pool[i] for i in idx] + ([final] if s.final_passes > 0 else [])


def final_step(total: int, s: GuideSettings) -> int:
    """The step after which the final passes run: the last (its ``x`` is the result), or ``final_at`` steps
    before it, so the sampler's remaining steps refine what they changed."""
    return max(1, total - s.final_at)


def x_weight(parameterisation: str, sigma: float) -> float:
    """How far ``x`` moves when the clean latent moves by one unit, at noise level ``sigma``."""
    if parameterisation == "ve":
        return 1.0
    if parameterisation == "flow":
        return max(0.0, 1.0 - float(sigma))
    if parameterisation == "vp":  # x = alpha x0 + sigma eps with alpha^2 + sigma^2 = 1
        return math.sqrt(max(0.0, 1.0 - float(sigma) ** 2))
    raise ModelError(f"unknown parameterisation {parameterisation!r}; choose one of {PARAMETERISATIONS}")


@dataclass
class CurveGuide:
    """Guidance for one chunk: the target curve from the chunk's start, and the record of what it did."""

    decode: Decode
    target: Tensor  # [2, F] LUFS at 6 Hz from the chunk's first sample
    sample_rate: int
    downsampling_ratio: int
    total_steps: int
    settings: GuideSettings = field(default_factory=GuideSettings)
    parameterisation: str = "ve"
    steps: list[int] = field(default_factory=list)
    passes_used: int = 0
    losses: list[float] = field(default_factory=list)  # loss before each guided step (LU-scale Huber)
    level_db: list[list[float]] = field(default_factory=list)  # each ``_level_shift``'s [left, right] dB
    seconds: float = 0.0
    head: Any = None  # a LatentLoudnessHead: guide through it, corrected by forward-only decoder passes
    encode: Decode | None = None  # the family's encoder: needed by ``gain`` only
    gain_net: Any = None  # a GainDirectionNet: ``gain``'s directions without encoding
    # the model's loudness track (latent -> K-weighted power [B, 2, M] every hop samples, and the hop): when
    # given, passes measure through it instead of decoding (``_track_measure``)
    track: Callable[[Tensor], tuple[Tensor, int]] | None = None
    # the model's exact gain directions from the latent alone (``[2, *z.shape]`` per dB), when its code has them
    gain_dirs: Callable[[Tensor], Tensor] | None = None
    # [2, F] LU: a decode's curve less the track's, from the final step's first pass
    _fix: Tensor | None = None
    _calibrate: bool = False  # the next measurement decodes, to set ``_fix``
    _crop_at: int = 0
    _interp: Tensor | None = None  # curve frame -> latent frame gain interpolation for this chunk
    _weights: Tensor | None = None  # the head's block -> curve frame overlap matrix for this chunk

    def __post_init__(self) -> None:
        if self.parameterisation not in PARAMETERISATIONS:
            raise ModelError(f"unknown parameterisation {self.parameterisation!r}")
        if self.target.ndim != 2 or self.target.shape[0] != 2:
            raise ModelError(f"guidance target must be [2, F] LUFS, got shape {tuple(self.target.shape)}")
        self.steps = guided_steps(self.total_steps, self.settings)

    def record(self) -> dict[str, Any]:
        """What guidance did, for the take's sidecar."""
        s = self.settings
        return {
            "strength": s.strength,
            "budget": s.budget,
            "passes_used": self.passes_used,
            "steps": self.steps,
            "crop_s": s.crop_s,
            "seconds": round(self.seconds, 3),
            "loss_first": round(self.losses[0], 3) if self.losses else None,
            "loss_last": round(self.losses[-1], 3) if self.losses else None,
            **({"level_db": self.level_db} if s.level else {}),
        }

    # ------------------------------------------------------------------------------------------ one step
    def step(self, st: SamplerStep) -> Tensor:
        if (
            st.step not in self.steps
            or self.settings.strength == 0
            or self.passes_used >= self.settings.budget
        ):
            return st.x
        t0 = time.perf_counter()
        z0 = st.denoised.detach()
        rms = float(z0.float().pow(2).mean().sqrt()) or 1.0
        last = st.step == final_step(st.total, self.settings)
        passes = self.settings.final_passes if last else self.settings.passes
        self._calibrate = last and self.track is not None and self._fix is None
        shift = self._level_shift(z0) if self.settings.level else None
        if shift is not None:  # the passes start from the levelled latent and shape it
            z0 = z0 + shift
        gain = self.settings.gain == "all" or (last and self.settings.gain == "final")
        if self.head is not None:
            z = self._head_steps(z0, rms, passes, gain)
        elif gain:
            z = self._decoder_gain_steps(z0, passes)
        elif last and self.settings.backtrack and self.settings.crop_s <= 0:
            z = self._descend_backtracking(z0, rms, self.settings.final_passes, self._pass, decoder=True)
        else:
            z = z0.clone()
            for _ in range(self.settings.final_passes if last else self.settings.passes):
                if self.passes_used >= self.settings.budget:
                    break
                loss, g, win = self._pass(z)
                z = self._apply(z, _polyak_direction(loss, g), win, rms)
        self.seconds += time.perf_counter() - t0
        # the final passes' change goes in whole (after the last step x is the result; a few steps before
        # it, x is the clean latent plus a little noise); earlier ones are scaled by ``strength``
        xw = x_weight(self.parameterisation, st.sigma)
        w = xw * (1.0 if last else self.settings.strength)
        # the level shift goes in at its size: ``strength`` makes up for what the denoiser undoes of a free
        # step, and a gain along exact directions is a change the code represents as it is
        level = 0.0 if shift is None else shift.to(st.x.dtype) * xw
        return st.x + (z - z0).to(st.x.dtype) * w + level

    def _level_shift(self, z: Tensor) -> Tensor | None:
        """The latent change that brings each channel of the chunk to the curve's level as a whole: the
        median over frames audible in both the measured and the target curve of target less measured (dB,
        within +-``LEVEL_MAX_DB``), along the gain directions: a gain keeps the spectrum, where a free step
        buys level in the bands that are already loud. Off by default: on 36 dev clips (no-LUFS variant) it
        kept 58.3 % of the prompts against 66.7 %, since it lifts the quiet bed under a take's events as
        much as the events (docs/training_runs/compact-v3/session30). Measured through the track when the
        model has one, else by a forward decode that counts against the budget. None when no frame is
        audible in both."""
        frames = z.shape[-1]
        audio: Tensor | None = None
        with torch.no_grad():
            if self.track is not None:
                measured, target, _ = self._track_measure(z.float(), 0, frames, frames)
            else:
                audio = self.decode(z.float())
                measured, target, _ = self._measure(audio, 0, frames, frames)
                self.passes_used += 1
        both = (target > LUFS_ACTIVE) & (measured > LUFS_ACTIVE)
        db = [
            float((target[c] - measured[c])[both[c]].median()) if bool(both[c].any()) else 0.0
            for c in range(2)
        ]
        if not any(db):
            return None
        db = [max(-LEVEL_MAX_DB, min(LEVEL_MAX_DB, d)) for d in db]
        self.level_db.append([round(d, 2) for d in db])
        dirs = self._gain_directions(audio, z)
        return dirs[0] * db[0] + dirs[1] * db[1]

    def _descend_backtracking(
        self,
        z: Tensor,
        rms: float,
        passes: int,
        evaluate: Callable[[Tensor], tuple[float, Tensor | None, tuple[int, int]]],
        solver: str | None = None,
        decoder: bool = False,
    ) -> Tensor:
        """Passes on one latent. A pass whose loss rose goes back to the best latent and halves the step
        (the Polyak step assumes a minimum of 0 and overshoots near the real one, which lies above it); a pass
        that lowered it lets the step grow again. With ``solver="lbfgs"`` the accepted passes' gradients build
        an L-BFGS curvature model for the direction. Costs no extra pass. ``decoder``: each evaluation is a
        decoder pass and counts against the budget (the head's evaluations do not)."""
        best: tuple[Tensor, float, Tensor | None, tuple[int, int]] | None = None
        hist: list[tuple[Tensor, Tensor]] = []  # (s, y) pairs of accepted passes, newest last
        scale = 1.0
        for _ in range(passes):
            if decoder and self.passes_used >= self.settings.budget:
                break
            loss, g, win = evaluate(z)
            if best is None or loss < best[1]:
                if (
                    best is not None
                    and g is not None
                    and best[2] is not None
                    and (solver or self.settings.solver) == "lbfgs"
                ):
                    sv, yv = (z - best[0]).float(), (g - best[2]).float()
                    if float((sv * yv).sum()) > 1e-12 * float(sv.norm() * yv.norm()):
                        hist = (hist + [(sv, yv)])[-LBFGS_MEMORY:]
                best = (z, loss, g, win)
                scale = min(1.0, scale * 1.5)
            else:
                scale *= 0.5
                z, loss, g, win = best
            dz = _lbfgs_direction(g, hist) if hist else _polyak_direction(loss, g)
            z = self._apply(z, dz, win, rms, scale)
        return z

    def _head_steps(self, z0: Tensor, rms: float, passes: int, gain: bool = False) -> Tensor:
        """Guidance through the latent loudness head. Each decoder pass is a forward pass only: it measures
        the true curve at the current latent and fixes the per-frame offset between it and the head's curve;
        then ``HEAD_ITERATIONS`` gradient steps go through the head plus that offset, within a trust radius of
        where the offset was measured. A pass that finds the true loss risen goes back to the best latent and
        allows half the distance of the step that overshot. ``crop_s`` does not apply: a forward pass keeps
        no autograd state, so the whole chunk is measured."""
        best: tuple[Tensor, float, Tensor, np.ndarray] | None = None
        full = HEAD_TRUST * rms * math.sqrt(z0.numel())
        radius, moved = full, 0.0
        z = z0
        dirs: Tensor | None = None
        for k in range(passes):
            if self.passes_used >= self.settings.budget:
                break
            loss, offset, keep, audio = self._measure_true(z)
            if best is None or loss < best[1]:
                best = (z, loss, offset, keep)
                radius = min(full, radius * 1.5)
            else:  # the head's step overshot: from the best latent again, at most half as far
                radius = 0.5 * moved
                z, loss, offset, keep = best
            if k == passes - 1 and passes > 1:
                break  # the last pass only checks: the result is the best latent it measured
            if gain and dirs is None:
                # once per guided step, from the decode of its first latent: its passes move the level a
                # few dB, which changes the directions little; directions kept from earlier steps cost
                # prompt accuracy (36 dev clips: 50.0 -> 36.1 %)
                dirs = self._gain_directions(audio, z)
            znew = self._head_descend(z, offset, keep, radius, dirs)
            moved = float((znew - z).norm())
            z = znew
        if best is not None and passes > 1:
            return best[0]
        return z

    def _measure_true(self, z: Tensor) -> tuple[float, Tensor, np.ndarray, Tensor | None]:
        """A forward-only decoder pass: the true loss at ``z``, the offset (true minus head curve), the
        curve frames compared and the decoded audio (None when measured through the loudness track)."""
        frames = z.shape[-1]
        audio: Tensor | None = None
        with torch.no_grad():
            if self.track is not None and not self._calibrate:
                measured, target, keep = self._track_measure(z.float(), 0, frames, frames)
            else:
                audio = self.decode(z.float())
                measured, target, keep = self._measure(audio, 0, frames, frames)
                self._set_fix(z.float(), measured, keep, 0, frames)
            loss = float(curve_loss(measured, target, silence=self.settings.silence))
            offset = measured - self._head_curve(z)[:, torch.from_numpy(keep)]
        self.passes_used += 1
        self.losses.append(loss)
        return loss, offset, keep, audio

    def _head_curve(self, z: Tensor) -> Tensor:
        if self._weights is None or self._weights.shape[0] != z.shape[-1]:
            self._weights = overlap_matrix(
                z.shape[-1], self.downsampling_ratio, self.sample_rate, int(self.target.shape[-1])
            )
        lv = self.head(z.float().reshape(-1, *z.shape[-2:]))[0]
        return curve_from_blocks(lv, self._weights)

    def _head_descend(
        self, z: Tensor, offset: Tensor, keep: np.ndarray, radius: float, dirs: Tensor | None = None
    ) -> Tensor:
        """L-BFGS with backtracking on the head's corrected curve, kept within ``radius`` (norm) of ``z``:
        over the free latent, or with ``dirs`` over curve-grid gains (dB) along them (``_gain_mover``)."""
        idx = torch.from_numpy(keep)
        target = self.target[:, idx]
        move, v0, scale = self._variables(z, dirs)

        def evaluate(v: Tensor) -> tuple[float, Tensor | None, tuple[int, int]]:
            with torch.inference_mode(False), torch.enable_grad():
                vin = v.detach().float().clone().requires_grad_(True)
                loss = curve_loss(
                    self._head_curve(move(vin))[:, idx] + offset, target, silence=self.settings.silence
                )
                (g,) = torch.autograd.grad(loss, vin, allow_unused=True)
            ok = g is not None and bool(torch.isfinite(g).all())
            return float(loss.detach()), (g if ok else None), (0, v.shape[-1])

        out = move(self._descend_backtracking(v0, scale, HEAD_ITERATIONS, evaluate, solver="lbfgs"))
        dz = out - z
        norm = float(dz.norm())
        return z + dz * (radius / norm) if norm > radius else out

    def _variables(self, z: Tensor, dirs: Tensor | None) -> tuple[Callable[[Tensor], Tensor], Tensor, float]:
        """What the passes descend over: (variables -> latent, the starting variables, their step scale).
        The free latent itself (scale: its RMS); or gains on the 6 Hz curve grid interpolated onto latent
        frames along ``dirs`` (scale: ``GAIN_STEP_DB``); free per-latent-frame gains add a flutter inside
        each curve frame that the curve cannot see (and the classifier hears)."""
        if dirs is None:
            return (lambda v: v), z, float(z.float().pow(2).mean().sqrt()) or 1.0
        interp = self._gain_interp(z.shape[-1])
        a0 = torch.zeros(2, interp.shape[0], dtype=torch.float32, device=z.device)
        return _gain_mover(z, dirs, interp), a0, GAIN_STEP_DB

    def _gain_directions(self, audio: Tensor | None, z: Tensor) -> Tensor:
        """``[2, *z.shape]``: how each latent frame moves per dB of gain on the left / right channel of the
        decode of ``z`` (``audio``, decoded here when None and needed): the model's own exact directions when
        its code has them, else from the model folder's gain direction net when it has one and the settings
        allow it, else through the encoder (``encoded_gain_directions``)."""
        if self.gain_dirs is not None:
            return self.gain_dirs(z)
        if audio is None:
            with torch.no_grad():
                audio = self.decode(z.float())
        if self.gain_net is not None and self.settings.gain_net:
            return self.gain_net.directions(z, audio)
        if self.encode is None:
            raise ModelError("guide_gain needs the model's encoder or a gain direction net")
        return encoded_gain_directions(self.encode, audio, z)

    def _gain_interp(self, frames: int) -> Tensor:
        if self._interp is None or self._interp.shape[1] != frames:
            self._interp = gain_interpolation(
                frames, self.downsampling_ratio, self.sample_rate, int(self.target.shape[-1])
            )
        return self._interp

    def _decoder_gain_steps(self, z0: Tensor, passes: int) -> Tensor:
        """Decoder passes (forward + backward) over curve-grid gains along ``_gain_directions``, which come
        from one more forward decode of ``z0`` (not counted in the budget); the passes share the gains and
        back off as ``_descend_backtracking`` does."""
        move, a0, scale = self._variables(z0, self._gain_directions(None, z0))
        gains = self._descend_backtracking(a0, scale, passes, lambda a: self._pass(a, move), decoder=True)
        return move(gains)

    def _pass(
        self, v: Tensor, move: Callable[[Tensor], Tensor] | None = None
    ) -> tuple[float, Tensor | None, tuple[int, int]]:
        """One decoder pass: the loss at the latent ``v`` over the window (or, with ``move``, at ``move(v)``
        over the whole chunk, ``v`` being gains) and its gradient in ``v`` (None when unusable)."""
        with torch.inference_mode(False), torch.enable_grad():
            # a clone made here is a normal tensor even when the caller runs under inference_mode
            if move is None:
                a, b = self._window(v.shape[-1])
                vin = v[..., a:b].detach().float().clone().requires_grad_(True)
                zin, frames = vin, v.shape[-1]
            else:
                vin = v.detach().float().clone().requires_grad_(True)
                zin = move(vin)
                frames = zin.shape[-1]
                a, b = 0, frames
            if self.track is not None and not self._calibrate:
                measured, target, _ = self._track_measure(zin, a, b, frames)
            else:
                measured, target, keep = self._measure(self.decode(zin), a, b, frames)
                self._set_fix(zin.detach(), measured.detach(), keep, a, frames)
            loss = curve_loss(measured, target, silence=self.settings.silence)
            (g,) = torch.autograd.grad(loss, vin, allow_unused=True)
        self.passes_used += 1
        loss_v = float(loss.detach())
        self.losses.append(loss_v)
        ok = g is not None and bool(torch.isfinite(g).all())
        return loss_v, (g if ok else None), ((a, b) if move is None else (0, v.shape[-1]))

    def _apply(
        self, z: Tensor, dz: Tensor | None, win: tuple[int, int], rms: float, scale: float = 1.0
    ) -> Tensor:
        """``z`` after ``scale`` times the proposed step on the window ``win``, capped at ``max_step`` x RMS."""
        if dz is None or not torch.isfinite(dz).all():
            return z
        dz = scale * dz
        cap = self.settings.max_step * rms * math.sqrt(dz.numel())
        norm = float(dz.norm())
        if norm > cap:
            dz = dz * (cap / norm)
        a, b = win
        out = z.clone()
        out[..., a:b] = out[..., a:b] + dz.to(z.dtype)
        return out

    def _window(self, frames: int) -> tuple[int, int]:
        """Latent frames to decode this pass: everything, or the next crop with its context."""
        if self.settings.crop_s <= 0:
            return 0, frames
        crop = max(1, int(round(self.settings.crop_s * self.sample_rate / self.downsampling_ratio)))
        if crop >= frames:
            return 0, frames
        start = self._crop_at % frames
        if start + crop > frames:
            start = 0
        self._crop_at = start + crop
        return max(0, start - CROP_CONTEXT_FRAMES), min(frames, start + crop + CROP_CONTEXT_FRAMES)

    def _frames_inside(
        self, a: int, b: int, frames: int, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The chunk's 6 Hz curve frames that lie fully inside the window of latent frames ``[a, b)`` (``n``
        samples decoded), and all frames' sample bounds on the chunk."""
        r, sr, s0 = self.downsampling_ratio, self.sample_rate, a * self.downsampling_ratio
        starts, ends = _frame_bounds(frames * r, sr, 1.0 / CURVE_RATE_HZ, 1.0 / CURVE_RATE_HZ)
        inner_a = s0 + (CROP_CONTEXT_FRAMES * r if a > 0 else 0)  # skip the filter's start-up in the context
        inner_b = s0 + n - (CROP_CONTEXT_FRAMES * r if b < frames else 0)
        keep = np.flatnonzero(
            (starts >= inner_a) & (ends <= inner_b) & (np.arange(starts.size) < self.target.shape[-1])
        )
        return keep, starts, ends

    def _measure(self, audio: Tensor, a: int, b: int, frames: int) -> tuple[Tensor, Tensor, np.ndarray]:
        """Measured (unfloored) and target curves over the curve frames that lie fully inside the decoded
        window, and those frames' indices on the chunk's global 6 Hz grid."""
        s0 = a * self.downsampling_ratio
        seg = audio[0] if audio.ndim == 3 else audio
        keep, starts, ends = self._frames_inside(a, b, frames, seg.shape[-1])
        if keep.size == 0:
            return seg.sum() * 0.0 + torch.zeros(2, 0), self.target[:, :0], keep
        y = k_weight(seg, self.sample_rate).to(torch.float64)
        cs = torch.nn.functional.pad(torch.cumsum(y * y, dim=-1), (1, 0))
        st = torch.from_numpy(starts[keep] - s0).to(seg.device)
        en = torch.from_numpy(ends[keep] - s0).to(seg.device)
        p = (cs[..., en] - cs[..., st]).clamp_min(0.0) / (en - st).to(torch.float64)
        measured = power_to_lufs(p).float()
        return measured, self.target[:, torch.from_numpy(keep)].to(measured), keep

    def _track_measure(self, z: Tensor, a: int, b: int, frames: int) -> tuple[Tensor, Tensor, np.ndarray]:
        """``_measure`` of the latent window ``z`` (frames ``[a, b)`` of the chunk) through the model's
        loudness track instead of a decode, plus ``_fix`` once the final step has measured it."""
        assert self.track is not None
        s0 = a * self.downsampling_ratio
        power, hop = self.track(z)
        keep, starts, ends = self._frames_inside(a, b, frames, z.shape[-1] * self.downsampling_ratio)
        if keep.size == 0:
            return power.sum() * 0.0 + torch.zeros(2, 0), self.target[:, :0], keep
        measured = power_to_lufs(
            track_frame_powers(power[0], hop, starts[keep] - s0, ends[keep] - s0)
        ).float()
        idx = torch.from_numpy(keep)
        if self._fix is not None:
            measured = measured + self._fix[:, idx].to(measured)
        return measured, self.target[:, idx].to(measured), keep

    def _set_fix(self, z: Tensor, decoded: Tensor, keep: np.ndarray, a: int, frames: int) -> None:
        """When calibrating: ``_fix`` = the decode's curve less the track's on the frames measured (0
        elsewhere, within +-``TRACK_FIX_LU``), so later track passes measure what a decode would."""
        if not self._calibrate or self.track is None:
            return
        self._calibrate = False
        with torch.no_grad():
            est, _, _ = self._track_measure(z, a, a + z.shape[-1], frames)
        fix = torch.zeros(2, int(self.target.shape[-1]))
        fix[:, torch.from_numpy(keep)] = (decoded.detach().float() - est.float()).clamp(
            -TRACK_FIX_LU, TRACK_FIX_LU
        )
        self._fix = fix.to(decoded.device)


def encoded_gain_directions(encode: Decode, audio: Tensor, z: Tensor) -> Tensor:
    """``[2, *z.shape]``: the encodes of ``audio`` (the decode of ``z``) with its left / right channel 1 dB
    louder, less its encode as it is, in one batch. A step along them changes the level and keeps the sound;
    a free gradient step through the decoder changes the sound too (docs/curve_methods_sweep/, session 8)."""
    audio = audio if audio.ndim == 3 else audio[None]
    up = torch.ones(3, audio.shape[-2], 1, dtype=audio.dtype, device=audio.device)
    up[1, 0] = up[2, 1] = 10.0 ** (1.0 / 20.0)
    with torch.no_grad():
        enc = encode(audio[:1] * up)
    dirs = (enc[1:] - enc[:1]).to(z.dtype)[..., : z.shape[-1]]
    if dirs.shape[-1] < z.shape[-1]:
        dirs = torch.nn.functional.pad(dirs, (0, z.shape[-1] - dirs.shape[-1]))
    return dirs.reshape(2, *z.shape)


def gain_interpolation(frames: int, ratio: int, sample_rate: int, n_curve: int) -> Tensor:
    """``[F, T]``: gains on the 6 Hz curve grid interpolated linearly between frame centres onto latent frame
    centres, held flat beyond the first and last (on dev clips a latent frame taking the curve frames it
    overlaps, by share, kept less of the prompt: docs/curve_methods_sweep/, session 8)."""
    w = np.zeros((n_curve, frames), dtype=np.float32)
    src = (np.arange(n_curve) + 0.5) / CURVE_RATE_HZ
    dst = (np.arange(frames) + 0.5) * ratio / sample_rate
    j = np.clip(np.searchsorted(src, dst) - 1, 0, max(0, n_curve - 2))
    if n_curve == 1:
        w[0] = 1.0
    else:
        t = np.clip((dst - src[j]) / (src[j + 1] - src[j]), 0.0, 1.0)
        w[j, np.arange(frames)] = 1.0 - t
        w[j + 1, np.arange(frames)] += t
    return torch.from_numpy(w)


def _gain_mover(z: Tensor, dirs: Tensor, interp: Tensor) -> Callable[[Tensor], Tensor]:
    """``a -> z`` moved by the curve-grid gains ``a`` ``[2, F]`` (dB) along the per-frame directions ``dirs``."""

    def moved(a: Tensor) -> Tensor:
        g = a @ interp
        return z + dirs[0] * g[0] + dirs[1] * g[1]

    return moved


def _polyak_direction(loss: float, g: Tensor | None) -> Tensor | None:
    """The damped Polyak step ``-loss / |g|^2 * g`` (None when there is nothing to descend)."""
    if g is None or loss <= 0:
        return None
    g2 = float(g.pow(2).sum())
    return -loss / g2 * g if g2 > 0 else None


def _lbfgs_direction(g: Tensor | None, hist: list[tuple[Tensor, Tensor]]) -> Tensor | None:
    """``-H g`` by the L-BFGS two-loop recursion over ``hist`` (oldest first), scaled by the newest pair."""
    if g is None:
        return None
    q = g.float().clone()
    alphas = []
    for sv, yv in reversed(hist):
        rho = 1.0 / float((yv * sv).sum())
        a = rho * float((sv * q).sum())
        q -= a * yv
        alphas.append((rho, a))
    sv, yv = hist[-1]
    q *= float((sv * yv).sum()) / float((yv * yv).sum())
    for (sv, yv), (rho, a) in zip(hist, reversed(alphas), strict=True):
        b = rho * float((yv * q).sum())
        q += (a - b) * sv
    return -q.to(g.dtype)


# ------------------------------------------------------------------------------------------------ memory
def decode_bytes_per_frame(
    decode: Decode,
    latent_channels: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    probe_frames: int = 4,
) -> int:
    """Bytes autograd keeps per latent frame for one differentiable decode (counted on a short probe)."""
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with (
        torch.inference_mode(False),
        torch.enable_grad(),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        # made inside: a tensor created under the caller's inference_mode cannot enter autograd
        z = torch.zeros(1, latent_channels, probe_frames, device=device, dtype=dtype, requires_grad=True)
        out = decode(z)
    del out
    return int(math.ceil(total / probe_frames))


def check_guidance_memory(
    decode: Decode,
    latent_channels: int,
    n_frames: int,
    device: torch.device,
    settings: GuideSettings,
    downsampling_ratio: int,
    sample_rate: int,
    dtype: torch.dtype = torch.float32,
    free_bytes: int | None = None,
) -> int:
    """Refuse, with a message that offers the cheaper path, a guidance pass that cannot fit in memory.
    Returns the estimated bytes of one pass."""
    from triergon_studio.engine.device import available_memory

    frames = n_frames
    if settings.crop_s > 0:
        frames = min(
            n_frames, int(round(settings.crop_s * sample_rate / downsampling_ratio)) + 2 * CROP_CONTEXT_FRAMES
        )
    per = decode_bytes_per_frame(decode, latent_channels, device, dtype)
    need = int(1.5 * per * frames)  # autograd's saved tensors plus the gradients flowing back through them
    free = available_memory(device) if free_bytes is None else free_bytes
    if free is not None and need > free:
        secs = frames * downsampling_ratio / sample_rate
        fit = max(0.0, free / (1.5 * per) - 2 * CROP_CONTEXT_FRAMES) * downsampling_ratio / sample_rate
        raise ModelError(
            f"curve guidance needs about {need / 2**30:.1f} GiB to decode {secs:.1f} s with gradients but "
            f"{free / 2**30:.1f} GiB is free: use the cheaper path (guide crop of at most {fit:.1f} s), "
            "'shape' instead of 'guide', a shorter span, or a loudness head for this model "
            "(triergon-studio train-loudness-head: its passes decode forward only)"
        )
    return need


def target_for_chunk(
    curves: np.ndarray, start_s: float, n_frames: int, downsampling_ratio: int, sample_rate: int
) -> Tensor:
    """The take's [2, F] LUFS curves cut to a chunk starting ``start_s`` into the take (floor-padded)."""
    c = np.asarray(curves, dtype=np.float32)
    a = int(round(start_s * CURVE_RATE_HZ))
    f = int(math.ceil(n_frames * downsampling_ratio / sample_rate * CURVE_RATE_HZ))
    out = np.full((2, f), LUFS_FLOOR, dtype=np.float32)
    piece = c[:, a : a + f]
    out[:, : piece.shape[1]] = piece
    return torch.from_numpy(out)
