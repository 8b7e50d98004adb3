"""Audio commands: ``measure``, ``conform`` and ``normalize`` (all three stream: memory flat in the length).

Only argparse and pathlib are imported here; numpy, scipy and soundfile load inside the handlers so
``triergon-studio --help`` stays instant. Outputs are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from triergon_studio.errors import AudioFileError, ExportError, StudioError


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    p = subparsers.add_parser(
        "measure",
        help="loudness of an audio/video file (EBU R128: I, LRA, true peak, max M/S)",
        description="Measure integrated loudness, loudness range, true and sample peak and the maximum "
        "momentary and short-term loudness (ITU-R BS.1770-4 / EBU R128).",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--curves", type=Path, metavar="OUT.json", help="also write the L/R 6 Hz loudness curves")
    p.add_argument("--filter", choices=("itu", "pyloudnorm"), default="itu", help="K-weighting design")
    p.add_argument("--force", action="store_true", help="overwrite an existing --curves file")
    p.set_defaults(func=cmd_measure)

    p = subparsers.add_parser(
        "conform",
        help="apply a smooth gain envelope so the audio follows L/R loudness curves",
    )
    p.add_argument("input", type=Path)
    p.add_argument("--curves", type=Path, required=True, metavar="C.json", help="triergon-curves JSON")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav")
    p.add_argument("--max-gain", type=float, default=24.0, metavar="DB", help="largest boost (default 24)")
    p.add_argument("--bits", choices=("16", "24", "32f"), default="24", help="output WAV format")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=cmd_conform)

    p = subparsers.add_parser(
        "normalize",
        help="normalise to a loudness target with a true-peak ceiling",
        description="Presets: r128 (-23 LUFS / -1 dBTP), a85 (-24 / -2), stream (-14 / -1), "
        "apple (-16 / -1), or a LUFS value (ceiling -1 dBTP unless --true-peak).",
    )
    p.add_argument("input", type=Path)
    p.add_argument("--target", required=True, help="r128 | a85 | stream | apple | <LUFS>")
    p.add_argument("--true-peak", type=float, default=None, metavar="DBTP", help="true-peak ceiling")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav")
    p.add_argument("--bits", choices=("16", "24", "32f"), default="24", help="output WAV format")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=cmd_normalize)


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise ExportError("output already exists (use --force to replace it)", path)
    if not path.parent.exists() and str(path.parent):
        raise ExportError("output folder does not exist", path)


def _fmt(value: float, unit: str) -> str:
    return f"{value:7.1f} {unit}" if math.isfinite(value) else f"{'-inf':>7} {unit}"


def cmd_measure(args: argparse.Namespace) -> int:
    from triergon_studio.audio.stream import analyze_file
    from triergon_studio.core.curves import CURVE_RATE_HZ, CurveSource, LoudnessCurve

    if args.curves is not None:
        _check_output(args.curves, args.force)
    analysis = analyze_file(args.file, filter=args.filter)  # block by block: memory flat in the length
    report = analysis.report()
    if args.curves is not None:
        curve = LoudnessCurve(
            analysis.curves[0],
            analysis.curves[1],
            analysis.n_samples / analysis.sample_rate,
            CURVE_RATE_HZ,
            CurveSource.MEASURED,
        )
        try:
            curve.save(args.curves)
        except OSError as exc:
            raise ExportError(f"cannot write curves ({exc.strerror or exc})", args.curves) from exc
    if args.json:
        print(json.dumps(report.to_json_dict()))
        return 0
    lines = [
        f"{args.file}: {report.sample_rate} Hz, {report.channels} ch, {report.duration_s:.3f} s"
        f" (K-weighting: {args.filter})",
        f"  Integrated       {_fmt(report.integrated_lufs, 'LUFS')}",
        f"  Loudness range   {_fmt(report.loudness_range_lu, 'LU')}",
        f"  True peak        {_fmt(report.true_peak_dbtp, 'dBTP')}",
        f"  Sample peak      {_fmt(report.sample_peak_dbfs, 'dBFS')}",
        f"  Momentary max    {_fmt(report.momentary_max_lufs, 'LUFS')}",
        f"  Short-term max   {_fmt(report.short_term_max_lufs, 'LUFS')}",
    ]
    if args.curves is not None:
        lines.append(f"  Curves written to {args.curves}")
    print("\n".join(lines))
    return 0


def cmd_conform(args: argparse.Namespace) -> int:
    from triergon_studio.audio.blocks import iter_blocks, open_source
    from triergon_studio.audio.conform_stream import conform_source
    from triergon_studio.audio.io import read_bext
    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.validate import check_conform_gain

    check_conform_gain(args.max_gain)
    _check_output(args.output, args.force)
    curve = LoudnessCurve.load(args.curves)
    # Block by block (memory flat in the length): one pass per iteration, the last one writes.
    with open_source(args.input, scratch_dir=_folder(args.output)) as src:
        for _ in iter_blocks(src):  # the samples' own problems (NaN, truncation) come before the curves'
            pass
        seconds = src.n / src.sr
        # A curve drawn for another clip would be silently held at its last value: refuse it instead.
        if abs(curve.duration_s - seconds) > 1.0 / curve.rate_hz:
            raise AudioFileError(
                f"the curves cover {curve.duration_s:.2f} s but {args.input.name} lasts {seconds:.2f} s; "
                "measure or predict curves for this clip",
                args.curves,
            )
        bext = _bext_of(args.input, read_bext)
        result, clipped = _stream_to_wav(
            args.output,
            src.n,
            src.sr,
            args.bits,
            bext,
            lambda sink: conform_source(src, curve, sink, max_gain_db=args.max_gain),
        )
    _warn_clipped(args.output, clipped, args.bits)
    total = int(result.conformable.size)
    print(
        f"{args.output}: conformed to {args.curves.name}; mean error {result.mae_lu:.2f} LU over "
        f"{int(result.conformable.sum())}/{total} frames; {result.unmet_count} frame(s) could not be met"
    )
    if result.unmet_count:
        for ch, name in enumerate(("left", "right")[: result.unmet_frames.shape[0]]):
            idx = [int(i) for i in result.unmet_frames[ch].nonzero()[0]]
            if idx:
                print(f"  unmet {name}: {_ranges(idx)} (frame = 1/6 s)")
    return 0


def cmd_normalize(args: argparse.Namespace) -> int:
    from triergon_studio.audio.blocks import open_source
    from triergon_studio.audio.io import read_bext
    from triergon_studio.audio.normalize import SilentAudioError, resolve_target
    from triergon_studio.audio.normalize_stream import normalize_source

    try:
        target, ceiling = resolve_target(args.target, args.true_peak)
    except ValueError as exc:
        raise StudioError(str(exc)) from exc
    _check_output(args.output, args.force)
    bext = _bext_of(args.input, read_bext)
    # Block by block (memory flat in the length): measuring passes, then one pass that writes.
    with open_source(args.input, scratch_dir=_folder(args.output)) as src:
        try:
            result, clipped = _stream_to_wav(
                args.output,
                src.n,
                src.sr,
                args.bits,
                bext,
                lambda sink: normalize_source(src, target, ceiling, sink),
                final_bext=lambda r: _with_loudness(bext, r),
            )
        except SilentAudioError as exc:
            raise AudioFileError(str(exc), args.input) from exc
    _warn_clipped(args.output, clipped, args.bits)
    limit = (
        f"true-peak limiter engaged (max {result.max_gain_reduction_db:.1f} dB reduction)"
        if result.limited
        else "no limiting needed"
    )
    print(
        f"{args.output}: {result.input_lufs:.1f} -> {result.output_lufs:.1f} LUFS "
        f"(gain {result.gain_db:+.2f} dB), true peak {result.output_true_peak_dbtp:.1f} dBTP "
        f"<= {ceiling:.1f}; {limit}"
    )
    if abs(result.output_lufs - target) > 0.5:
        print(
            f"warning: {args.output}: target {target:.1f} LUFS not reached under the {ceiling:.1f} dBTP ceiling "
            f"({result.output_lufs:.1f} LUFS); the audio is too dense to get louder",
            file=sys.stderr,
        )
    return 0


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _with_loudness(bext: Any, result: Any) -> Any:
    if bext is not None:
        bext.loudness_value = result.output_lufs
        bext.max_true_peak_level = result.output_true_peak_dbtp
    return bext


_T = TypeVar("_T")


def _stream_to_wav(
    output: Path,
    n: int,
    sr: int,
    bits: str,
    bext: Any,
    produce: Callable[[Callable[[Any], None]], _T],
    final_bext: Callable[[_T], Any] | None = None,
) -> tuple[_T, int]:
    """Run ``produce(sink)`` with a sink that appends blocks to ``output`` (atomically: a hidden temporary
    file renamed into place at the end); returns its result and the number of samples PCM clipped."""
    import numpy as np

    from triergon_studio.audio.blocks import WavBlockWriter
    from triergon_studio.core.atomic import atomic_path

    clipped = 0
    try:
        with atomic_path(output) as tmp:
            writer = WavBlockWriter(tmp, n, sr, bits=bits, bext=bext)
            try:

                def sink(block: Any) -> None:
                    nonlocal clipped
                    if bits != "32f":
                        clipped += int(np.count_nonzero((np.abs(block) > 1.0).any(axis=-1)))
                    writer.write(block)

                result = produce(sink)
            except BaseException:
                writer.abort()
                raise
            writer.close(final_bext(result) if final_bext is not None else None)
    except OSError as exc:
        raise ExportError(f"cannot write WAV ({exc.strerror or exc})", output) from exc
    return result, clipped


def _warn_clipped(path: Path, n: int, bits: str) -> None:
    """PCM stops at full scale: say so rather than let the printed figures describe audio the file lacks."""
    if n:
        print(
            f"warning: {path}: {n} sample(s) clipped at full scale in {bits}-bit PCM; use --bits 32f to keep "
            f"them",
            file=sys.stderr,
        )


def _bext_of(path: Path, read_bext: Any) -> Any:
    """The input's bext chunk (kept so timecode survives processing), or None."""
    if path.suffix.lower() not in (".wav", ".bwf", ".wave"):
        return None
    try:
        return read_bext(path)
    except AudioFileError:
        return None


def _ranges(idx: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    groups: list[tuple[int, int]] = []
    start = prev = idx[0]
    for i in idx[1:]:
        if i != prev + 1:
            groups.append((start, prev))
            start = i
        prev = i
    groups.append((start, prev))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in groups)
