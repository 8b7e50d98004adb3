"""Pipeline inputs: the generation request, the exact output length, and prompts/curves -> ``Conditions``.

Split from ``pipeline.py`` (which re-exports these names) to keep each file readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.engine.models.triergon import Conditions, TriErgon

SAMPLE_RATE = 44100
CURVE_RATE_HZ = 6.0
LUFS_FLOOR = -70.0


# slots: a misspelt field (req.ref_audio = ...) raises instead of being silently ignored.
@dataclass(slots=True)
class GenerationRequest:
    """What to generate. With a video, ``start_s`` + ``duration_s`` (or ``span``) select the picture span;
    curves given as a ``LoudnessCurve`` or array are in video time then (sliced from the span start)."""

    duration_s: float | None = None
    video_path: str | None = None
    start_s: float = 0.0
    span: tuple[float, float] | None = None  # (start_s, end_s) inside the video, instead of start/duration
    frame_count: int | None = None  # picture length of the whole video, for a sample-exact output
    fps: Any = None
    use_video: bool = True
    video_frames: np.ndarray | None = None  # [F, H, W, 3] uint8 at 6 fps, instead of reading video_path
    text: str | None = None
    reference_audio: np.ndarray | None = None  # [N, C] float32
    reference_sr: int | None = None
    reference_path: str | None = None
    reference_in_s: float | None = None
    reference_out_s: float | None = None
    curves: Any = None  # LoudnessCurve, or a [2, F] array of LUFS at 6 Hz
    predict_curves: bool = False
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None
    sampler: str | None = None
    variations: int = 1
    model: str | None = None
    preview_every: int = 0
    # Precomputed prompt embeddings {"text" | "audio" | "video": [M, d]} (e.g. T5 tokens for sao-1.0).
    prompt_embeddings: dict[str, Any] | None = None

    def video_span(self) -> tuple[float, float] | None:
        """The picture span in video seconds, or None (whole video / no video)."""
        if self.span is not None:
            return (float(self.span[0]), float(self.span[1]))
        if self.video_path is not None and self.duration_s is not None:
            return (float(self.start_s), float(self.start_s) + float(self.duration_s))
        return None


def output_samples(request: GenerationRequest, sr: int = SAMPLE_RATE) -> int:
    """Exact output length in samples: the picture length of the video or span, or round(duration * sr)."""
    from triergon_studio.core.timecode import picture_length_samples, picture_samples

    if request.span is not None:
        start, end = request.span
        if not (math.isfinite(start) and math.isfinite(end) and end > start >= 0):
            raise ModelError(f"bad span {request.span}: need finite 0 <= start < end")
        return int(round((end - start) * sr))
    if request.duration_s is not None:
        if not (math.isfinite(request.duration_s) and request.duration_s > 0):
            raise ModelError(f"duration must be a positive number of seconds, got {request.duration_s}")
        if request.frame_count and request.fps and request.start_s == 0 and \
                abs(request.duration_s - request.frame_count / float(request.fps)) < 1e-6:
            return int(picture_samples(request.frame_count, request.fps, sr))  # the whole picture, exactly
        return int(round(request.duration_s * sr))
    if request.video_path is None:
        raise ModelError("a generation needs a duration or a video")
    info = _probe(request.video_path)
    frames = int(getattr(info, "frame_count", 0) or 0)
    if frames > 0:  # picture length to the sample, by the one rule export and the project use (VFR too)
        return int(picture_length_samples(frames, info.fps, sr, is_vfr=bool(getattr(info, "is_vfr", False)),
                                          duration_s=float(info.duration_s)))
    return int(round(float(info.duration_s) * sr))


def _probe(path: str) -> Any:
    try:
        from triergon_studio.video.probe import probe
    except ImportError as exc:
        raise ModelError("video support is not installed in this build (triergon_studio.video.probe)", path) from exc
    return probe(path)


def normalized_curves(curves: Any) -> np.ndarray:
    """LoudnessCurve or a [2, F] LUFS array -> [2, F] float32 in [0, 1] ((L + 70) / 70, clipped)."""
    if hasattr(curves, "to_normalized"):
        arr = np.asarray(curves.to_normalized(), dtype=np.float64)
        rate = float(getattr(curves, "rate_hz", CURVE_RATE_HZ))
        if abs(rate - CURVE_RATE_HZ) > 1e-9:
            arr = np.asarray(curves.resample(CURVE_RATE_HZ), dtype=np.float64)
            arr = np.clip((arr - LUFS_FLOOR) / -LUFS_FLOOR, 0.0, 1.0)
        return arr.astype(np.float32)
    arr = np.asarray(curves, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] == 0:
        raise ModelError(f"curves must be [2, frames] (left, right) LUFS at 6 Hz, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=LUFS_FLOOR, neginf=LUFS_FLOOR, posinf=0.0)
    return np.clip((arr - LUFS_FLOOR) / -LUFS_FLOOR, 0.0, 1.0).astype(np.float32)


def _encoders(model: TriErgon, what: str) -> Any:
    enc = model.encoders
    if enc is None:
        raise ModelError(f"model '{model.cfg.name}' has no prompt encoders, so it cannot use a {what} prompt")
    return enc


def _emb(value: Any, device: torch.device) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.asarray(value, dtype=np.float32) if not isinstance(value, torch.Tensor) else value)
    return (t[None] if t.ndim == 2 else t).float().to(device)


def _ref_audio(request: GenerationRequest, sr: int) -> np.ndarray | None:
    audio, rate = request.reference_audio, request.reference_sr
    if audio is None and request.reference_path:
        from triergon_studio.audio.io import read_audio

        audio, rate = read_audio(request.reference_path, sample_rate=sr)
    if audio is None:
        return None
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio
    rate = int(rate or sr)
    a = int(round((request.reference_in_s or 0.0) * rate))
    b = int(round(request.reference_out_s * rate)) if request.reference_out_s is not None else len(audio)
    audio = audio[max(0, a):max(a + 1, b)]
    if rate != sr:
        from triergon_studio.audio.io import resample

        audio = resample(audio, rate, sr)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    if len(audio) == 0:
        raise ModelError("the reference audio selection is empty", request.reference_path)
    return audio[:, :2]


def _frame_size(model: TriErgon, path: str) -> tuple[int, int]:
    """Decode at about the encoder's input size (short side), keeping the aspect ratio, so a long video
    stays small in memory."""
    short = int(getattr(getattr(model.encoders, "cfg", None), "frame_size", 0) or 224)
    if getattr(getattr(model.encoders, "cfg", None), "kind", "small") == "languagebind":
        short = 224
    info = _probe(path)
    w, h = int(info.width), int(info.height)
    if int(getattr(info, "rotation", 0) or 0) % 180:
        w, h = h, w
    scale = short / max(1, min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _span_slice(frames: np.ndarray, span: tuple[float, float] | None) -> np.ndarray:
    if span is None:
        return frames
    a, b = (int(round(s * CURVE_RATE_HZ)) for s in span)
    return frames[a:max(a + 1, b)]


def _video_frames(request: GenerationRequest, model: TriErgon) -> np.ndarray | None:
    """Frames at 6 fps, uint8 [F, H, W, 3], of the requested span."""
    if request.video_frames is not None:
        return np.asarray(request.video_frames)
    if not request.video_path:
        return None
    from triergon_studio.video.sampling import sample_frames_6fps

    frames = sample_frames_6fps(request.video_path, size=_frame_size(model, request.video_path))
    return _span_slice(frames, request.video_span())


def build_conditions(request: GenerationRequest, model: TriErgon, duration_s: float) -> tuple[Conditions, dict]:
    """Prompts -> embeddings [1, M, d]; curves -> [1, 2, F] normalised; timing for the whole duration."""
    import torch

    from triergon_studio.engine.models.triergon import Conditions

    dev = next(model.parameters()).device
    pre = dict(request.prompt_embeddings or {})
    info: dict[str, Any] = {"text": request.text, "reference": request.reference_path, "curves": None}
    text_emb = audio_emb = video_emb = None
    with torch.inference_mode():
        if "text" in pre:
            text_emb = _emb(pre["text"], dev)
        elif request.text:
            if model.cfg.conditioning.kind == "sao":
                raise ModelError("sao-1.0 needs a T5-base text encoder, which is not bundled: pass precomputed T5 "
                                 "prompt embeddings (prompt_embeddings['text'], [tokens, 768])")
            text_emb = _encoders(model, "text").encode_text([request.text]).float().to(dev)
        if "audio" in pre:
            audio_emb = _emb(pre["audio"], dev)
        else:
            ref = _ref_audio(request, model.sample_rate)
            if ref is not None:
                wave = torch.from_numpy(np.ascontiguousarray(ref.T))[None].to(dev)
                audio_emb = _encoders(model, "reference-audio").encode_audio(wave).float().to(dev)
        frames = None
        if "video" in pre and request.use_video:
            video_emb = _emb(pre["video"], dev)
        elif request.use_video and (request.video_frames is not None or request.video_path):
            frames = _video_frames(request, model)
            if frames is not None and len(frames):
                enc = _encoders(model, "video")
                clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255.0)
                video_emb = enc.encode_video(clip[None].to(dev)).float().to(dev)
        lufs = None
        if request.curves is not None:
            lufs = _curves_for_span(normalized_curves(request.curves), request.video_span())
            info["curves"] = str(getattr(getattr(request.curves, "source", None), "value", "array"))
        elif request.predict_curves:
            lufs = _predict_curves(request, model, frames)
            info["curves"] = "predicted"
    cond = Conditions(
        text_emb=text_emb, audio_emb=audio_emb, video_emb=video_emb,
        lufs=torch.from_numpy(lufs)[None].to(dev) if lufs is not None else None,
        seconds_start=torch.zeros(1, device=dev), seconds_total=torch.full((1,), float(duration_s), device=dev),
    )
    return cond, info


def _curves_for_span(lufs: np.ndarray, span: tuple[float, float] | None) -> np.ndarray:
    """A curve that covers the span's end is in video time: cut it from the span start. A shorter one is
    taken to start at the span start already."""
    if span is None or span[0] <= 0:
        return lufs
    if lufs.shape[1] / CURVE_RATE_HZ + 1 / CURVE_RATE_HZ < span[1]:
        return lufs
    a, b = (int(round(x * CURVE_RATE_HZ)) for x in span)
    return lufs[:, a:max(a + 1, b)]


def _predict_curves(request: GenerationRequest, model: TriErgon, frames: np.ndarray | None) -> np.ndarray:
    """T_LUFS on the video (its own frame size), cut to the span; normalised [2, F]."""
    import torch

    if model.lufs_predictor is None:
        raise ModelError(f"model '{model.cfg.name}' has no LUFS predictor; pass curves instead")
    if request.video_path and request.video_frames is None:
        from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

        curve = predict_curves_for_video(request.video_path, model.lufs_predictor)
        lufs = np.stack([np.asarray(curve.left), np.asarray(curve.right)])
        span = request.video_span()
        if span is not None:
            a, b = (int(round(x * CURVE_RATE_HZ)) for x in span)
            lufs = lufs[:, a:max(a + 1, b)]
        return normalized_curves(lufs)
    if frames is None:
        frames = _video_frames(request, model)
    if frames is None or not len(frames):
        raise ModelError("predicting curves needs a video")
    with torch.inference_mode():
        lufs_t = model.lufs_predictor.predict_curves(frames)
    return normalized_curves(lufs_t.detach().cpu().double().numpy())
