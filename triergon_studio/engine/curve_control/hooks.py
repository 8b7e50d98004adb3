"""The curve-control hooks ``make_takes`` calls, for any model family (issue 13).

- ``check_follow(spec, settings, model, inputs)``: refuse, in one line, what cannot work, before any work;
- ``shape_init(inputs, settings, sample_rate)`` (from ``shaping``): before sampling, the init audio;
- ``make_guide(spec, settings, model, inputs)``: once per take, the guidance (None when not guiding);
- ``guide_step(step, guide, chunk_start)``: between sampler steps, the ``x`` the sampler continues from.

Conform stays the separate, last, exact stage (``TakeSpec.conform``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from triergon_studio.engine.curve_control.gain_net import gain_net_for_model
from triergon_studio.engine.curve_control.guidance import (
    CurveGuide,
    GuideSettings,
    check_guidance_memory,
    target_for_chunk,
)
from triergon_studio.engine.curve_control.latent_head import head_for_model
from triergon_studio.engine.curve_control.shaping import shape_init
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError

__all__ = ["TakeGuide", "check_follow", "guide_knobs", "guide_step", "make_guide", "shape_init"]

# How a family's sampler state relates to the clean latent; a family may say so itself with a
# ``parameterisation`` attribute ("ve": x = x0 + sigma n; "flow": x = (1 - t) x0 + t n).
FAMILY_PARAMETERISATION = {"tri-ergon": "ve", "stable-audio-open": "ve", "stable-audio-3": "flow"}


def check_follow(spec: Any, settings: Any, model: Any, inputs: Any) -> None:
    mode = settings.follow_curves
    if mode == "off":
        return
    name = model.info.name
    if inputs.curves is None:
        raise ModelError(
            f"follow curves '{mode}' needs curves (draw, measure or predict them), or set it to off"
        )
    if "shape" in mode and not model.info.capabilities.init_audio:
        raise ModelError(f"follow curves '{mode}': model '{name}' cannot start from init audio; use 'guide'")
    try:
        GuideSettings.from_extra(model.info.defaults.guide)
    except ModelError as exc:  # the folder's own defaults, not the take's knobs
        raise ModelError(
            f"model '{name}' default guidance (its config's sampling.guide): {exc}", model.info.path
        ) from exc
    GuideSettings.from_extra(guide_knobs(spec, model))  # validate the knobs before any work


def guide_knobs(spec: Any, model: Any) -> dict[str, Any]:
    """The take's guidance knobs: the model's defaults (``Defaults.guide``), then the take's own."""
    return {**model.info.defaults.guide, **spec.extra}


def _parameterisation(model: Any) -> str:
    own = getattr(model, "parameterisation", None)
    if isinstance(own, str):
        return own
    return FAMILY_PARAMETERISATION.get(model.info.family, "ve")


@dataclass
class TakeGuide:
    """Guidance for one take: one ``CurveGuide`` per chunk (keyed by its first latent frame)."""

    model: Any
    curves: np.ndarray  # [2, F] LUFS of the take
    settings: GuideSettings
    total_steps: int
    parameterisation: str
    head: Any = None  # the model's latent loudness head, when it has one and the settings use it
    gain_net: Any = None  # the model's gain direction net, when it has one and gain or level mode uses it
    chunks: dict[int, CurveGuide] = field(default_factory=dict)

    def for_chunk(self, start: int, n_frames: int, total_steps: int) -> CurveGuide:
        g = self.chunks.get(start)
        if g is None:
            ratio, sr = self.model.downsampling_ratio, self.model.info.sample_rate
            target = target_for_chunk(self.curves, start * ratio / sr, n_frames, ratio, sr)
            g = CurveGuide(
                self.model.decode,
                target,
                sr,
                ratio,
                total_steps,
                self.settings,
                self.parameterisation,
                head=self.head,
                encode=getattr(self.model, "encode", None),
                gain_net=self.gain_net,
                track=getattr(self.model, "loudness_track", None) if self.settings.track else None,
                gain_dirs=getattr(self.model, "gain_directions", None),
            )
            self.chunks[start] = g
        return g

    def summary(self) -> dict[str, Any]:
        """Plain values for the take's sidecar metadata."""
        r = self.record()
        s = self.settings
        return {
            "guide_passes": r["passes"],
            "guide_seconds": r["seconds"],
            "guide_strength": s.strength,
            "guide_budget": s.budget,
            "guide_start": s.start,
            "guide_end": s.end,
            "guide_crop_s": s.crop_s,
            "guide_final": s.final,
            "guide_silence": s.silence,
            "guide_solver": s.solver,
            "guide_gain": s.gain,
            "guide_level": s.level,
            "guide_gain_dirs": "off"
            if s.gain == "off" and not s.level
            else (
                "code"
                if getattr(self.model, "gain_directions", None) is not None
                else ("net" if self.gain_net is not None else "encoder")
            ),
            "guide_path": "head" if self.head is not None else "decoder",
            "guide_measure": "track"
            if self.settings.track and getattr(self.model, "loudness_track", None) is not None
            else "decode",
            "guide_parameterisation": self.parameterisation,
        }

    def record(self) -> dict[str, Any]:
        recs = [g.record() for g in self.chunks.values()]
        return {
            "settings": {k: getattr(self.settings, k) for k in self.settings.__slots__},
            "parameterisation": self.parameterisation,
            "passes": sum(r["passes_used"] for r in recs),
            "seconds": round(sum(r["seconds"] for r in recs), 3),
            "chunks": recs,
        }


def make_guide(spec: Any, settings: Any, model: Any, inputs: Any, chunk_frames: int) -> TakeGuide | None:
    """The take's guidance, or None when the mode does not guide; checks that one pass fits in memory."""
    if "guide" not in settings.follow_curves or inputs.curves is None:
        return None
    knobs = guide_knobs(spec, model)
    head = head_for_model(model) if GuideSettings.from_extra(knobs).head else None
    gs = GuideSettings.from_extra(knobs, head=head is not None)
    # a code with its own exact gain directions needs no net (``CurveGuide._gain_directions`` prefers them)
    own_dirs = getattr(model, "gain_directions", None) is not None
    dirs = gs.gain != "off" or gs.level  # the modes that move the latent along gain directions
    gain_net = gain_net_for_model(model) if dirs and gs.gain_net and not own_dirs else None
    if dirs and not own_dirs and gain_net is None and not callable(getattr(model, "encode", None)):
        knob = "guide_gain" if gs.gain != "off" else "guide_level"
        raise ModelError(
            f"{knob} needs gain directions: an encoder or a gain direction net, and model "
            f"'{model.info.name}' has neither; set {knob}=0"
        )
    if gs.gain != "off" and head is None and gs.crop_s > 0:
        raise ModelError("guide_gain moves gains over the whole chunk: set guide_crop_s=0 or guide_gain=0")
    if head is None:  # the head path decodes forward only: no autograd memory to check
        check_guidance_memory(
            model.decode,
            model.latent_channels,
            chunk_frames,
            model.device,
            gs,
            model.downsampling_ratio,
            model.info.sample_rate,
        )
    # the nets load on the CPU; guidance runs where the model's latents are
    head = head.to(model.device) if head is not None else None
    gain_net = gain_net.to(model.device) if gain_net is not None else None
    return TakeGuide(
        model,
        np.asarray(inputs.curves, dtype=np.float32),
        gs,
        settings.steps,
        _parameterisation(model),
        head,
        gain_net=gain_net,
    )


def guide_step(st: SamplerStep, guide: TakeGuide | CurveGuide | None, chunk_start: int = 0) -> Tensor:
    """The between-steps hook: the ``x`` the sampler continues from (``st.x`` when not guiding)."""
    if guide is None:
        return st.x
    if isinstance(guide, TakeGuide):
        guide = guide.for_chunk(chunk_start, int(st.x.shape[-1]), st.total)
    with torch.inference_mode(False):
        return guide.step(st)
