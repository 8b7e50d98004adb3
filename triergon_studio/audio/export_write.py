"""The streamed half of ``export_project``: render the lanes by output blocks and write every stem and the mix
block by block (memory bounded by a constant, whatever the picture's length).

Without a loudness target, one pass renders each block of every lane, sums the mix and appends them to their
WAV files. With a target, a first pass renders the mix into a float32 scratch file in the staging folder,
``normalize_stream.normalize_source`` measures it (and limits it if needed) and writes the mix, and a second
pass renders the lanes again with the mix's gain for the stems. Each output counts its clipped samples and
measures its loudness as it goes; the loudness goes into the report and the ``bext`` chunk, which is rewritten
when the file is closed. The samples are those of the whole-array ``export.render_lanes`` + ``normalize``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.audio.blocks import BLOCK_FRAMES, RawSource, RawWriter, WavBlockWriter
from triergon_studio.audio.io import BextInfo
from triergon_studio.core.project import Project
from triergon_studio.errors import ExportError

ORIGINATOR = "Tri-Ergon Studio"
Step = Callable[[str, float], None]


class StemOutput:
    """One WAV of the delivery, written block by block: clipping counted, loudness measured on the way."""

    def __init__(
        self, path: Path, n: int, sr: int, bits: str, project: Project, lane: str | None, time_ref: int
    ) -> None:
        from triergon_studio.audio.stream import StreamingAnalysis

        now = datetime.now()
        what = f"{lane} stem" if lane else "mix"
        self.bext = BextInfo(
            description=f"{project.name} {what} @ {project.start_timecode} {project.rate}",
            originator=ORIGINATOR,
            origination_date=now.strftime("%Y-%m-%d"),
            origination_time=now.strftime("%H:%M:%S"),
            time_reference=time_ref,
            coding_history=f"A=PCM,F={sr},W={32 if bits == '32f' else 24},M=stereo,T={ORIGINATOR}\r\n",
        )
        self.bits = bits
        self.clipped = 0
        self.analysis = StreamingAnalysis(sr, 2, "itu")
        self.writer = WavBlockWriter(path, n, sr, bits=bits, bext=self.bext)

    def write(self, block: np.ndarray) -> None:
        if self.bits != "32f":  # PCM stops at full scale: count what the file cannot hold, then clip it
            over = np.abs(block) > 1.0
            count = int(np.count_nonzero(over.any(axis=1)))
            if count:
                self.clipped += count
                block = np.clip(block, -1.0, 1.0)
        self.analysis.push(block)
        self.writer.write(block)

    def close(self) -> dict[str, float | None]:
        """Finish the file; returns its loudness for the report (None: silence, which JSON cannot hold)."""
        r = self.analysis.finish().report()

        def num(v: float) -> float | None:
            return round(float(v), 2) if np.isfinite(v) else None

        loud = {
            "integrated_lufs": num(r.integrated_lufs),
            "loudness_range_lu": num(r.loudness_range_lu),
            "true_peak_dbtp": num(r.true_peak_dbtp),
        }
        self.bext.loudness_value = loud["integrated_lufs"]
        self.bext.loudness_range = loud["loudness_range_lu"]
        self.bext.max_true_peak_level = loud["true_peak_dbtp"]
        self.writer.close(self.bext)
        return loud

    def abort(self) -> None:
        self.writer.abort()


def disk_needed(n: int, lanes: int, bits: str, normalise: bool, review: bool) -> int:
    """Bytes the staging folder holds at its fullest: every WAV plus the float32 scratch files."""
    per = 2 * (4 if bits == "32f" else 3)
    return n * per * (lanes + 1) + (n * 8 if normalise else 0) + (n * 8 if review else 0)


def check_disk(need: int, out: Path) -> None:
    """Refuse, before any work, an export that cannot fit on the destination's disk."""
    folder = out
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise ExportError(
            f"the export needs about {need / 2**30:.1f} GiB of disk space but {free / 2**30:.1f} GiB is free; "
            "free some space or export a shorter picture or fewer lanes",
            out,
        )


def write_stems(
    project: Project,
    settings: Any,
    n: int,
    staging: Path,
    names: dict[str, str],
    audible: list[str],
    time_ref: int,
    step: Step,
    block: int | None = None,
) -> tuple[dict[str, tuple[int, dict[str, float | None]]], float, bool, RawSource | None]:
    """Write the stems (``names["stem:LANE"]``) and the mix (``names["mix"]``) into ``staging``.

    Returns, per key, (clipped samples, loudness), the mix gain in dB, whether it was limited, and the final
    mix as a float32 scratch source when a review video needs it (``settings.mux``)."""
    from triergon_studio.audio.export_render import LaneRenderer

    sr, bits = settings.sample_rate, settings.bits
    block = block or BLOCK_FRAMES  # read at call time, so tests can try other block sizes
    lanes = [ln.name for ln in project.lanes]
    outputs: dict[str, StemOutput] = {}
    review: RawWriter | None = None
    try:
        for key in [f"stem:{name}" for name in lanes] + ["mix"]:
            lane = key[5:] if key.startswith("stem:") else None
            outputs[key] = StemOutput(staging / names[key], n, sr, bits, project, lane, time_ref)
        if settings.mux != "none":
            review = RawWriter(staging / ".review-mix.f32")
        gain_db, limited, g = 0.0, False, None
        with LaneRenderer(project, sr, n, staging) as render:
            if settings.target != "none":
                gain_db, limited, g = _normalised_mix(
                    render, settings, n, staging, audible, outputs, review, step, block
                )
            for o0 in range(0, n, block):
                step("Writing stems", 0.1 + 0.6 * o0 / n)
                o1 = min(o0 + block, n)
                blocks, mix = render.block(o0, o1, audible)
                for name in lanes:
                    outputs[f"stem:{name}"].write(blocks[name] * g if g is not None else blocks[name])
                if g is None:  # the mix was not normalised: it goes out as rendered
                    outputs["mix"].write(mix)
                    if review is not None:
                        review.write(mix)
        done = {key: (out.clipped, out.close()) for key, out in outputs.items()}
        outputs.clear()
        if review is not None:
            review.close()
            return done, gain_db, limited, RawSource(review.path, n, sr)
        return done, gain_db, limited, None
    finally:
        for out in outputs.values():
            out.abort()
        if review is not None:
            review.close()


def _normalised_mix(
    render: Any,
    settings: Any,
    n: int,
    staging: Path,
    audible: list[str],
    outputs: dict[str, StemOutput],
    review: RawWriter | None,
    step: Step,
    block: int,
) -> tuple[float, bool, np.float32 | None]:
    """Render the mix to scratch, normalise it into its output; (gain dB, limited, the stems' gain or None
    when the mix is silent and stays as rendered)."""
    from triergon_studio.audio.normalize import PRESETS
    from triergon_studio.audio.normalize_stream import normalize_source

    scratch = RawWriter(staging / ".mix.f32")
    nonzero = False
    try:
        for o0 in range(0, n, block):
            step("Rendering the mix", 0.05 * o0 / n)
            _, mix = render.block(o0, min(o0 + block, n), audible)
            nonzero = nonzero or bool(np.any(mix))
            scratch.write(mix)
        scratch.close()
        if not nonzero:
            return 0.0, False, None
        lufs, tp = (
            (settings.target_lufs, settings.true_peak_dbtp)
            if settings.target == "custom"
            else PRESETS[settings.target]
        )
        step("Normalising the mix", 0.05)

        def sink(b: np.ndarray) -> None:
            outputs["mix"].write(b)
            if review is not None:
                review.write(b)

        stats = normalize_source(
            RawSource(scratch.path, n, settings.sample_rate), float(lufs), float(tp), sink
        )
        gain_db = float(stats.gain_db)
        return gain_db, bool(stats.limited), np.float32(10 ** (gain_db / 20))  # stems still sum to the mix
    finally:
        scratch.close()
        scratch.path.unlink(missing_ok=True)
