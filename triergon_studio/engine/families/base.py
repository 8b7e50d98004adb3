"""The protocol every model family implements, and the plain descriptions the UI reads.

The use case (``triergon_studio.takes.make_takes``) owns everything that is the same for all families: the
exact length, chunking over the model's window, curve control, decoding, conform and writing. A family owns
what differs: conditioning from a take's inputs, its sampler and objective, and its autoencoder.

``ModelInfo`` and ``Capabilities`` are plain data read from a model's config files without torch, so the UI can
enable prompt boxes and list samplers before anything loads (``registry.describe``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from triergon_studio.engine.sampler_step import SamplerStep

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class Capabilities:
    text: bool = True
    negative_text: bool = False
    reference_audio: bool = False  # a reference-audio *prompt* (an embedding), not init audio
    video: bool = False  # the picture as a prompt
    lufs: bool = False  # loudness curves as a model input (all families follow curves through curve control)
    init_audio: bool = False  # audio-to-audio from a noised init
    inpaint: bool = False  # regenerate a region, continue past the window
    lufs_predictor: bool = False  # curves from the picture (T_LUFS); motion curves work for every family
    max_window_s: float = 60.0
    samplers: tuple[str, ...] = ()
    guidance_rules: tuple[str, ...] = ("cfg",)
    #: sentences the prompt panel shows, e.g. "takes no video prompt: the picture steers it through the curves"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Defaults:
    steps: int
    cfg: float
    sampler: str
    guidance: str = "cfg"
    init_noise: float = 0.7  # fraction of the schedule the init audio is noised to
    follow_curves: str = "off"
    #: the model's own curve-guidance knobs (``TakeSpec.extra`` names), under a take's
    guide: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    family: str  # "tri-ergon", "stable-audio-3", "stable-audio-open"
    capabilities: Capabilities
    defaults: Defaults
    path: str | None = None
    params: int = 0
    licence: str = ""
    sample_rate: int = 44100
    latent_rate_hz: float = 0.0
    variant: str = ""  # e.g. "small-sfx", "1.0", "compact"
    #: defaults that differ by guidance rule (a spec choosing a rule but no sampler/steps/cfg gets these)
    guidance_defaults: dict[str, Defaults] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    """A spec's settings with every ``None`` resolved to the model's default (recorded in the take)."""

    steps: int
    cfg: float
    sampler: str
    guidance: str
    seed: int
    init_noise: float
    follow_curves: str


@dataclass(slots=True)
class TakeInputs:
    """Everything read from files for one take, in the model's sample rate, cut to the take's span."""

    n_samples: int
    duration_s: float
    start_s: float  # span start in video time
    text: str = ""
    negative_text: str = ""
    reference: np.ndarray | None = None  # [N, 2] float32
    init_audio: np.ndarray | None = None  # [N, 2] float32, exactly n_samples long
    video_path: str | None = None  # the picture (prompt), when the spec uses it
    video_span: tuple[float, float] | None = None
    curves: np.ndarray | None = None  # [2, F] LUFS at 6 Hz covering the span (clipped to the floor)
    curves_source: str | None = None
    embeddings: dict[str, Any] = field(default_factory=dict)  # precomputed prompt embeddings (Python API)


@dataclass(frozen=True, slots=True)
class FamilyEntry:
    """How the registry finds a family: a cheap test on a folder's files, and the dotted names of its
    ``describe`` (torch-free, (name_or_dir) -> ModelInfo) and ``load`` ((name_or_dir, device, dtype, **options)
    -> GenerationModel) functions, imported only when needed."""

    family: str
    detect: Callable[[Path], bool]
    describe: str  # "module:function"
    load: str  # "module:function"


@runtime_checkable
class GenerationModel(Protocol):
    """A loaded model of one family, on one device."""

    info: ModelInfo

    @property
    def device(self) -> torch.device: ...

    @property
    def latent_channels(self) -> int: ...

    @property
    def downsampling_ratio(self) -> int: ...

    def check(self, inputs: TakeInputs, settings: Settings) -> None:
        """Refuse (ModelError, one line) what this model cannot do, before any work."""

    def condition(self, inputs: TakeInputs, settings: Settings) -> Any:
        """Prompts, timing and (where the family takes them) curves -> the family's conditioning."""

    def window(self, cond: Any, start_s: float, length_s: float) -> Any:
        """The conditioning for a chunk starting ``start_s`` into the take (long takes, regions)."""

    def sample(
        self,
        cond: Any,
        n_frames: int,
        settings: Settings,
        generator: torch.Generator,
        *,
        inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
        init: torch.Tensor | None = None,
    ) -> Generator[SamplerStep, None, torch.Tensor]:
        """Sample a [1, C, n_frames] latent, yielding after every step. ``inpaint=(known, mask)`` keeps the
        latent where mask == 0; ``init`` is a clean latent to start from at ``settings.init_noise``."""

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 2, N] audio -> [B, C, ceil(N / ratio)] latents."""

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, C, T] latents -> [B, 2, T * ratio] audio (differentiable: curve guidance backpropagates).

        Optional beside it (every built-in family has it): ``decode_steps(latent) -> Generator[float, None,
        Tensor]``, the same decode a layer (or window) at a time, yielding the fraction done and returning the
        same samples, so a long take's decode shows progress (``takes`` falls back to ``decode``)."""
