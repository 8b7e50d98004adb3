"""The one generation use case: a ``TakeSpec`` and a loaded model -> takes written to disk.

The app's job, the ``generate`` command, the Python API and the cluster workers all call ``make_takes``; it is
a generator that yields ``Progress`` after every sampler step (closing it cancels within one step) and returns
``TakeRecord``s. Numbered steps:

1. resolve the settings (``None`` -> the model family's defaults) and read the inputs (reference and init audio
   at the model's rate, the curves cut to the span); refuse what the model cannot do before any work;
2. condition the model once for the whole take;
3. sample the latent: one window, or overlapping chunks over the model's window, each later chunk inpainted over
   the overlap so it continues the previous one; a region of an existing take is inpainted inside a window
   around it only;
4. decode, crossfade chunks (equal power) and trim to exactly ``spec.n_samples`` (the picture's length);
5. conform to the curves when asked, then write each WAV and its ``NAME.take.json`` atomically.

Torch is imported lazily (inside the functions), so importing this module costs nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.core.progress import ProgressFn
from triergon_studio.core.take_spec import TakeSpec
from triergon_studio.engine.families.base import ModelInfo, Settings, TakeInputs
from triergon_studio.errors import CancelledError, ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.engine.families.base import GenerationModel

CHUNK_OVERLAP_S = 4.0
REGION_CONTEXT_S = 2.0  # latent context kept on each side of a regenerated region
REGION_CROSSFADE_S = 0.05
# A window's decode counts as this share of its sampler steps in a take's progress (at least one step): the
# bundled model decodes a 60 s window in 18 to 22 s after 25 steps that took about 100 s (2026-12-01, shared
# 2-core CPU). The decode reports its own fraction layer by layer inside that share.
DECODE_SHARE = 0.2


def decode_units(steps: int) -> int:
    """How many progress steps one window's decode counts as, for ``steps`` sampler steps."""
    return max(1, int(round(steps * DECODE_SHARE)))


@dataclass(frozen=True, slots=True)
class Progress:
    step: int
    total: int
    message: str = ""
    stage: str = "sampling"  # loading | preparing | sampling | decoding | writing | predicting
    preview: np.ndarray | None = None
    sub: float = 0.0  # progress into the next step, in [0, 1) (a decode between sampler steps)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, (self.step + self.sub) / self.total)


@dataclass(frozen=True, slots=True)
class TakeRecord:
    """One take on disk and everything that made it (the same dict is its ``NAME.take.json``)."""

    path: Path
    seed: int
    start_s: float
    n_samples: int
    sample_rate: int
    settings: Settings
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.record.get("metadata")
        return dict(meta) if isinstance(meta, dict) else {}


# ---------------------------------------------------------------------------------------- settings + inputs


def resolve_settings(spec: TakeSpec, info: ModelInfo, seed: int | None = None) -> Settings:
    """The spec's settings with every ``None`` replaced by the model's default."""
    from triergon_studio.core.take_spec import MAX_SEED

    d = info.defaults
    if spec.guidance and spec.guidance != d.guidance:
        d = info.guidance_defaults.get(spec.guidance, d)  # each rule with its own reference defaults
    sampler = (spec.sampler or d.sampler).strip().lower().replace("_", "-")
    if sampler not in info.capabilities.samplers:
        raise ModelError(
            f"model '{info.name}' has no sampler {spec.sampler!r}; choose one of "
            f"{', '.join(info.capabilities.samplers)}"
        )
    guidance = spec.guidance or d.guidance
    if guidance not in info.capabilities.guidance_rules:
        raise ModelError(
            f"model '{info.name}' offers guidance {', '.join(info.capabilities.guidance_rules)}, "
            f"not {guidance!r}"
        )
    if seed is None:
        seed = spec.seed if spec.seed is not None else time.time_ns() % (MAX_SEED + 1)
    return Settings(
        steps=int(spec.steps if spec.steps is not None else d.steps),
        cfg=float(spec.cfg if spec.cfg is not None else d.cfg),
        sampler=sampler,
        guidance=guidance,
        seed=int(seed),
        init_noise=float(spec.init_noise if spec.init_noise is not None else d.init_noise),
        follow_curves=spec.follow_curves or d.follow_curves,
    )


def _read_clip(clip: Any, sr: int, what: str) -> np.ndarray:
    from triergon_studio.audio.io import read_audio

    audio, rate = read_audio(clip.path, sample_rate=sr)
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio
    a = int(round(clip.in_s * rate))
    b = int(round(clip.out_s * rate)) if clip.out_s is not None else len(audio)
    audio = audio[max(0, a) : max(a, b)]
    if len(audio) == 0:
        raise ModelError(f"the {what} selection is empty", clip.path)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    return np.ascontiguousarray(audio[:, :2])


def curves_for_span(curves: LoudnessCurve, spec: TakeSpec, where: str | None = None) -> np.ndarray:
    """The [2, F] LUFS of the span, from curves in video time; curves that do not cover the span are refused."""
    arr = np.stack([np.asarray(curves.left, np.float64), np.asarray(curves.right, np.float64)])
    rate = float(curves.rate_hz)
    if abs(rate - CURVE_RATE_HZ) > 1e-9:
        arr = np.asarray(curves.resample(CURVE_RATE_HZ), dtype=np.float64)
    have_s = arr.shape[1] / CURVE_RATE_HZ
    if have_s + 1.0 / CURVE_RATE_HZ < spec.span.end_s - 1e-9:
        raise ModelError(
            f"the curves last {have_s:.2f} s but the take ends at {spec.span.end_s:.2f} s; "
            f"draw or predict curves for the whole span (or stretch them to fit)",
            where,
        )
    a = int(round(spec.span.start_s * CURVE_RATE_HZ))
    n = max(1, int(math.ceil(spec.span.duration_s * CURVE_RATE_HZ - 1e-9)))
    part = arr[:, a : a + n]
    if part.shape[1] < n:  # the last frame may fall half a frame short: hold its value
        part = np.concatenate([part, np.repeat(part[:, -1:], n - part.shape[1], axis=1)], axis=1)
    return np.clip(np.nan_to_num(part, nan=LUFS_FLOOR, neginf=LUFS_FLOOR, posinf=0.0), LUFS_FLOOR, 0.0)


def read_inputs(
    spec: TakeSpec, model: GenerationModel, n_samples: int, curves: LoudnessCurve | None = None
) -> TakeInputs:
    """Read every file the spec names, at the model's rate, cut to the span."""
    sr = model.info.sample_rate
    inputs = TakeInputs(
        n_samples=n_samples,
        duration_s=n_samples / sr,
        start_s=spec.span.start_s,
        text=spec.text.strip(),
        negative_text=spec.negative_text.strip(),
    )
    if spec.reference is not None:
        inputs.reference = _read_clip(spec.reference, sr, "reference audio")
    if spec.init_audio is not None:
        init = _read_clip(spec.init_audio, sr, "init audio")
        out = np.zeros((n_samples, 2), np.float32)
        out[: min(n_samples, len(init))] = init[:n_samples]
        inputs.init_audio = out
    if spec.video is not None and spec.use_video and model.info.capabilities.video:
        inputs.video_path = spec.video.path
        inputs.video_span = (spec.span.start_s, spec.span.end_s)
    curves = curves if curves is not None else spec.curves
    if curves is not None:
        inputs.curves = curves_for_span(curves, spec)
        inputs.curves_source = str(getattr(getattr(curves, "source", None), "value", "drawn"))
    return inputs


def predict_curves(
    model: GenerationModel | None,
    video_path: str,
    method: str = "t_lufs",
    progress: ProgressFn | None = None,
) -> LoudnessCurve:
    """Curves for a whole video: the model's T_LUFS (``t_lufs``) or the training-free motion curves.
    ``progress(message, fraction)`` follows the whole prediction (frame decoding included)."""
    if method == "t_lufs":
        predict = getattr(model, "predict_curves", None)
        if model is None or predict is None or not model.info.capabilities.lufs_predictor:
            name = model.info.name if model is not None else "no model"
            raise ModelError(f"model '{name}' has no LUFS predictor (T_LUFS); use motion curves")
        curves: LoudnessCurve = predict(video_path, progress) if progress is not None else predict(video_path)
        return curves
    if method == "motion":
        from triergon_studio.video.motion import analyse_motion

        result: LoudnessCurve = analyse_motion(video_path, report_to=progress).curve
        return result
    raise ModelError(f"unknown curve method {method!r}")


def _curves_from_method(spec: TakeSpec, model: GenerationModel) -> LoudnessCurve | None:
    if spec.curves is not None or spec.curve_method is None:
        return None
    if spec.video is None:
        raise ModelError(f"curves from {spec.curve_method} need a video")
    return predict_curves(model, spec.video.path, spec.curve_method)


# ---------------------------------------------------------------------------------------- chunk plan


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    n_samples: int
    chunk_frames: int
    overlap_frames: int
    starts: tuple[int, ...]  # latent frame offsets


def _max_frames(model: GenerationModel) -> int:
    info = model.info
    return max(1, -(-round(info.capabilities.max_window_s * info.sample_rate) // model.downsampling_ratio))


def plan_chunks(model: GenerationModel, n_samples: int) -> ChunkPlan:
    stride = model.downsampling_ratio
    total = -(-n_samples // stride)
    max_frames = _max_frames(model)
    min_frames = int(getattr(model, "min_frames", 0) or 0)
    if total <= max_frames:
        return ChunkPlan(n_samples, max(total, min_frames), 0, (0,))
    if not model.info.capabilities.inpaint:
        raise ModelError(
            f"model '{model.info.name}' cannot continue past its "
            f"{model.info.capabilities.max_window_s:g} s window (no inpainting)"
        )
    if max_frames < 4:
        raise ModelError(f"model window of {max_frames} latent frames is too short to generate in chunks")
    # a fixed 4 s, but never more than a quarter of the window (short-window models)
    overlap = max(1, min(int(round(CHUNK_OVERLAP_S * model.info.sample_rate / stride)), max_frames // 4))
    hop = max_frames - overlap
    starts = [0]
    while starts[-1] + max_frames < total:
        starts.append(starts[-1] + hop)
    return ChunkPlan(n_samples, max_frames, overlap, tuple(starts))


def equal_power_crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Blend two equal-length [N, C] segments from ``a`` to ``b`` with cos/sin gains."""
    n = len(a)
    theta = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return (a * np.cos(theta)[:, None] + b * np.sin(theta)[:, None]).astype(np.float32)


def exact_length(audio: np.ndarray, n: int) -> np.ndarray:
    if len(audio) >= n:
        return np.ascontiguousarray(audio[:n], dtype=np.float32)
    return np.concatenate([audio, np.zeros((n - len(audio), audio.shape[1]), np.float32)])


# ---------------------------------------------------------------------------------------- sampling


StepHook = Callable[[Any, int], None]  # (SamplerStep, chunk start frame) -> None; may replace step.x


@dataclass
class _Run:
    """The state one take's sampling shares between its chunks."""

    model: GenerationModel
    settings: Settings
    cond: Any
    plan: ChunkPlan
    total_steps: int
    done: int = 0
    preview_every: int = 0
    label: str = "take"
    step_hook: StepHook | None = None
    guide: Any = None  # curve guidance (issue 13), None when not guiding
    decode_units: int = 1  # progress steps a window's decode counts as (``decode_units``)


def _to_audio(latent: torch.Tensor, model: GenerationModel) -> np.ndarray:
    import torch

    with torch.no_grad():
        audio = model.decode(latent)
    return audio[0].float().T.contiguous().cpu().numpy()


def _decode(
    run: _Run, latent: torch.Tensor, cancel: threading.Event | None, label: str
) -> Generator[Progress, None, np.ndarray]:
    """Decode one window, yielding progress as the decoder advances (``decode_steps``, the same samples as
    ``decode``); the decode fills ``run.decode_units`` steps of the take's progress."""
    import torch

    base, units = run.done, run.decode_units
    yield Progress(base, run.total_steps, f"{label}: decoding", "decoding")
    steps_of = getattr(run.model, "decode_steps", None)
    if steps_of is None:  # a family without stepwise decoding: one jump
        audio = _to_audio(latent, run.model)
    else:
        steps = steps_of(latent)
        shown = 0
        while True:
            if cancel is not None and cancel.is_set():
                steps.close()
                raise CancelledError("generation cancelled")
            with torch.no_grad():
                try:
                    fraction = float(next(steps))
                except StopIteration as stop:
                    out: torch.Tensor = stop.value
                    break
            pct = int(100 * fraction)
            if pct > shown:  # at most one update per percent
                shown = pct
                whole = min(units - 1, int(fraction * units))
                sub = min(1.0, fraction * units - whole)
                if whole + sub >= units:
                    whole, sub = units, 0.0
                yield Progress(
                    base + whole, run.total_steps, f"{label}: decoding {pct}%", "decoding", sub=sub
                )
        audio = out[0].float().T.contiguous().cpu().numpy()
    run.done = base + units
    return audio


def _sample(
    run: _Run,
    cond: Any,
    frames: int,
    generator: torch.Generator,
    cancel: threading.Event | None,
    label: str,
    *,
    inpaint: Any = None,
    init: Any = None,
    chunk_start: int = 0,
) -> Generator[Progress, None, torch.Tensor]:
    from triergon_studio.engine.curve_control.hooks import guide_step

    steps = run.model.sample(cond, frames, run.settings, generator, inpaint=inpaint, init=init)
    while True:
        if cancel is not None and cancel.is_set():
            steps.close()
            raise CancelledError("generation cancelled")
        try:
            st = next(steps)
        except StopIteration as stop:
            latent: torch.Tensor = stop.value
            return latent
        if run.step_hook is not None:
            run.step_hook(st, chunk_start)
        st.x = guide_step(st, run.guide, chunk_start)  # curve control hook (issue 13)
        run.done += 1
        preview = None
        if run.preview_every and (st.step % run.preview_every == 0 or st.step == st.total):
            preview = _to_audio(st.denoised, run.model)
        yield Progress(run.done, run.total_steps, f"{label}: step {st.step}/{st.total}", "sampling", preview)


def _window_init(init_latent: torch.Tensor | None, start: int, frames: int) -> torch.Tensor | None:
    """The shaped init's latent for the window of ``frames`` from ``start``, zero-padded past its end."""
    import torch

    if init_latent is None:
        return None
    init = torch.zeros((1, init_latent.shape[1], frames), device=init_latent.device)
    piece = init_latent[..., start : start + frames]
    init[..., : piece.shape[-1]] = piece
    return init


def _sample_take(
    run: _Run, generator: torch.Generator, cancel: threading.Event | None, init_latent: torch.Tensor | None
) -> Generator[Progress, None, np.ndarray]:
    """One take over the chunk plan; returns [n_samples, 2] float32."""
    import torch

    model, plan = run.model, run.plan
    stride = model.downsampling_ratio
    sr = model.info.sample_rate
    audio = np.zeros((0, 2), np.float32)
    prev: torch.Tensor | None = None
    for c, start in enumerate(plan.starts):
        frames = plan.chunk_frames
        cond = run.cond
        if len(plan.starts) > 1:
            cond = model.window(run.cond, start * stride / sr, frames * stride / sr)
        inpaint = None
        if prev is not None and plan.overlap_frames:
            known = torch.zeros((1, prev.shape[1], frames), device=prev.device)
            mask = torch.ones_like(known)
            known[..., : plan.overlap_frames] = prev[..., -plan.overlap_frames :]
            mask[..., : plan.overlap_frames] = 0
            inpaint = (known, mask)
        init = _window_init(init_latent, start, frames)
        label = run.label + (f", chunk {c + 1}/{len(plan.starts)}" if len(plan.starts) > 1 else "")
        lat = yield from _sample(
            run, cond, frames, generator, cancel, label, inpaint=inpaint, init=init, chunk_start=start
        )
        piece = yield from _decode(run, lat, cancel, label)
        prev = lat
        if c == 0:
            audio = piece
        else:
            ov = plan.overlap_frames * stride
            head = audio[: start * stride]
            mixed = equal_power_crossfade(audio[start * stride : start * stride + ov], piece[:ov])
            audio = np.concatenate([head, mixed, piece[ov:]])
    return exact_length(audio, plan.n_samples)


SEED_STRIDE = 1_000_003  # candidate j of seed s is s + j * stride, far from the variations' s + k


def seed_search_steps(spec: TakeSpec, settings: Settings, model: GenerationModel, inputs: TakeInputs) -> int:
    """Sampler steps the take's seed search (``guide_seeds``) adds before it, for the progress count."""
    from triergon_studio.engine.curve_control.guidance import GuideSettings
    from triergon_studio.engine.curve_control.hooks import guide_knobs

    if spec.region is not None or "guide" not in settings.follow_curves or inputs.curves is None:
        return 0
    gs = GuideSettings.from_extra(guide_knobs(spec, model))
    return gs.seeds * gs.seed_steps if gs.seeds > 1 else 0


def _search_seeds(
    run: _Run, seed: int, init_latent: torch.Tensor | None, cancel: threading.Event | None
) -> Generator[Progress, None, tuple[int, dict[str, Any]]]:
    """Curve guidance's seed search (``guide_seeds``; issue 13): each candidate seed is sampled unguided for
    ``guide_seed_steps`` steps over the first window and measured (decoded, or read off the model's loudness
    track when it has one and ``guide_track`` allows), and the take is sampled from the one whose curves lie
    closest to the target (mean |error| in LU over frames whose target is audible). A guided take
    moves less from a seed that already follows the curve. The take keeps its own seed: the same seed and
    knobs pick the same candidate."""
    import dataclasses

    import torch

    from triergon_studio.audio.conform import AUDIBLE_LUFS
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.core.take_spec import MAX_SEED
    from triergon_studio.engine.curve_control.loudness_torch import track_curves

    gs, target = run.guide.settings, run.guide.curves
    model, plan = run.model, run.plan
    stride, sr = model.downsampling_ratio, model.info.sample_rate
    frames = plan.chunk_frames
    cond = run.cond if len(plan.starts) == 1 else model.window(run.cond, 0.0, frames * stride / sr)
    init = _window_init(init_latent, 0, frames)
    seeds = [(seed + j * SEED_STRIDE) % (MAX_SEED + 1) for j in range(gs.seeds)]
    errors: list[float] = []
    for j, s in enumerate(seeds):
        st = dataclasses.replace(run.settings, steps=gs.seed_steps, seed=s, follow_curves="off")
        probe = dataclasses.replace(
            run,
            settings=st,
            guide=None,
            step_hook=None,
            preview_every=0,
            label=f"{run.label}: seed {j + 1}/{len(seeds)}",
        )
        gen = torch.Generator(model.device).manual_seed(s)
        latent = yield from _sample(probe, cond, frames, gen, cancel, probe.label, init=init)
        run.done = probe.done
        n = min(plan.n_samples, frames * stride)
        track = getattr(model, "loudness_track", None) if gs.track else None
        if track is not None:  # the candidate's curves without decoding it (as guidance's passes read them)
            with torch.no_grad():
                power, hop = track(latent)
            measured = track_curves(power[0], hop, n, sr).cpu().numpy()
        else:
            measured = np.asarray(channel_curves(_to_audio(latent, model)[:n], sr))
        f = min(measured.shape[1], target.shape[1])
        audible = target[:, :f] > AUDIBLE_LUFS
        err = np.abs(measured[:, :f] - target[:, :f])[audible]
        errors.append(float(err.mean()) if err.size else 0.0)
    best = int(np.argmin(errors))
    return seeds[best], {"seeds": seeds, "errors_lu": [round(e, 3) for e in errors], "picked": seeds[best]}


def _encode(model: GenerationModel, audio: np.ndarray) -> torch.Tensor:
    import torch

    wave = torch.from_numpy(np.ascontiguousarray(audio.T, dtype=np.float32))[None].to(model.device)
    with torch.no_grad():
        return model.encode(wave).float()


def _region_take(
    spec: TakeSpec,
    model: GenerationModel,
    settings: Settings,
    inputs: TakeInputs,
    cancel: threading.Event | None,
    preview_every: int,
    step_hook: StepHook | None,
) -> Generator[Progress, None, tuple[np.ndarray, dict[str, Any]]]:
    """Regenerate a region of an existing take by latent inpainting inside a window around the region only
    (the region plus ``REGION_CONTEXT_S`` each side, within the model's window); outside the region the take is
    returned sample for sample, inside it fades (equal power) from the old audio to the new and back."""
    import torch

    from triergon_studio.audio.io import read_audio

    region = spec.region
    assert region is not None
    if not model.info.capabilities.inpaint:
        raise ModelError(f"model '{model.info.name}' cannot regenerate a region (no inpainting)")
    sr, stride = model.info.sample_rate, model.downsampling_ratio
    take, _ = read_audio(region.take_path, sample_rate=sr)
    take = np.asarray(take, dtype=np.float32)
    if take.ndim != 2 or take.shape[1] != 2:
        raise ModelError(f"the take must be stereo, got shape {take.shape}", region.take_path)
    n = len(take)
    a = int(round((region.start_s - region.take_start_s) * sr))
    b = int(round((region.end_s - region.take_start_s) * sr))
    if not 0 <= a < b <= n:
        raise ModelError(
            f"region {region.start_s:.3f}-{region.end_s:.3f} s is outside the take", region.take_path
        )
    total_frames = -(-n // stride)
    fa, fb = a // stride, -(-b // stride)
    ctx = int(round(REGION_CONTEXT_S * sr / stride))
    win = min(_max_frames(model), total_frames, fb - fa + 2 * ctx)
    if fb - fa > win:
        raise ModelError(
            f"the region is longer than the model's {model.info.capabilities.max_window_s:g} s window"
        )
    w0 = max(0, min(fa - (win - (fb - fa)) // 2, total_frames - win))
    seg = np.zeros((win * stride, 2), np.float32)
    piece = take[w0 * stride : (w0 + win) * stride]
    seg[: len(piece)] = piece
    cond = model.condition(inputs, settings)
    cond = model.window(cond, w0 * stride / sr, win * stride / sr)
    known = _encode(model, seg)
    mask = torch.zeros_like(known)
    mask[..., max(0, fa - w0 - 1) : min(win, fb - w0 + 1)] = 1.0  # one frame of context each side
    run = _Run(
        model,
        settings,
        cond,
        ChunkPlan(win * stride, win, 0, (0,)),
        settings.steps + decode_units(settings.steps),
        preview_every=preview_every,
        label="region",
        step_hook=step_hook,
        decode_units=decode_units(settings.steps),
    )
    gen = torch.Generator(model.device).manual_seed(settings.seed)
    lat = yield from _sample(run, cond, win, gen, cancel, "region", inpaint=(known, mask), chunk_start=w0)
    new = yield from _decode(run, lat, cancel, "region")
    out = take.copy()
    part = new[a - w0 * stride : b - w0 * stride]
    xf = min(int(round(REGION_CROSSFADE_S * sr)), (b - a) // 2)
    if xf:
        part[:xf] = equal_power_crossfade(take[a : a + xf], part[:xf])
        part[-xf:] = equal_power_crossfade(part[-xf:], take[b - xf : b])
    out[a:b] = part
    meta = {
        "region": [region.start_s, region.end_s],
        "window_s": [w0 * stride / sr, (w0 + win) * stride / sr],
        "crossfade_s": xf / sr,
        "source_take": region.take_path,
    }
    return out, meta


# ---------------------------------------------------------------------------------------- the use case


def take_record(
    spec: TakeSpec,
    settings: Settings,
    info: ModelInfo,
    meta: dict[str, Any],
    curves: LoudnessCurve | None,
    conformed: bool,
) -> dict[str, Any]:
    """What made a take, in the project's own Prompts/GenerationSettings form (read back by ``add-take`` and
    turned into a ``core.Take`` by the app)."""
    from triergon_studio.core.model import GenerationSettings, Prompts, ReferenceClip

    def clip(c: Any) -> ReferenceClip | None:
        return ReferenceClip(str(Path(c.path).resolve()), c.in_s, c.out_s) if c is not None else None

    ref = clip(spec.reference)
    prompts = Prompts(
        text=spec.text,
        references=(ref,) if ref else (),
        use_video=spec.use_video,
        negative_text=spec.negative_text,
        init_audio=clip(spec.init_audio),
    )
    gs = GenerationSettings(
        model=spec.model or info.name,
        steps=settings.steps,
        cfg=settings.cfg,
        sampler=settings.sampler,
        seed=settings.seed,
        seed_locked=spec.seed is not None,
        variations=spec.variations,
        conform=conformed,
        span=(spec.span.start_s, spec.span.end_s),
        guidance=settings.guidance,
        init_noise=settings.init_noise
        if spec.init_audio is not None or "shape" in settings.follow_curves
        else None,
        follow_curves=settings.follow_curves,
    )
    plain = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool | list | None)}
    return {
        "prompts": prompts.to_json(),
        "settings": gs.to_json(),
        "curves": curves.to_json() if curves is not None else None,
        "metadata": plain,
    }


def _conform(audio: np.ndarray, sr: int, inputs: TakeInputs) -> tuple[np.ndarray, float]:
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.core.curves import LoudnessCurve

    assert inputs.curves is not None
    part = LoudnessCurve(inputs.curves[0], inputs.curves[1], len(audio) / sr, CURVE_RATE_HZ)
    res = conform_to_curve(audio, sr, part)
    return np.asarray(res.audio, dtype=np.float32), float(res.mae_lu)


def check_outputs(outputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse before any work: a missing folder, or an existing file (or sidecar) without ``overwrite``."""
    from triergon_studio.core.take_sidecar import sidecar_path
    from triergon_studio.errors import ExportError

    for p in outputs:
        if not Path(p).parent.is_dir():
            raise ExportError("output folder does not exist", Path(p).parent)
        for q in (Path(p), sidecar_path(p)):
            if q.exists() and not overwrite:
                raise ExportError("output already exists (use --force to replace it)", q)


@dataclass(slots=True)
class GeneratedTake:
    """One take in memory, before it is written (what a cluster worker sends back to the client)."""

    audio: np.ndarray  # [n_samples, 2] float32
    sample_rate: int
    seed: int
    settings: Settings
    record: dict[str, Any]  # the sidecar: prompts, settings, curves, metadata


def generate_takes(
    spec: TakeSpec,
    model: GenerationModel,
    *,
    cancel: threading.Event | None = None,
    preview_every: int = 0,
    step_hook: StepHook | None = None,
    embeddings: dict[str, Any] | None = None,
) -> Generator[Progress, None, list[GeneratedTake]]:
    """Generate ``spec.variations`` takes (seeds seed, seed+1, ...) in memory, yielding ``Progress`` after every
    sampler step (counted over all takes). ``embeddings`` (Python API) are precomputed prompt embeddings by kind
    ("text", "audio", "video", "negative_text") used instead of encoding the spec's prompts."""
    import torch

    from triergon_studio.engine.curve_control.hooks import check_follow, make_guide, shape_init

    info = model.info
    sr = info.sample_rate
    settings = resolve_settings(spec, info)
    n_samples = spec.n_samples(sr)
    plan = plan_chunks(model, n_samples) if spec.region is None else ChunkPlan(n_samples, 0, 0, (0,))
    inputs = read_inputs(spec, model, n_samples)  # unreadable files are refused before any work
    yield Progress(0, 1, "Preparing the prompts", "preparing")
    curves = spec.curves
    if curves is None and spec.curve_method is not None:
        curves = _curves_from_method(spec, model)
        assert curves is not None
        inputs.curves = curves_for_span(curves, spec)
        inputs.curves_source = str(getattr(getattr(curves, "source", None), "value", spec.curve_method))
    inputs.embeddings = dict(embeddings or {})
    if spec.conform and inputs.curves is None:
        raise ModelError("conform needs curves (draw, measure or predict them)")
    model.check(inputs, settings)
    # ---- curve control (issue 13): refuse what cannot work, then the shaped init before sampling
    check_follow(spec, settings, model, inputs)
    inputs.init_audio = shape_init(inputs, settings, sr)
    # ----
    cond = model.condition(inputs, settings) if spec.region is None else None
    init_latent = _encode(model, inputs.init_audio) if inputs.init_audio is not None else None
    takes: list[GeneratedTake] = []
    units = decode_units(settings.steps)  # each window's decode counts as this many steps
    search = seed_search_steps(spec, settings, model, inputs)
    total = ((settings.steps + units) * len(plan.starts) + search) * spec.variations
    done = 0
    for k in range(spec.variations):
        t0 = time.perf_counter()
        seed = settings.seed + k
        st = Settings(
            settings.steps,
            settings.cfg,
            settings.sampler,
            settings.guidance,
            seed,
            settings.init_noise,
            settings.follow_curves,
        )
        label = f"take {k + 1}/{spec.variations}" if spec.variations > 1 else "take"
        extra: dict[str, Any] = {}
        if spec.region is not None:
            audio, extra = yield from _offset(
                _region_take(spec, model, st, inputs, cancel, preview_every, step_hook), done, total
            )
            done += settings.steps + units
        else:
            run = _Run(
                model, st, cond, plan, total, done, preview_every, label, step_hook, decode_units=units
            )
            run.guide = make_guide(spec, st, model, inputs, plan.chunk_frames)  # curve control (issue 13)
            picked, found = seed, None
            if search:
                picked, found = yield from _search_seeds(run, seed, init_latent, cancel)
            gen = torch.Generator(model.device).manual_seed(picked)
            audio = yield from _sample_take(run, gen, cancel, init_latent)
            done = run.done
            extra = {"chunks": len(plan.starts)}
            if found is not None:  # flat keys: the sidecar keeps plain values only
                extra.update({f"seed_search_{k}": v for k, v in found.items()})
            if run.guide is not None:
                extra.update(run.guide.summary())
        if spec.conform:
            yield Progress(done, total, f"Conforming {label} to the curves", "writing")
            audio, extra["conform_mae_lu"] = _conform(audio, sr, inputs)
        meta = {
            "family": info.family,
            "model": info.name,
            "seed": seed,
            "variation": k,
            "steps": st.steps,
            "cfg_scale": st.cfg,
            "sampler": st.sampler,
            "guidance": st.guidance,
            "duration_s": len(audio) / sr,
            "n_samples": len(audio),
            "sample_rate": sr,
            "start_s": spec.span.start_s,
            "task_id": _task_id(model, cond),
            "video": spec.video.path if spec.video else None,
            "curves": inputs.curves_source,
            "device": str(model.device),
            "elapsed_s": round(time.perf_counter() - t0, 3),
            **extra,
        }
        takes.append(
            GeneratedTake(audio, sr, seed, st, take_record(spec, st, info, meta, curves, spec.conform))
        )
    return takes


def write_takes(
    takes: Sequence[GeneratedTake],
    outputs: Sequence[str | Path],
    spec: TakeSpec,
    *,
    bits: str = "32f",
    overwrite: bool = False,
) -> list[TakeRecord]:
    """Write each take's WAV and its ``NAME.take.json``, each atomically."""
    from triergon_studio.audio.io import write_wav
    from triergon_studio.core.take_sidecar import write_sidecar

    records = []
    for take, out in zip(takes, outputs, strict=True):
        path = Path(out)
        write_wav(path, take.audio, take.sample_rate, bits=bits, overwrite=overwrite)
        write_sidecar(path, take.record)
        records.append(
            TakeRecord(
                path,
                take.seed,
                spec.span.start_s,
                len(take.audio),
                take.sample_rate,
                take.settings,
                take.record,
            )
        )
    return records


def make_takes(
    spec: TakeSpec,
    model: GenerationModel,
    outputs: Sequence[str | Path],
    *,
    cancel: threading.Event | None = None,
    bits: str = "32f",
    overwrite: bool = False,
    preview_every: int = 0,
    step_hook: StepHook | None = None,
) -> Generator[Progress, None, list[TakeRecord]]:
    """Generate ``spec.variations`` takes and write each to ``outputs[k]`` with its sidecar; the outputs are
    checked before any work."""
    outs = [Path(p) for p in outputs]
    if len(outs) != spec.variations:
        raise ModelError(f"{spec.variations} variation(s) need as many output paths, got {len(outs)}")
    check_outputs(outs, overwrite)
    takes = yield from generate_takes(
        spec, model, cancel=cancel, preview_every=preview_every, step_hook=step_hook
    )
    yield Progress(1, 1, "Writing", "writing")
    return write_takes(takes, outs, spec, bits=bits, overwrite=overwrite)


def _offset(gen: Generator[Progress, None, Any], base: int, total: int) -> Generator[Progress, None, Any]:
    """Re-count a sub-generator's progress as part of a larger job."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(base + p.step, total, p.message, p.stage, p.preview, p.sub)


def _task_id(model: GenerationModel, cond: Any) -> int | None:
    fn = getattr(model, "task_id", None)
    return int(fn(cond)) if fn is not None and cond is not None else None


def run_to_end(
    gen: Generator[Progress, None, Any], on_progress: Callable[[Progress], None] | None = None
) -> Any:
    """Drive a use-case generator to completion (CLI, tests); returns its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def load_model(
    name_or_dir: str | None = None,
    device: Any = "cpu",
    dtype: Any = None,
    *,
    progress: ProgressFn | None = None,
    **options: Any,
) -> GenerationModel:
    """Any family's model by name or folder (the bundled model by default); ``progress(message, fraction)``
    follows the loading stages."""
    from triergon_studio.engine.families.registry import load
    from triergon_studio.engine.weights import DEFAULT_MODEL

    return load(name_or_dir or DEFAULT_MODEL, device, dtype, progress=progress, **options)


__all__ = [
    "ChunkPlan",
    "GeneratedTake",
    "Progress",
    "TakeRecord",
    "TakeSpec",
    "equal_power_crossfade",
    "exact_length",
    "generate_takes",
    "load_model",
    "make_takes",
    "decode_units",
    "predict_curves",
    "plan_chunks",
    "read_inputs",
    "resolve_settings",
    "run_to_end",
    "take_record",
    "write_takes",
]
