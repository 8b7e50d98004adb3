"""Tri-Ergon's conditions from a take's inputs: prompts -> embeddings, curves -> the normalised 6 Hz LUFS
condition, and timing; slicing them for a chunk of a long take."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from triergon_studio.core.constants import CURVE_RATE_HZ, LUFS_FLOOR
from triergon_studio.engine.families.base import TakeInputs
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.engine.models.triergon import Conditions, TriErgon


def normalized_curves(curves: Any) -> np.ndarray:
    """A [2, F] LUFS array (or a LoudnessCurve) -> [2, F] float32 in [0, 1] ((L + 70) / 70, clipped)."""
    if hasattr(curves, "left"):
        rate = float(getattr(curves, "rate_hz", CURVE_RATE_HZ))
        arr = np.asarray(
            curves.resample(CURVE_RATE_HZ)
            if abs(rate - CURVE_RATE_HZ) > 1e-9
            else np.stack([curves.left, curves.right]),
            dtype=np.float64,
        )
    else:
        arr = np.asarray(curves, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] == 0:
        raise ModelError(f"curves must be [2, frames] (left, right) LUFS at 6 Hz, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=LUFS_FLOOR, neginf=LUFS_FLOOR, posinf=0.0)
    return np.clip((arr - LUFS_FLOOR) / -LUFS_FLOOR, 0.0, 1.0).astype(np.float32)


def _encoders(model: TriErgon, what: str) -> Any:
    if model.encoders is None:
        raise ModelError(f"model '{model.cfg.name}' has no prompt encoders, so it cannot use a {what} prompt")
    return model.encoders


def _emb(value: Any, device: torch.device) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.asarray(value, dtype=np.float32) if not isinstance(value, torch.Tensor) else value)
    return (t[None] if t.ndim == 2 else t).float().to(device)


def _frame_size(model: TriErgon, path: str) -> tuple[int, int]:
    """Decode at about the encoder's input size (short side), keeping the aspect ratio, so a long video
    stays small in memory."""
    from triergon_studio.video.probe import probe

    enc_cfg = getattr(model.encoders, "cfg", None)
    short = (
        224
        if getattr(enc_cfg, "kind", "small") == "languagebind"
        else int(getattr(enc_cfg, "frame_size", 0) or 224)
    )
    info = probe(path)
    w, h = int(info.width), int(info.height)
    if int(getattr(info, "rotation", 0) or 0) % 180:
        w, h = h, w
    scale = short / max(1, min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def video_frames(inputs: TakeInputs, model: TriErgon) -> np.ndarray | None:
    """Frames at 6 fps, uint8 [F, H, W, 3], of the take's span."""
    if not inputs.video_path:
        return None
    from triergon_studio.video.sampling import sample_frames_6fps

    frames = sample_frames_6fps(inputs.video_path, size=_frame_size(model, inputs.video_path))
    if inputs.video_span is None:
        return frames
    a, b = (int(round(s * CURVE_RATE_HZ)) for s in inputs.video_span)
    return frames[a : max(a + 1, b)]


def build_conditions(inputs: TakeInputs, model: TriErgon) -> Conditions:
    """Prompts -> embeddings [1, M, d]; curves -> [1, 2, F] normalised; timing for the whole duration."""
    import torch

    from triergon_studio.engine.models.triergon import Conditions

    dev = next(model.parameters()).device
    pre = inputs.embeddings
    text_emb = audio_emb = video_emb = None
    with torch.no_grad():
        if "text" in pre:
            text_emb = _emb(pre["text"], dev)
        elif inputs.text:
            text_emb = _encoders(model, "text").encode_text([inputs.text]).float().to(dev)
        if "audio" in pre:
            audio_emb = _emb(pre["audio"], dev)
        elif inputs.reference is not None:
            wave = torch.from_numpy(np.ascontiguousarray(inputs.reference.T))[None].to(dev)
            audio_emb = _encoders(model, "reference-audio").encode_audio(wave).float().to(dev)
        if "video" in pre:
            video_emb = _emb(pre["video"], dev)
        elif inputs.video_path:
            frames = video_frames(inputs, model)
            if frames is not None and len(frames):
                enc = _encoders(model, "video")
                clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255.0)
                video_emb = enc.encode_video(clip[None].to(dev)).float().to(dev)
    lufs = None
    if inputs.curves is not None:
        lufs = torch.from_numpy(normalized_curves(inputs.curves))[None].to(dev)
    return Conditions(
        text_emb=text_emb,
        audio_emb=audio_emb,
        video_emb=video_emb,
        lufs=lufs,
        seconds_start=torch.zeros(1, device=dev),
        seconds_total=torch.full((1,), float(inputs.duration_s), device=dev),
    )


def negative_conditions(inputs: TakeInputs, model: TriErgon, cond: Conditions) -> Conditions:
    """The unconditional half with a negative prompt: the negative text alone (the other prompts absent, so
    their learned null tokens), the same curves and timing."""
    import torch

    dev = next(model.parameters()).device
    with torch.no_grad():
        if "negative_text" in inputs.embeddings:
            neg = _emb(inputs.embeddings["negative_text"], dev)
        else:
            neg = _encoders(model, "negative text").encode_text([inputs.negative_text]).float().to(dev)
    return replace(cond, text_emb=neg, audio_emb=None, video_emb=None)


def slice_conditions(cond: Conditions, start_s: float, length_s: float) -> Conditions:
    """The conditions of a chunk ``start_s`` into the take: its part of the curve, its start time."""
    import torch

    lufs = cond.lufs
    if lufs is not None:
        a = int(round(start_s * CURVE_RATE_HZ))
        b = a + int(math.ceil(length_s * CURVE_RATE_HZ))
        lufs = lufs[..., a:b]
        if lufs.shape[-1] == 0:
            lufs = torch.zeros(*cond.lufs.shape[:-1], 1, device=cond.lufs.device)  # type: ignore[union-attr]
    assert cond.seconds_total is not None
    start = torch.full_like(cond.seconds_total, float(start_s))
    return replace(cond, lufs=lufs, seconds_start=start)
