"""The curve-guidance knobs a take's ``extra`` (or a model's config) may set, without torch.

``GuideSettings.from_extra`` turns them into settings; a model config's ``sampling.guide`` is checked here
at load time, so a misspelt knob in a model folder names its file before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from triergon_studio.errors import ModelError

# extra key -> GuideSettings field
GUIDE_KNOBS: dict[str, str] = {
    "guide_strength": "strength",
    "guide_budget": "budget",
    "guide_start": "start",
    "guide_end": "end",
    "guide_passes": "passes",
    "guide_crop_s": "crop_s",
    "guide_max_step": "max_step",
    "guide_final": "final",
    "guide_final_at": "final_at",
    "guide_silence": "silence",
    "guide_backtrack": "backtrack",
    "guide_solver": "solver",
    "guide_head": "head",
    "guide_gain": "gain",
    "guide_gain_net": "gain_net",
    "guide_seeds": "seeds",
    "guide_seed_steps": "seed_steps",
    "guide_track": "track",
    "guide_level": "level",
}


def check_knob_names(extra: Mapping[str, object]) -> None:
    """Refuse a ``guide_*`` key that is not a knob: a misspelt one would otherwise be ignored."""
    unknown = sorted(k for k in extra if k.startswith("guide_") and k not in GUIDE_KNOBS)
    if unknown:
        raise ModelError(f"unknown guidance knob {unknown[0]!r}; known: {', '.join(GUIDE_KNOBS)}")


def check_default_knobs(knobs: Mapping[str, object]) -> None:
    """A model's default guidance (``sampling.guide``): known knob names with finite numbers."""
    if not isinstance(knobs, Mapping):
        raise ModelError(f"sampling.guide must be an object of guidance knobs, got {type(knobs).__name__}")
    for k, v in knobs.items():
        if not k.startswith("guide_"):
            raise ModelError(f"sampling.guide: {k!r} is not a guidance knob (they start with 'guide_')")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ModelError(f"sampling.guide: {k} must be a finite number, got {v!r}")
    try:
        check_knob_names(knobs)
    except ModelError as exc:
        raise ModelError(f"sampling.guide: {exc}") from exc
