"""The fixed held-out set on disk: ``NNNN.mp4`` (picture), ``NNNN.wav`` (ground-truth stereo, float32) and
``NNNN.json`` (caption, class, fps, curves, events), plus ``heldout.json`` listing them.

Held-out examples use their own seed and the held-out caption templates for half of the clips, so neither the
clips nor those phrasings are ever seen in training.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from triergon_studio.errors import StudioError
from triergon_studio.training.corpus.generator import CLASS_NAMES, CorpusConfig, Example, make_example
from triergon_studio.training.fileio import atomic_write_json

HELDOUT_SEED = 90210  # never used for training streams (training seeds are checked against it)


def write_video(path: Path, frames: np.ndarray, fps: Fraction) -> None:
    """H.264 (yuv420p) mp4 written with PyAV; frames are [F, H, W, 3] uint8 RGB with even H and W."""
    import av

    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for img in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def _write_json(path: Path, obj: object) -> None:
    atomic_write_json(path, obj)


def heldout_example(
    i: int, seed: int = HELDOUT_SEED, max_seconds: float = 8.0, sound_redraw: int | None = None
) -> Example:
    """Clip i of the held-out set: classes cycle so every class is covered; odd clips use held-out captions.
    ``sound_redraw``: as ``make_example``'s (the same video with another sound track)."""
    cfg = CorpusConfig(
        min_seconds=2.0,
        max_seconds=max_seconds,
        mean_seconds=min(5.0, max_seconds),
        heldout_captions=bool(i % 2),
    )
    return make_example(seed, i, cfg, label=CLASS_NAMES[i % len(CLASS_NAMES)], sound_redraw=sound_redraw)


def write_heldout(
    out_dir: str | Path,
    n: int = 36,
    seed: int = HELDOUT_SEED,
    max_seconds: float = 8.0,
    overwrite: bool = False,
) -> list[dict[str, object]]:
    """Write ``n`` held-out clips into ``out_dir``; refuses to overwrite an existing set unless asked."""
    import soundfile as sf

    out = Path(out_dir)
    index_path = out / "heldout.json"
    if index_path.exists() and not overwrite:
        raise StudioError("a held-out set already exists here (pass overwrite to replace it)", index_path)
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    for i in range(n):
        ex = heldout_example(i, seed, max_seconds)
        stem = f"{i:04d}"
        write_video(out / f"{stem}.mp4", ex.video.frames(), ex.fps)
        tmp = out / f"{stem}.wav.part"
        sf.write(str(tmp), ex.audio, ex.sample_rate, subtype="FLOAT", format="WAV")
        tmp.replace(out / f"{stem}.wav")
        meta = ex.metadata() | {
            "video": f"{stem}.mp4",
            "audio": f"{stem}.wav",
            "curves": {
                "rate_hz": 6.0,
                "left": ex.curves[0].round(3).tolist(),
                "right": ex.curves[1].round(3).tolist(),
            },
        }
        _write_json(out / f"{stem}.json", meta)
        entries.append(
            {
                "id": stem,
                "label": ex.label,
                "caption": ex.caption,
                "caption_heldout": ex.caption_heldout,
                "duration_s": ex.duration_s,
            }
        )
    _write_json(
        index_path, {"format": "triergon-heldout", "version": 1, "seed": seed, "n": n, "clips": entries}
    )
    return entries


def load_heldout(dir_path: str | Path) -> list[dict[str, object]]:
    """The per-clip metadata of a held-out set written by ``write_heldout`` (paths made absolute)."""
    d = Path(dir_path)
    index_path = d / "heldout.json"
    if not index_path.exists():
        raise StudioError(
            "not a held-out set (heldout.json missing); write one with `corpus write-heldout`", d
        )
    index = json.loads(index_path.read_text())
    clips = []
    for e in index["clips"]:
        meta = json.loads((d / f"{e['id']}.json").read_text())
        meta["video"] = str(d / meta["video"])
        meta["audio"] = str(d / meta["audio"])
        clips.append(meta)
    return clips
