"""Generation as a generator (DESIGN seam 3): request -> progress ... -> takes.

Numbered steps of ``generate``:
1. the exact output length (picture length of the video span in samples, or the requested duration);
2. the prompts present -> embeddings and the task id; the curves -> the normalised 6 Hz LUFS condition;
3. the latent length from the duration (over the model's 60 s: overlapping chunks, each with
   ``seconds_start`` = its offset and ``seconds_total`` = the whole duration, later chunks inpainted over the
   overlap so they continue the previous one);
4. sampling with CFG (both halves in one batch), cancellation checked between steps;
5. decoding, an equal-power crossfade between chunks, and trimming to exactly the output length.

The sampler runs in a worker thread so this generator can yield a ``Progress`` after every step; closing the
generator cancels the worker.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from triergon_studio.engine.pipeline_inputs import (
    CURVE_RATE_HZ,
    SAMPLE_RATE,
    GenerationRequest,
    build_conditions,
    normalized_curves,
    output_samples,
)
from triergon_studio.errors import CancelledError, ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.engine.models.triergon import Conditions, TriErgon

CHUNK_OVERLAP_S = 4.0


@dataclass
class Progress:
    step: int
    total: int
    preview: np.ndarray | None = None
    message: str = ""


@dataclass
class GeneratedAudio:
    audio: np.ndarray  # [N, 2] float32
    sample_rate: int = SAMPLE_RATE
    metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ sampling


def _slice_conditions(cond: Conditions, start_s: float, length_s: float) -> Conditions:
    from dataclasses import replace

    import torch

    lufs = cond.lufs
    if lufs is not None:
        a = int(round(start_s * CURVE_RATE_HZ))
        b = a + int(math.ceil(length_s * CURVE_RATE_HZ))
        lufs = lufs[..., a:b]
        if lufs.shape[-1] == 0:
            lufs = torch.zeros(*cond.lufs.shape[:-1], 1, device=cond.lufs.device)
    start = torch.full_like(cond.seconds_total, float(start_s))
    return replace(cond, lufs=lufs, seconds_start=start)


def _sample_latent(
    model: TriErgon, cond: Conditions, n_frames: int, *, steps: int, cfg_scale: float, sampler: str,
    generator: torch.Generator, cancel: Callable[[], bool], callback: Callable[[int, int, Any], None],
    inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    import torch

    from triergon_studio.engine.sampling import cfg_denoiser, get_sampler, polyexponential_sigmas

    s = model.cfg.sampling
    dev = next(model.parameters()).device
    with torch.inference_mode():
        ct = model.condition(cond)
        denoiser = cfg_denoiser(model.denoise_v, model.model_kwargs(ct), model.model_kwargs(ct.unconditional()),
                                cfg_scale)
        sigmas = polyexponential_sigmas(steps, s.sigma_min, s.sigma_max, 1.0).to(dev)
        shape = (1, model.cfg.vae.latent_dim, n_frames)
        x = torch.randn(shape, generator=generator, device=dev, dtype=torch.float32) * sigmas[0]
        return get_sampler(sampler)(denoiser, x, sigmas, generator=generator, callback=callback, cancel=cancel,
                                    inpaint=inpaint)


def _decode(model: TriErgon, latents: torch.Tensor, n_samples: int | None = None) -> np.ndarray:
    import torch

    with torch.inference_mode():
        vae_dtype = next(model.vae.parameters()).dtype
        audio = model.vae.decode(latents.to(vae_dtype), n_samples)
    return audio[0].float().T.contiguous().cpu().numpy()


def equal_power_crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Blend two equal-length [N, C] segments from ``a`` to ``b`` with cos/sin gains."""
    n = len(a)
    theta = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return (a * np.cos(theta)[:, None] + b * np.sin(theta)[:, None]).astype(np.float32)


@dataclass
class _Plan:
    n_samples: int
    chunk_frames: int
    overlap_frames: int
    starts: list[int]  # latent frame offsets


def _max_frames(model: TriErgon) -> int:
    cfg = model.cfg
    return cfg.sample_size_frames or math.ceil(round(cfg.max_duration_s * cfg.sample_rate) / cfg.vae.downsampling_ratio)


def plan_chunks(model: TriErgon, n_samples: int) -> _Plan:
    cfg = model.cfg
    stride = cfg.vae.downsampling_ratio
    total_frames = -(-n_samples // stride)
    max_frames = _max_frames(model)
    if total_frames <= max_frames:
        frames = max(total_frames, cfg.sample_size_frames or 0)
        return _Plan(n_samples, frames, 0, [0])
    if max_frames < 4:
        raise ModelError(f"model window of {max_frames} latent frames is too short to generate in chunks")
    # a fixed 4 s, but never more than a quarter of the window (short-window models)
    overlap = max(1, min(int(round(CHUNK_OVERLAP_S * cfg.latent_rate_hz)), max_frames // 4))
    hop = max_frames - overlap
    starts = [0]
    while starts[-1] + max_frames < total_frames:
        starts.append(starts[-1] + hop)
    return _Plan(n_samples, max_frames, overlap, starts)


def _worker(fn: Callable[[Callable[[Progress], None], Callable[[], bool]], Any],
            cancel: threading.Event | None) -> Generator[Progress, None, Any]:
    """Run ``fn(report, is_cancelled)`` in a thread, yielding its progress reports. The worker waits after
    each report until the consumer asks for the next one, so a cancel set while handling a report is seen
    before the next step starts."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    resume = threading.Semaphore(0)
    result: dict[str, Any] = {}

    def cancelled() -> bool:
        return stop.is_set() or (cancel is not None and cancel.is_set())

    def report(p: Progress) -> None:
        q.put(("progress", p))
        resume.acquire()

    def target() -> None:
        try:
            result["value"] = fn(report, cancelled)
        except BaseException as exc:  # handed to the consumer below
            result["error"] = exc
        finally:
            q.put(("done", None))

    thread = threading.Thread(target=target, name="triergon-generate", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "done":
                break
            yield item
            resume.release()
    finally:
        if thread.is_alive():
            stop.set()
            resume.release()
            thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _settings(request: GenerationRequest, model: TriErgon) -> dict[str, Any]:
    s = model.cfg.sampling
    steps = int(request.steps if request.steps is not None else s.steps)
    if steps < 1:
        raise ModelError(f"steps must be at least 1, got {steps}")
    if request.variations < 1:
        raise ModelError(f"variations must be at least 1, got {request.variations}")
    cfg_scale = float(request.cfg if request.cfg is not None else s.cfg_scale)
    if not math.isfinite(cfg_scale):  # NaN guidance turns every sample into NaN
        raise ModelError(f"cfg must be a finite number, got {cfg_scale}")
    seed = int(request.seed) if request.seed is not None else int(time.time_ns() % (2**31))
    return {"steps": steps, "cfg_scale": cfg_scale,
            "sampler": request.sampler or s.sampler, "seed": seed}


def _resolve_model(request: GenerationRequest, model: TriErgon | None) -> TriErgon:
    if model is not None:
        return model
    from triergon_studio.engine.weights import load_model

    return load_model(request.model or "compact")


def generate(
    request: GenerationRequest, model: TriErgon | None = None, cancel: threading.Event | None = None
) -> Generator[Progress, None, GeneratedAudio]:
    """One take (``request.variations`` must be 1): yield ``Progress`` after every step, return the take."""
    if request.variations != 1:
        raise ModelError(f"generate() makes one take; use generate_takes() for {request.variations} variations")
    takes = yield from generate_takes(request, model, cancel)
    return takes[0]


def generate_takes(
    request: GenerationRequest, model: TriErgon | None = None, cancel: threading.Event | None = None
) -> Generator[Progress, None, list[GeneratedAudio]]:
    """``request.variations`` takes with seeds seed, seed+1, ...: yield ``Progress`` after every sampler step
    (counted over all takes), return the takes."""
    import torch

    from triergon_studio.engine.device import oom_guard

    model = _resolve_model(request, model)
    n_samples = output_samples(request, model.sample_rate)
    duration = n_samples / model.sample_rate
    st = _settings(request, model)
    plan = plan_chunks(model, n_samples)
    from triergon_studio.engine.device import check_memory
    from triergon_studio.engine.models.triergon import task_id

    dev = next(model.parameters()).device
    check_memory(model.cfg, 0, dev, next(model.parameters()).dtype,
                 plan.chunk_frames * model.cfg.vae.downsampling_ratio / model.sample_rate)
    cond, info = build_conditions(request, model, duration)

    tid = int(task_id(cond)[0])
    stride = model.cfg.vae.downsampling_ratio
    total = st["steps"] * len(plan.starts) * request.variations

    def run(report: Callable[[Progress], None], cancelled: Callable[[], bool]) -> list[GeneratedAudio]:
        takes = []
        done = 0
        for k in range(request.variations):
            t0 = time.perf_counter()
            gen = torch.Generator(dev).manual_seed(st["seed"] + k)
            audio = np.zeros((0, 2), np.float32)
            prev: torch.Tensor | None = None
            for c, start in enumerate(plan.starts):
                offset_s = start * stride / model.sample_rate
                frames = plan.chunk_frames
                ccond = _slice_conditions(cond, offset_s, frames * stride / model.sample_rate) \
                    if len(plan.starts) > 1 else cond
                inpaint = None
                if prev is not None and plan.overlap_frames:
                    known = torch.zeros((1, prev.shape[1], frames), device=dev)
                    mask = torch.ones_like(known)
                    known[..., :plan.overlap_frames] = prev[..., -plan.overlap_frames:]
                    mask[..., :plan.overlap_frames] = 0
                    inpaint = (known, mask)
                label = f"take {k + 1}/{request.variations}" + (
                    f", chunk {c + 1}/{len(plan.starts)}" if len(plan.starts) > 1 else "")

                def callback(i: int, n: int, denoised: torch.Tensor, _base: int = done, _label: str = label) -> None:
                    preview = None
                    if request.preview_every and (i % request.preview_every == 0 or i == n):
                        preview = _decode(model, denoised)
                    report(Progress(_base + i, total, preview, f"{_label}: step {i}/{n}"))

                with oom_guard(f"generating {duration:.1f} s with {model.cfg.name}"):
                    lat = _sample_latent(model, ccond, frames, steps=st["steps"], cfg_scale=st["cfg_scale"],
                                         sampler=st["sampler"], generator=gen, cancel=cancelled,
                                         callback=callback, inpaint=inpaint)
                    piece = _decode(model, lat)
                done += st["steps"]
                prev = lat
                if c == 0:
                    audio = piece
                else:
                    ov = plan.overlap_frames * stride
                    head = audio[: start * stride]
                    mixed = equal_power_crossfade(audio[start * stride: start * stride + ov], piece[:ov])
                    audio = np.concatenate([head, mixed, piece[ov:]])
            audio = _exact_length(audio, n_samples)
            meta = {
                "model": model.cfg.name, "preset": model.cfg.preset, "seed": st["seed"] + k, "variation": k,
                "steps": st["steps"], "cfg_scale": st["cfg_scale"], "sampler": st["sampler"],
                "duration_s": duration, "n_samples": n_samples, "sample_rate": model.sample_rate,
                "task_id": tid, "video": request.video_path, "span": list(request.video_span() or []) or None,
                "use_video": request.use_video, "chunks": len(plan.starts), "device": str(dev),
                "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
                "elapsed_s": round(time.perf_counter() - t0, 3), **info,
            }
            takes.append(GeneratedAudio(audio, model.sample_rate, meta))
        return takes

    return (yield from _worker(run, cancel))


def _exact_length(audio: np.ndarray, n: int) -> np.ndarray:
    if len(audio) >= n:
        return np.ascontiguousarray(audio[:n], dtype=np.float32)
    return np.concatenate([audio, np.zeros((n - len(audio), audio.shape[1]), np.float32)])


def regenerate_region(
    take_audio: np.ndarray, start_s: float, end_s: float, request: GenerationRequest,
    model: TriErgon | None = None, cancel: threading.Event | None = None, crossfade_s: float = 0.05,
) -> Generator[Progress, None, GeneratedAudio]:
    """Regenerate [start_s, end_s) of a take by latent inpainting; outside the region the audio is returned
    unchanged, inside it fades (equal power, ``crossfade_s``) from the old audio to the new and back."""
    import torch

    from triergon_studio.engine.device import oom_guard
    from triergon_studio.engine.models.triergon import task_id

    model = _resolve_model(request, model)
    sr, stride = model.sample_rate, model.cfg.vae.downsampling_ratio
    take = np.asarray(take_audio, dtype=np.float32)
    if take.ndim != 2 or take.shape[1] != 2:
        raise ModelError(f"the take must be stereo [N, 2], got shape {take.shape}")
    n = len(take)
    a, b = int(round(start_s * sr)), int(round(end_s * sr))
    if not 0 <= a < b <= n:
        raise ModelError(f"region {start_s:.3f}-{end_s:.3f} s is outside the take (0-{n / sr:.3f} s)")
    duration = n / sr
    # A window of at most the model's maximum length, centred on the region, aligned to latent frames.
    max_frames = _max_frames(model)
    total_frames = -(-n // stride)
    win = min(max_frames, total_frames)
    fa, fb = a // stride, -(-b // stride)
    if fb - fa > win:
        raise ModelError(f"region is longer than the model's {win * stride / sr:.0f} s window")
    w0 = max(0, min(fa - (win - (fb - fa)) // 2, total_frames - win))
    st = _settings(request, model)
    cond, info = build_conditions(request, model, duration)
    cond = _slice_conditions(cond, w0 * stride / sr, win * stride / sr)
    tid = int(task_id(cond)[0])
    dev = next(model.parameters()).device
    seg = np.zeros((win * stride, 2), np.float32)
    piece = take[w0 * stride: (w0 + win) * stride]
    seg[: len(piece)] = piece

    def run(report: Callable[[Progress], None], cancelled: Callable[[], bool]) -> GeneratedAudio:
        t0 = time.perf_counter()
        with oom_guard(f"regenerating a region with {model.cfg.name}"), torch.inference_mode():
            wave = torch.from_numpy(np.ascontiguousarray(seg.T))[None].to(dev, next(model.vae.parameters()).dtype)
            known = model.vae.encode(wave).float()
            mask = torch.zeros_like(known)
            mask[..., max(0, fa - w0 - 1): min(win, fb - w0 + 1)] = 1.0  # one frame of context each side

            def callback(i: int, total: int, denoised: torch.Tensor) -> None:
                preview = _decode(model, denoised) if request.preview_every and i % request.preview_every == 0 \
                    else None
                report(Progress(i, total, preview, f"region: step {i}/{total}"))

            gen = torch.Generator(dev).manual_seed(st["seed"])
            lat = _sample_latent(model, cond, win, steps=st["steps"], cfg_scale=st["cfg_scale"],
                                 sampler=st["sampler"], generator=gen, cancel=cancelled, callback=callback,
                                 inpaint=(known, mask))
            new = _decode(model, lat)
        out = take.copy()
        region = new[a - w0 * stride: b - w0 * stride]
        xf = min(int(round(crossfade_s * sr)), (b - a) // 2)
        if xf:
            region[:xf] = equal_power_crossfade(take[a:a + xf], region[:xf])
            region[-xf:] = equal_power_crossfade(region[-xf:], take[b - xf:b])
        out[a:b] = region
        meta = {"model": model.cfg.name, "seed": st["seed"], "steps": st["steps"], "cfg_scale": st["cfg_scale"],
                "sampler": st["sampler"], "region": [a / sr, b / sr], "crossfade_s": xf / sr, "task_id": tid,
                "n_samples": n, "sample_rate": sr, "elapsed_s": round(time.perf_counter() - t0, 3), **info}
        return GeneratedAudio(out, sr, meta)

    return (yield from _worker(run, cancel))


def load_model(name_or_dir: str, device: str | Any = "cpu", dtype: Any = None) -> TriErgon:
    """A bundled model name, a model folder, a Stable Audio Open folder or ``<preset>-random``."""
    from triergon_studio.engine.weights import load_model as _load

    return _load(name_or_dir, device, dtype)


def predict_curves(video_path: str, model: TriErgon | None = None, cancel: threading.Event | None = None,
                   model_name: str | None = None) -> Any:
    """The L/R loudness curves of a whole video predicted by the model's T_LUFS (a ``LoudnessCurve``)."""
    from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

    model = model if model is not None else load_model(model_name or "compact")
    if model.lufs_predictor is None:
        raise ModelError(f"model '{model.cfg.name}' has no LUFS predictor")
    if cancel is not None and cancel.is_set():
        raise CancelledError("curve prediction cancelled")
    return predict_curves_for_video(video_path, model.lufs_predictor)


def run_to_end(gen: Generator[Progress, None, Any], on_progress: Callable[[Progress], None] | None = None) -> Any:
    """Drive a generation generator to completion (CLI, tests); returns its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


__all__ = ["CancelledError", "GeneratedAudio", "GenerationRequest", "Progress", "build_conditions",
           "equal_power_crossfade", "generate", "generate_takes", "load_model", "normalized_curves",
           "output_samples", "plan_chunks", "predict_curves", "regenerate_region", "run_to_end"]
