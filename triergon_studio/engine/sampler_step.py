"""The unit every sampler yields (torch-free at import, so the family descriptions can name it)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triergon_studio.errors import CancelledError

if TYPE_CHECKING:
    import torch


@dataclass(slots=True)
class SamplerStep:
    """What a sampler yields after each step. The consumer may replace ``x`` before asking for the next step
    (curve guidance does); the sampler continues from the replaced value."""

    step: int  # completed steps, 1..total
    total: int
    x: torch.Tensor  # the state the next step starts from
    denoised: torch.Tensor  # the current clean-latent estimate
    sigma: float  # noise level of ``x`` in the family's own parameterisation (sigma, or t for flows)


StepGenerator = Generator[SamplerStep, None, "torch.Tensor"]


def is_cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


def drive(
    steps: StepGenerator,
    callback: Callable[[int, int, Any], None] | None = None,
    cancel: Any = None,
) -> Any:
    """Run a step generator to the end: ``callback(step, total, denoised)`` after each step, ``cancel`` (a
    callable or a ``threading.Event``) checked before every step (``CancelledError``)."""
    if is_cancelled(cancel):
        steps.close()
        raise CancelledError("generation cancelled")
    while True:
        try:
            st = next(steps)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(st.step, st.total, st.denoised)
        if st.step < st.total and is_cancelled(cancel):
            steps.close()
            raise CancelledError("generation cancelled")
