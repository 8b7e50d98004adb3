"""T_LUFS: predict the per-channel momentary loudness curves (6 values per second) from video frames.

The paper's module: frame features at 6 fps (DINOv2) -> transformer encoder -> L/R curves, trained with
MSE, up to 60 s. Presets S (12 layers, 8 heads, 768) and L (14, 12, 768) follow the paper; ``small`` and
``tiny`` serve the bundled model and the tests. The bundled model uses ``FrameFeatureExtractor``, a small
CNN that also sees the difference to the previous frame, and optionally to the next one (motion drives most
Foley loudness).

The head predicts the normalised curve (L + 70) / 70 through a sigmoid; LUFS = 70 y - 70. A ``gated`` head
also predicts per channel whether a frame is audible (above -60 LUFS); a frame it calls silent sits at the
floor (or, with ``gate = "soft"``, the level is scaled by the probability). Inputs longer than one window
(60 s) are cut into windows overlapping by 10 s and stitched with a linear crossfade.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from triergon_studio.core.constants import LUFS_FLOOR
from triergon_studio.core.progress import ProgressFn, Stages, report
from triergon_studio.engine.models.dinov2 import (
    DinoV2,
    imagenet_normalize,
    preprocess_frames,
    to_float_frames,
)
from triergon_studio.engine.models.dinov2_config import DINOV2_PRESETS
from triergon_studio.engine.models.lufs_config import LUFS_PRESETS, FrameCNNConfig, LufsPredictorConfig
from triergon_studio.errors import ModelError

RATE_HZ = 6
# Shares of the bar for a whole video: decoding the pictures, frame features, the transformer windows.
# Measured on bottle-detection.mp4 (40 s, benchmarks/bench_t_lufs.py): the bundled frame CNN (version 3.2,
# 24 pictures/s) spends 1.25 s of 1.36 s decoding, and older 6 fps runs measured features about 15x the
# windows; DINOv2's features cost several times the decoding.
STAGE_WEIGHTS = {
    "frame-cnn": {"decode": 0.92, "features": 0.075, "windows": 0.005},
    "dinov2": {"decode": 0.15, "features": 0.8, "windows": 0.05},
}


class FrameFeatureExtractor(nn.Module):
    """Frames [F, 3, H, W] in [0, 1] (one clip, in time order) -> features [F, out_dim]."""

    def __init__(self, cfg: FrameCNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in * cfg.grid[0] * cfg.grid[1], cfg.out_dim)

    def prepare(self, frames: Tensor) -> Tensor:
        """uint8 [F, H, W, 3] or float [F, 3, H, W] -> the whole picture squashed to ``image_size``
        square (nothing cropped), ImageNet-normalised."""
        x = to_float_frames(frames)
        s = self.cfg.image_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return imagenet_normalize(x)

    def forward(
        self, images: Tensor, previous: Tensor | None = None, following: Tensor | None = None
    ) -> Tensor:
        """``images`` are prepared pictures, ``sub_frames`` per curve frame [F * sub_frames, 3, H, W];
        ``previous`` / ``following`` are the prepared pictures that open the curve frames just before and
        just after these (None at the clip's ends: no motion there). -> [F, out_dim]."""
        sub = self.cfg.sub_frames
        if images.shape[0] % sub:
            raise ModelError(f"T_LUFS reads {sub} pictures per curve frame, got {images.shape[0]} pictures")
        main = images[::sub]
        parts = [main]
        if self.cfg.use_motion:
            before = torch.cat([main[:1] if previous is None else previous, main[:-1]])
            parts.append(main - before)
        if self.cfg.motion_next:
            after = torch.cat([main[1:], main[-1:] if following is None else following])
            parts.append(after - main)
        if sub > 1:
            # the sub_frames changes across each frame's window, the last one to the next frame's picture
            seq = torch.cat([images, images[-1:] if following is None else following])
            steps = seq[1:] - seq[:-1]
            parts.append(steps.reshape(main.shape[0], sub * steps.shape[1], *steps.shape[2:]))
        x = torch.cat(parts, dim=1)
        return self.proj(F.adaptive_avg_pool2d(self.conv(x), self.cfg.grid).flatten(1))


def _crossfade_weights(length: int, ramp_in: int, ramp_out: int, device: Any) -> Tensor:
    w = torch.ones(length, device=device, dtype=torch.float64)
    if ramp_in > 0:
        w[:ramp_in] = (torch.arange(ramp_in, device=device, dtype=torch.float64) + 0.5) / ramp_in
    if ramp_out > 0:
        w[length - ramp_out :] = torch.minimum(
            w[length - ramp_out :],
            (torch.arange(ramp_out, 0, -1, device=device, dtype=torch.float64) - 0.5) / ramp_out,
        )
    return w


def window_starts(n: int, window: int, overlap: int) -> list[int]:
    """Window start frames covering ``n`` frames; the last window ends exactly at ``n``."""
    if n <= window:
        return [0]
    hop = window - overlap
    starts = list(range(0, n - window, hop)) + [n - window]
    return sorted(set(starts))


def windowed_apply(
    fn: Callable[[Tensor], Tensor],
    features: Tensor,
    window: int,
    overlap: int,
    progress: ProgressFn | None = None,
) -> Tensor:
    """Apply ``fn`` ([B, w, D] -> [B, C, w]) over overlapping windows, stitched by linear crossfades;
    ``progress(message, fraction)`` after each window."""
    b, n, _ = features.shape
    starts = window_starts(n, window, overlap)
    if len(starts) == 1:
        out1 = fn(features)
        report(progress, "T_LUFS window 1/1", 1.0)
        return out1
    acc: Tensor | None = None
    wsum = torch.zeros(n, dtype=torch.float64, device=features.device)
    for i, s in enumerate(starts):
        e = min(n, s + window)
        out = fn(features[:, s:e]).double()
        ramp_in = starts[i - 1] + window - s if i > 0 else 0  # overlap with the previous window
        ramp_out = e - starts[i + 1] if i + 1 < len(starts) else 0
        w = _crossfade_weights(e - s, ramp_in, ramp_out, features.device)
        if acc is None:
            acc = torch.zeros(b, out.shape[1], n, dtype=torch.float64, device=features.device)
        acc[:, :, s:e] += out * w
        wsum[s:e] += w
        report(progress, f"T_LUFS window {i + 1}/{len(starts)}", (i + 1) / len(starts))
    assert acc is not None
    return (acc / wsum).to(features.dtype)


class LufsPredictor(nn.Module):
    """Frame features at 6 fps [B, F, d_in] -> normalised L/R curves [B, 2, F]."""

    def __init__(self, cfg: LufsPredictorConfig, with_features: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.features: nn.Module | None = None
        if with_features:
            self.features = (
                FrameFeatureExtractor(cfg.frame_cnn)
                if cfg.features == "frame-cnn"
                else DinoV2(DINOV2_PRESETS[cfg.features])
            )
        self.proj_in = nn.Linear(cfg.d_in, d)
        self.pos = nn.Parameter(torch.zeros(1, cfg.window_frames, d))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d,
                cfg.n_heads,
                d * cfg.ff_mult,
                cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.out_channels)
        if self.pos.device.type != "meta":
            nn.init.normal_(self.pos, std=0.02)

    def forward_parts(
        self, feats: Tensor, padding_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """[B, F, d_in] (F <= one window) -> normalised levels [B, 2, F] in (0, 1), and for a gated head the
        audibility logits [B, 2, F] (None for a level head).

        ``padding_mask`` [B, F] is True at padded frames (ignored by attention).
        """
        n = feats.shape[1]
        if n > self.cfg.window_frames:
            raise ModelError(
                f"T_LUFS window is {self.cfg.window_frames} frames, got {n}: use predict_normalized"
            )
        x = self.proj_in(feats) + self.pos[:, :n]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding_mask)
        out = self.head(self.norm(x)).transpose(1, 2)
        return torch.sigmoid(out[:, :2]), (out[:, 2:] if self.cfg.head == "gated" else None)

    def forward(self, feats: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """[B, F, d_in] (F <= one window) -> normalised curves [B, 2, F] in [0, 1); a gated head puts the
        frames it calls silent at 0 (the floor), or with ``gate = "soft"`` scales each level by its
        probability of being audible."""
        return self.read_parts(*self.forward_parts(feats, padding_mask))

    def read_parts(self, level: Tensor, gate: Tensor | None) -> Tensor:
        """``forward_parts``' output -> the normalised curves ``forward`` gives."""
        if gate is None:
            return level
        if self.cfg.gate == "soft":
            return level * torch.sigmoid(gate)
        return torch.where(gate >= 0, level, torch.zeros_like(level))

    def predict_normalized(self, feats: Tensor, progress: ProgressFn | None = None) -> Tensor:
        """Any length: overlapping windows stitched with a linear crossfade. [B, F, d_in] -> [B, 2, F]."""
        return windowed_apply(self.forward, feats, self.cfg.window_frames, self.cfg.overlap_frames, progress)

    def predict_lufs(self, feats: Tensor, progress: ProgressFn | None = None) -> Tensor:
        """[B, F, d_in] -> LUFS curves [B, 2, F] in [-70, 0]."""
        return self.predict_normalized(feats, progress) * -LUFS_FLOOR + LUFS_FLOOR

    def import_dinov2(self, path: str | Path) -> None:
        """Load a DINOv2 checkpoint (hub ``.pth`` or transformers layout) into the frame feature network."""
        from triergon_studio.engine.checkpoint_io import load_state_dict_checked, read_state_dict
        from triergon_studio.engine.models.dinov2 import hf_to_hub_state_dict, is_hf_layout

        if not isinstance(self.features, DinoV2):
            raise ModelError(f"this T_LUFS uses {self.cfg.features!r} features, not DINOv2", path)
        sd = read_state_dict(path)
        load_state_dict_checked(self.features, hf_to_hub_state_dict(sd) if is_hf_layout(sd) else sd, path)

    @torch.no_grad()
    def frame_features(
        self, frames: Tensor | np.ndarray, batch_size: int = 32, progress: ProgressFn | None = None
    ) -> Tensor:
        """uint8 [P, H, W, 3] (or float [P, 3, H, W] in [0, 1]) pictures at ``cfg.picture_rate_hz`` (P = F
        curve frames times the frame CNN's ``sub_frames``) -> [F, d_in]; ``progress(message, fraction)`` after
        each batch (frames done / frames)."""
        if self.features is None:
            raise ModelError("this T_LUFS was built without its frame feature network")
        t = torch.as_tensor(frames)
        dev = self.proj_in.weight.device
        sub = self.cfg.pictures_per_frame
        if t.shape[0] % sub:
            raise ModelError(f"T_LUFS reads {sub} pictures per curve frame, got {t.shape[0]} pictures")
        n = t.shape[0] // sub
        out: list[Tensor] = []
        previous: Tensor | None = None
        for i in range(0, n, batch_size):
            chunk = t[i * sub : (i + batch_size) * sub].to(dev)
            if isinstance(self.features, FrameFeatureExtractor):
                images = self.features.prepare(chunk).to(self.proj_in.weight.dtype)
                following = None
                if (self.features.cfg.motion_next or sub > 1) and i + batch_size < n:
                    nxt = t[(i + batch_size) * sub : (i + batch_size) * sub + 1].to(dev)
                    following = self.features.prepare(nxt).to(images.dtype)
                out.append(self.features(images, previous, following))
                previous = images[-sub : len(images) - sub + 1]
            else:
                images = preprocess_frames(chunk, self.cfg.dinov2_image_size, crop=False)
                out.append(self._dinov2_features(images.to(self.proj_in.weight.dtype)))
            done = min(n, i + batch_size)
            report(progress, f"Frame features {done}/{n}", done / n)
        return torch.cat(out) if out else torch.zeros(0, self.cfg.d_in, device=dev)

    def stage_weights(self) -> dict[str, float]:
        """Shares of the bar; a ``flip_average`` reader reads twice what it decodes once."""
        weights = dict(STAGE_WEIGHTS["frame-cnn" if self.cfg.features == "frame-cnn" else "dinov2"])
        readings = 2 if self.cfg.flip_average else 1
        return {k: w if k == "decode" else w * readings for k, w in weights.items()}

    def _dinov2_features(self, images: Tensor) -> Tensor:
        assert isinstance(self.features, DinoV2)
        feats = self.features.forward_features(images)
        if not self.cfg.dinov2_lr_pooling:
            return feats["cls"]
        p = self.features.cfg.patch_size
        gh, gw = images.shape[-2] // p, images.shape[-1] // p
        grid = feats["patch_tokens"].reshape(images.shape[0], gh, gw, -1)
        half = gw // 2
        left, right = (
            grid[:, :, : max(half, 1)].mean(dim=(1, 2)),
            grid[:, :, gw - max(half, 1) :].mean(dim=(1, 2)),
        )
        return torch.cat([feats["cls"], left, right], dim=-1)

    @torch.no_grad()
    def predict_curves(self, frames_6fps: Tensor | np.ndarray, progress: ProgressFn | None = None) -> Tensor:
        """Pictures sampled at ``cfg.picture_rate_hz`` (6 fps unless the frame CNN reads ``sub_frames``) ->
        LUFS curves [2, F] (one value per curve frame per channel)."""
        was_training = self.training
        self.eval()
        weights = dict(self.stage_weights())
        weights.pop("decode")
        readings = [torch.as_tensor(frames_6fps)]
        if self.cfg.flip_average:
            readings.append(mirror_pictures(readings[0]))
        parts = {
            f"{name} {i}": w / len(readings) for i in range(len(readings)) for name, w in weights.items()
        }
        stages = Stages(progress, parts)
        try:
            curves = []
            for i, pictures in enumerate(readings):
                feats = self.frame_features(
                    pictures, progress=stages.part(f"features {i}", "Mirrored: " if i else "")
                )
                feats = feats.to(self.proj_in.weight.dtype)
                curve = self.predict_lufs(feats[None], stages.part(f"windows {i}"))[0].float()
                curves.append(curve.flip(0) if i else curve)  # the mirrored reading's L is the video's R
            return torch.stack(curves).mean(0)
        finally:
            self.train(was_training)


def mirror_pictures(frames: Tensor) -> Tensor:
    """Pictures mirrored left to right: uint8 [P, H, W, 3] or float [P, 3, H, W] (``to_float_frames``)."""
    return frames.flip(2 if frames.dtype == torch.uint8 else 3)


FIRST_CONV = "features.conv.0.weight"


def widen_to_sub_frames(
    state: dict[str, Tensor], cfg: LufsPredictorConfig, prefix: str = ""
) -> dict[str, Tensor]:
    """The state of a frame-CNN T_LUFS that reads one picture per curve frame, made to fit ``cfg`` (the same
    network reading ``sub_frames`` pictures): its first convolution gets zero weights for the step channels,
    which come last in the input, so the widened T_LUFS gives exactly the original's curves. Keys carry
    ``prefix`` (e.g. ``"lufs_predictor."``)."""
    key = prefix + FIRST_CONV
    if cfg.features != "frame-cnn" or key not in state:
        raise ModelError("only a frame-CNN T_LUFS can be widened to read sub-frames")
    w = state[key]
    extra = cfg.frame_cnn.in_channels - w.shape[1]
    if cfg.frame_cnn.sub_frames < 2 or extra != 3 * cfg.frame_cnn.sub_frames:
        raise ModelError(
            f"these weights read {w.shape[1]} input channels; a T_LUFS reading {cfg.frame_cnn.sub_frames} "
            f"pictures per frame has {cfg.frame_cnn.in_channels}, so they are not its one-picture form"
        )
    zeros = torch.zeros(w.shape[0], extra, *w.shape[2:], dtype=w.dtype)
    return {**state, key: torch.cat([w, zeros], dim=1)}


def build_lufs_predictor(
    name_or_cfg: str | LufsPredictorConfig, device: Any = "cpu", with_features: bool = True
) -> LufsPredictor:
    if isinstance(name_or_cfg, str):
        if name_or_cfg not in LUFS_PRESETS:
            raise ModelError(
                f"unknown T_LUFS preset {name_or_cfg!r}; choose one of {', '.join(LUFS_PRESETS)}"
            )
        name_or_cfg = LUFS_PRESETS[name_or_cfg]
    with torch.device(device):
        return LufsPredictor(name_or_cfg, with_features)


def seeded_lufs_predictor(name: str = "t-lufs-tiny", seed: int = 0) -> LufsPredictor:
    """Random weights that are the same on every run (for ``--model tiny-random`` and tests)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_lufs_predictor(name).eval()


def transformer_params(model: LufsPredictor) -> int:
    """Parameters of T_LUFS itself, without the frame feature network."""
    feat = sum(p.numel() for p in model.features.parameters()) if model.features is not None else 0
    return sum(p.numel() for p in model.parameters()) - feat


def predict_curves_for_video(
    video_path: str | Path, model: LufsPredictor, progress: ProgressFn | None = None
) -> Any:
    """Predict a ``LoudnessCurve`` (source PREDICTED) for a whole video file; ``progress(message, fraction)``
    follows frame decoding, the feature batches and the transformer windows."""
    from triergon_studio.core.curves import CurveSource, LoudnessCurve
    from triergon_studio.video.probe import probe
    from triergon_studio.video.sampling import sample_frames_6fps

    info = probe(video_path)
    # Decode straight to (about) the model's input size so a long video stays small in memory.
    side = model.cfg.picture_size
    if side is not None:
        size = (side, side)
    else:
        w, h = info.display_size
        scale = model.cfg.dinov2_image_size / max(1, min(w, h))
        size = (max(14, round(w * scale)), max(14, round(h * scale)))
    weights = model.stage_weights()
    decode_share = weights["decode"] / sum(weights.values())
    stages = Stages(progress, {"decode": decode_share, "predict": 1.0 - decode_share})
    frames = sample_frames_6fps(
        video_path, size=size, per_frame=model.cfg.pictures_per_frame, progress=stages.part("decode")
    )
    curves = model.predict_curves(frames, stages.part("predict")).double().cpu().numpy()
    return LoudnessCurve(curves[0], curves[1], float(info.duration_s), float(RATE_HZ), CurveSource.PREDICTED)


__all__ = [
    "FrameFeatureExtractor",
    "LufsPredictor",
    "build_lufs_predictor",
    "imagenet_normalize",
    "mirror_pictures",
    "predict_curves_for_video",
    "seeded_lufs_predictor",
    "transformer_params",
    "widen_to_sub_frames",
    "window_starts",
    "windowed_apply",
]
