"""MM-V2A-style manifests for folders of real clips.

Inputs:
- a folder of videos, each with an optional caption file beside it (``clip.mp4`` + ``clip.txt``);
- or a CSV plus the folder its clips were downloaded to: VGGSound (``ytid,start,label,split``, no header),
  AudioSet segment exports (``# YTID, start_seconds, end_seconds, positive_labels`` with an optional
  ``index,mid,display_name`` label map), or a generic CSV with a header naming ``path`` and ``caption``
  (optionally ``split``).

Output: JSONL, one clip per line, with the probe, duration, split, the per-channel 6 Hz loudness curves of the
clip's own audio (absent when it has no audio track, and said so) and the path of cached features (an npz
with the 6 fps frames at a small size and the curves).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triergon_studio.errors import StudioError, VideoFileError
from triergon_studio.training.fileio import atomic_write_text

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
MANIFEST_FORMAT = "triergon-manifest"


@dataclass
class ClipSource:
    path: Path
    clip_id: str
    caption: str
    caption_source: str  # "txt", "csv", "label", "none"
    split: str | None = None
    labels: list[str] = field(default_factory=list)
    start_s: float | None = None


@dataclass
class ManifestReport:
    written: int
    skipped: list[tuple[str, str]]
    path: Path


# ---- probing and decoding (PyAV) ---------------------------------------------------------------------------


def probe_clip(path: Path) -> dict[str, object]:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VideoFileError("has no video stream", path)
            v = c.streams.video[0]
            rate = v.average_rate or v.guessed_rate
            fps = float(rate) if rate else 0.0
            if v.duration is not None and v.time_base is not None:
                dur = float(v.duration * v.time_base)
            elif c.duration is not None:
                dur = c.duration / 1e6
            else:
                dur = 0.0
            frames = int(v.frames) if v.frames else int(round(dur * fps))
            audio = [
                {
                    "index": a.index,
                    "sample_rate": int(a.rate or 0),
                    "channels": int(a.channels or 0),
                    "codec": a.codec_context.name,
                }
                for a in c.streams.audio
            ]
            return {
                "fps": [rate.numerator, rate.denominator] if rate else None,
                "fps_float": fps,
                "frame_count": frames,
                "duration_s": dur,
                "width": int(v.codec_context.width),
                "height": int(v.codec_context.height),
                "codec": v.codec_context.name,
                "audio_streams": audio,
            }
    except av.error.FFmpegError as exc:
        raise VideoFileError(f"not a readable video ({exc.__class__.__name__})", path) from exc


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream as [N, 2] float32 (mono duplicated, more than two channels downmixed)."""
    import av

    chunks: list[np.ndarray] = []
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        sr = int(stream.rate)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sr)
        for frame in c.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((0, 2), np.float32), sr
    return np.concatenate(chunks, axis=1).T.astype(np.float32), sr


def frames_6fps(path: Path, size: int, duration_s: float) -> np.ndarray:
    """Frame k is the frame on screen at k/6 s, resized to size x size: [F, size, size, 3] uint8."""
    import av
    import cv2

    n = max(1, int(math.floor(duration_s * 6.0 + 1e-6)))
    out = np.zeros((n, size, size, 3), np.uint8)
    k = 0
    last = None
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tb = v.time_base
        if tb is None:
            raise StudioError("video stream has no time base", path)
        for frame in c.decode(v):
            t = float(frame.pts * tb) if frame.pts is not None else 0.0
            while k < n and k / 6.0 < t - 1e-6 and last is not None:
                out[k] = last
                k += 1
            last = cv2.resize(frame.to_ndarray(format="rgb24"), (size, size), interpolation=cv2.INTER_AREA)
            if k >= n:
                break
    while k < n and last is not None:
        out[k] = last
        k += 1
    return out


# ---- sources -----------------------------------------------------------------------------------------------


def folder_sources(root: Path) -> Iterator[ClipSource]:
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in VIDEO_EXTS or not p.is_file():
            continue
        txt = p.with_suffix(".txt")
        cap = txt.read_text(encoding="utf-8").strip() if txt.exists() else ""
        yield ClipSource(
            p, str(p.relative_to(root).with_suffix("")), " ".join(cap.split()), "txt" if cap else "none"
        )


def _find_clip(videos: Path, ytid: str, start: float) -> Path | None:
    stems = [
        f"{ytid}_{int(start):06d}",
        f"{ytid}_{int(start)}",
        f"{ytid}_{start:.3f}",
        f"{ytid}_{start:.1f}",
        f"{ytid}_{int(start * 1000)}",
        ytid,
    ]
    for s in stems:
        for ext in VIDEO_EXTS:
            p = videos / f"{s}{ext}"
            if p.exists():
                return p
    return None


def csv_sources(csv_path: Path, videos: Path, label_map: Path | None = None) -> Iterator[ClipSource]:
    """Rows of a VGGSound, AudioSet or generic CSV, matched to files under ``videos``."""
    text = csv_path.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise StudioError("empty CSV", csv_path)
    names: dict[str, str] = {}
    if label_map is not None:
        for entry in csv.DictReader(label_map.read_text(encoding="utf-8").splitlines()):
            names[entry["mid"]] = entry["display_name"]
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    audioset = any(ln.startswith("#") and "ytid" in ln.lower() for ln in lines[:3])
    if audioset:
        for row in csv.reader([ln for ln in lines if not ln.startswith("#")], skipinitialspace=True):
            if len(row) < 4:
                continue
            ytid, start = row[0].strip(), float(row[1])
            mids = [m.strip() for m in row[3].split(",") if m.strip()]
            labels = [names.get(m, m) for m in mids]
            p = _find_clip(videos, ytid, start)
            yield ClipSource(
                p or videos / f"{ytid}_{int(start)}.mp4",
                f"{ytid}_{int(start)}",
                ", ".join(labels),
                "label",
                None,
                labels,
                start,
            )
    elif "path" in header and "caption" in header:
        for rec in csv.DictReader(lines):
            p = videos / rec["path"]
            yield ClipSource(
                p,
                str(Path(rec["path"]).with_suffix("")),
                " ".join(rec["caption"].split()),
                "csv",
                (rec.get("split") or None),
            )
    else:  # VGGSound: ytid,start,label,split
        for row in csv.reader(lines):
            if len(row) < 3:
                continue
            ytid, label = row[0].strip(), row[2].strip()
            try:
                start = float(row[1])
            except ValueError:
                continue  # a header row
            split = row[3].strip() if len(row) > 3 else None
            p = _find_clip(videos, ytid, start)
            yield ClipSource(
                p or videos / f"{ytid}_{int(start):06d}.mp4",
                f"{ytid}_{int(start):06d}",
                label,
                "label",
                split,
                [label],
                start,
            )


def hash_split(clip_id: str, ratios: tuple[float, float, float] = (0.9, 0.05, 0.05)) -> str:
    """A stable split from the clip id alone, so adding clips never moves old ones between splits."""
    h = int(hashlib.sha1(clip_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < ratios[0] else ("val" if h < ratios[0] + ratios[1] else "test")


# ---- building ----------------------------------------------------------------------------------------------


def clip_record(src: ClipSource, cache_dir: Path, feature_size: int = 96) -> dict[str, object]:
    from triergon_studio.audio.loudness import channel_curves

    if not src.path.exists():
        raise VideoFileError("listed but not found", src.path)
    probe = probe_clip(src.path)
    dur = float(probe["duration_s"])  # type: ignore[arg-type]
    rec: dict[str, object] = {
        "id": src.clip_id,
        "video": str(src.path.resolve()),
        "caption": src.caption,
        "caption_source": src.caption_source,
        "labels": src.labels,
        "split": src.split or hash_split(src.clip_id),
        "duration_s": dur,
        "probe": probe,
    }
    curves = None
    if not probe["audio_streams"]:
        rec["curves_status"] = "no audio track"
    else:
        audio, sr = decode_audio(src.path)
        if len(audio) == 0:
            rec["curves_status"] = "empty audio track"
        else:
            curves = np.asarray(channel_curves(audio, sr), dtype=np.float32)
            silent = bool(np.all(np.abs(audio) < 1e-7))
            rec["curves_status"] = "silent audio track" if silent else "measured"
            rec["audio_sample_rate"] = sr
    rec["curves"] = (
        None
        if curves is None
        else {
            "rate_hz": 6.0,
            "left": np.round(curves[0], 2).tolist(),
            "right": np.round(curves[1], 2).tolist(),
        }
    )
    frames = frames_6fps(src.path, feature_size, dur)
    key = hashlib.sha1(f"{src.path.resolve()}:{src.path.stat().st_size}:{feature_size}".encode()).hexdigest()[
        :16
    ]
    feat = cache_dir / f"{key}.npz"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = feat.with_name(feat.name + ".part.npz")
    arrays: dict[str, np.ndarray] = {"frames_6fps": frames}
    if curves is not None:
        arrays["curves"] = curves
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stubs read **kwargs as allow_pickle
    tmp.replace(feat)
    rec["features"] = {"path": str(feat.resolve()), "frames_6fps": list(frames.shape), "size": feature_size}
    return rec


def build_manifest(
    out_path: str | Path,
    *,
    folder: str | Path | None = None,
    csv_path: str | Path | None = None,
    videos: str | Path | None = None,
    label_map: str | Path | None = None,
    cache_dir: str | Path | None = None,
    feature_size: int = 96,
    min_seconds: float = 0.0,
    max_seconds: float = float("inf"),
    overwrite: bool = False,
) -> ManifestReport:
    out = Path(out_path)
    if out.exists() and not overwrite:
        raise StudioError("manifest already exists (use --overwrite to replace it)", out)
    if (folder is None) == (csv_path is None):
        raise StudioError("give either a folder of clips or a CSV with its video folder")
    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise StudioError("not a folder", root)
        sources = list(folder_sources(root))
    else:
        cp = Path(csv_path)  # type: ignore[arg-type]
        if not cp.exists():
            raise StudioError("CSV not found", cp)
        sources = list(
            csv_sources(cp, Path(videos) if videos else cp.parent, Path(label_map) if label_map else None)
        )
    cache = Path(cache_dir) if cache_dir else out.with_suffix("").with_name(out.stem + "_cache")
    lines: list[str] = []
    skipped: list[tuple[str, str]] = []
    for src in sources:
        try:
            rec = clip_record(src, cache, feature_size)
        except StudioError as exc:
            skipped.append((src.clip_id, str(exc)))
            continue
        if not min_seconds <= float(rec["duration_s"]) <= max_seconds:  # type: ignore[arg-type]
            skipped.append(
                (src.clip_id, f"duration {rec['duration_s']:.2f} s outside [{min_seconds}, {max_seconds}]")
            )
            continue
        lines.append(json.dumps(rec))
    header = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "clips": len(lines),
            "skipped": [{"id": i, "reason": r} for i, r in skipped],
        }
    )
    atomic_write_text(out, "\n".join([header, *lines]) + "\n")
    return ManifestReport(len(lines), skipped, out)


def read_manifest(path: str | Path) -> list[dict[str, object]]:
    p = Path(path)
    if not p.exists():
        raise StudioError("manifest not found", p)
    rows = [json.loads(ln) for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not rows or rows[0].get("format") != MANIFEST_FORMAT:
        raise StudioError("not a Tri-Ergon manifest (first line must be its header)", p)
    return rows[1:]
