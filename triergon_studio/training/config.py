"""Training run settings, one dataclass per stage (plain Python: no torch, and no other training module
at import time, so the runner and every stage can import it).

A stage config is one flat JSON object (``training/configs/*.json``): the shared run settings
(``RunConfig``) plus the fields of its own stage (``VAEStageConfig``, ``EncodersStageConfig``,
``DiTStageConfig``, ``LufsStageConfig``). ``"stage"`` picks the class; a field that the stage does not have is
an error that names the file, as is a value of the wrong type. ``"comment"`` is allowed and ignored.
Relative paths inside (``out_dir``, ``init``, ``pool_path``, ``manifests``) are relative to the working
directory of the run, as written; ``training.reproduce`` rewrites them under its ``--work`` folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from triergon_studio.errors import StudioError

if TYPE_CHECKING:
    import torch

STAGES = ("vae", "encoders", "dit", "lufs")


@dataclass
class RunConfig:
    """Settings every stage shares: the run folder, the model, the optimiser, the data and the logging."""

    STAGE: ClassVar[str] = ""

    stage: str
    out_dir: str
    model: str = "tiny"  # preset name, or a path to a model config.json
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"dit": {"lufs_mode": "tokens"}}
    init: list[str] = field(default_factory=list)  # weights of earlier stages (weights.safetensors files)
    steps: int = 100
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 20
    grad_clip: float = 1.0
    seed: int = 0
    segment_seconds: float = 2.0
    corpus: dict[str, Any] = field(default_factory=lambda: {"max_seconds": 8.0, "mean_seconds": 3.0})
    manifests: list[str] = field(default_factory=list)
    manifest_weight: float = 0.0
    pool_size: int = 0  # > 0: draw batches from a fixed pool of segments made once (fast on CPUs)
    pool_path: str = ""  # share one pool between stages (built if missing)
    pool_workers: int = 1
    video_size: int = 32
    lufs_size: int = 32
    video_frames: int = 4
    num_workers: int = 0  # DataLoader workers for the streaming path
    log_every: int = 5
    ckpt_every: int = 50
    # > 0: checkpoint and stop after this step (a time-sliced or pre-empted run), resume later
    stop_at: int = 0
    # > 0: a safety net; the stage ends (and exports) early, recording the steps done
    time_limit_s: float = 0.0
    num_threads: int = 0  # torch.set_num_threads (0: leave as is)
    device: str = "auto"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> RunConfig:
        """Build this class from a flat dict; unknown fields and wrong types are errors naming ``source``."""
        if not isinstance(data, dict):
            raise StudioError("training config must be a JSON object", source)
        if cls.STAGE and data.get("stage") != cls.STAGE:
            raise StudioError(f"config is for stage {data.get('stage')!r}, not {cls.STAGE!r}", source)
        known = {f.name: f for f in dataclasses.fields(cls)}
        body = {k: v for k, v in data.items() if k != "comment"}
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise StudioError(f"unknown field(s) {unknown} for a {data.get('stage')!r} stage config", source)
        missing = [k for k in ("stage", "out_dir") if k not in body]
        if missing:
            raise StudioError(f"training config needs {missing}", source)
        for name, value in body.items():
            _check_type(name, str(known[name].type), value, source)
        _check_corpus(body.get("corpus", {}), source)
        return cls(**body)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class VAEStageConfig(RunConfig):
    STAGE: ClassVar[str] = "vae"

    crop_seconds: float = 0.0  # random crops of this length inside each segment (0 = whole segment)
    kl_weight: float = 1e-4
    stereo_weight: float = 0.5
    stft_weight: float = 1.0  # the L/R multi-resolution STFT term (mid/side has stereo_weight)
    stft_ffts: list[int] = field(default_factory=lambda: [2048, 1024, 512, 256, 128])
    envelope_weight: float = 0.0
    mel_weight: float = 0.0
    sample_latents: bool = True  # False: train on the posterior mean (KL reduced to an L2 on the mean)
    data_init: bool = False  # weight-norm data-dependent init before the first step
    adversarial: bool = False
    adv_weight: float = 0.1
    disc_ffts: list[int] = field(default_factory=lambda: [1024])  # one STFT discriminator per FFT size
    # train the decoder only: the latents (and so a DiT trained on them) stay exactly as they were
    freeze_encoder: bool = False
    # > 0: the encoder trains too, held near the init encoder's latents by this weight on their mean squared
    # difference (so a DiT trained on them stays close to valid), and export keeps their scale as it is
    anchor_weight: float = 0.0
    balance_weight: float = 0.0  # the L/R balance term (``losses.balance_loss``)
    # the per-channel loudness-curve term (``losses.loudness_curve_loss``, LU): the decoder's level per 1/6 s
    # frame against the input's, where the input is audible; the curves the DiT is conditioned on are only
    # worth following if the decoder puts a latent's sound at the level it was encoded from
    loudness_weight: float = 0.0
    # with loudness_weight: the weight of its silent-frame part (how far the decode rises above the input where
    # the input is silent); a gain trained on the audible frames alone lifts the gaps (session 23)
    loudness_silence: float = 0.0
    # names (prefixes inside the autoencoder, e.g. "decoder.pan") of the only parameters trained; empty: all
    # (the decoder's with freeze_encoder)
    trainable: list[str] = field(default_factory=list)


@dataclass
class EncodersStageConfig(RunConfig):
    STAGE: ClassVar[str] = "encoders"

    init_logit_scale: float = 2.659  # log(1/0.07), as CLIP
    # probability that a segment's caption is replaced, at batch time, by a new phrasing of its class
    # (corpus/phrasings.py: many templates and synonyms); 0 keeps the pool's captions
    caption_paraphrase: float = 0.0
    paraphrase_noise: float = 0.3  # share of phrasings with a dropped or made-up word, or swapped clauses
    audio_crop_seconds: float = 0.0  # > 0: a random crop of each segment's audio (the audio tower's cost)


@dataclass
class DiTStageConfig(RunConfig):
    STAGE: ClassVar[str] = "dit"

    ema_decay: float = 0.999
    p_modality: float = 0.3
    p_all: float = 0.1
    p_lufs: float = 0.2  # the curve is dropped too, so the model also learns to generate without one
    # > 0: a curve term on the denoised estimate of items trained with their curve: a frozen latent loudness
    # head (``loudness_head``, a loudness_head.safetensors trained for this autoencoder) reads the estimate's
    # curves, and their Huber distance in LU to the segment's own curves on its audible frames, weighted by
    # each item's signal share (alpha squared: a noisy estimate says little), is added with this weight
    loudness_weight: float = 0.0
    loudness_head: str = ""
    # what reads the estimate's curves: "head" (``loudness_head``) or "track" (the autoencoder's own loudness
    # track, exact up to Griffin-Lim for a band-PCA code; no head file)
    loudness_source: str = "head"
    # the term only on items whose noise level t is at most this (1: all); at high noise the head reads a blurred
    # estimate, so the term there asks the DiT for levels the estimate cannot carry yet
    loudness_max_t: float = 1.0
    # the term's gradient reaches the estimate only along the code's per-channel gain directions, frame by frame
    # (band-PCA: exact), so it can move each frame's level but not its spectral shape. Session 35 (108 dev clips):
    # with it the term taught nothing (4.46 LU raw against 4.44), where the free term's gain cost prompts
    loudness_gain_only: bool = False


@dataclass
class LufsStageConfig(RunConfig):
    STAGE: ClassVar[str] = "lufs"

    # rotating: whole fresh clips from a background generator, cut into windows used once each
    # (training/rotating_pool.py); false: the fixed pool or the stream, as the other stages
    rotating: bool = False
    window_seconds: list[float] = field(default_factory=lambda: [3.0, 4.0, 6.0])
    live_clips: int = 48
    uses_per_clip: int = 12
    fresh_fraction: float = 1.0  # share of admitted clips that are fresh; the rest come from the reservoir
    reservoir: bool = False  # the shared pool's segments (pool_path) as extra clips, each window used once
    generator: bool = True  # false: fresh clips are made in the training process (tests)
    generator_nice: int = 10
    # more on a machine with cores to spare (a GPU host), where making clips is what the trainer waits for
    generator_processes: int = 1
    prefetch_clips: int = 32
    brightness_jitter: float = 0.1
    contrast_jitter: float = 0.2
    clip_dir: str = ""  # fresh clip files; default <out_dir>/clips
    # weights of a T_LUFS that reads one picture per curve frame, to start a model whose frame CNN reads
    # sub_frames: loaded with zero weights for the step channels, so the run starts at their curves
    init_one_picture: str = ""


StageConfig = VAEStageConfig | EncodersStageConfig | DiTStageConfig | LufsStageConfig
STAGE_CONFIGS: dict[str, type[RunConfig]] = {
    "vae": VAEStageConfig,
    "encoders": EncodersStageConfig,
    "dit": DiTStageConfig,
    "lufs": LufsStageConfig,
}


def stage_config_from_dict(data: dict[str, Any], source: str | Path | None = None) -> StageConfig:
    """The stage config that ``data["stage"]`` names."""
    stage = data.get("stage") if isinstance(data, dict) else None
    if not isinstance(stage, str) or stage not in STAGE_CONFIGS:
        raise StudioError(f"training config needs stage in {STAGES}, got {stage!r}", source)
    cfg = STAGE_CONFIGS[stage].from_dict(data, source)
    assert isinstance(cfg, VAEStageConfig | EncodersStageConfig | DiTStageConfig | LufsStageConfig)
    return cfg


def load_stage_config(path: str | Path) -> StageConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StudioError("training config not found", p) from exc
    except OSError as exc:
        raise StudioError(f"cannot read training config: {exc}", p) from exc
    except json.JSONDecodeError as exc:
        raise StudioError(f"training config is not valid JSON ({exc.msg} at line {exc.lineno})", p) from exc
    return stage_config_from_dict(data, p)


def merge_overrides(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in, nested objects key by key (``model_overrides`` onto a model config)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_overrides(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")


@dataclass
class Dist:
    """This process's place in a (possibly one-process) distributed run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=_cpu)

    @property
    def main(self) -> bool:
        return self.rank == 0


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list[str]": (list,),
    "list[float]": (list,),
    "dict[str, Any]": (dict,),
}


def _check_type(name: str, annotation: str, value: Any, source: str | Path | None) -> None:
    allowed = _TYPES.get(annotation)
    if allowed is None:
        return
    wrong = not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
    if not wrong and annotation == "list[str]":
        wrong = not all(isinstance(v, str) for v in value)
    if not wrong and annotation == "list[float]":
        wrong = not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if wrong:
        raise StudioError(f"training config field {name!r} must be {annotation}, got {value!r}", source)


def _check_corpus(corpus: Any, source: str | Path | None) -> None:
    from triergon_studio.training.corpus import CorpusConfig  # the corpus generator's own settings

    names = {f.name for f in dataclasses.fields(CorpusConfig)}
    unknown = sorted(set(corpus) - names)
    if unknown:
        raise StudioError(f"unknown corpus field(s) {unknown} (known: {', '.join(sorted(names))})", source)
