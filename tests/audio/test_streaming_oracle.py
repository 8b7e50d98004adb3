"""Streamed conform, normalise and export against the whole-array paths they replace (kept as the oracle):
the same samples for block sizes of 1 s, 4096 and 997 samples, bit for bit, and memory that does not grow with
the length."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from triergon_studio.audio.blocks import ArraySource, open_source
from triergon_studio.audio.conform import conform_to_curve
from triergon_studio.audio.conform_stream import conform_source
from triergon_studio.audio.io import _pcm_bytes, read_audio, write_wav
from triergon_studio.audio.normalize import normalize
from triergon_studio.audio.normalize_stream import normalize_source
from triergon_studio.core.curves import CURVE_RATE_HZ, LoudnessCurve

BLOCKS = [None, 4096, 997]  # None: one second


def _programme(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(sr * seconds) + 123  # not a whole number of frames or blocks
    ride = np.linspace(0.05, 1.0, n)[:, None] * (0.6 + 0.4 * np.sin(np.arange(n) / sr * 5.0))[:, None]
    x = rng.standard_normal((n, 2)) * 0.08 * ride
    x[n // 3 : n // 3 + 40] = 0.95  # a burst the limiter has to catch
    x[: sr // 5] = 0.0  # silence: held gains
    return x.astype(np.float32)


def _curve(n: int, sr: int) -> LoudnessCurve:
    frames = int(math.ceil(n / (sr / CURVE_RATE_HZ)))
    t = np.arange(frames)
    return LoudnessCurve(-22.0 + 6.0 * np.sin(t / 4.0), -26.0 + 4.0 * np.cos(t / 5.0), n / sr, CURVE_RATE_HZ)


@pytest.mark.parametrize("sr", [48000, 44100])
@pytest.mark.parametrize("block", BLOCKS)
def test_conform_streamed_equals_the_whole_array(sr: int, block: int | None) -> None:
    audio = _programme(sr, 2.5)
    curve = _curve(audio.shape[0], sr)
    ref = conform_to_curve(audio, sr, curve)
    outs: list[np.ndarray] = []
    plan = conform_source(ArraySource(audio, sr), curve, outs.append, block=block or sr)
    got = np.concatenate(outs)
    assert got.dtype == np.float32 and np.array_equal(got, ref.audio)
    assert np.array_equal(plan.gain_db, ref.gain_db) and np.array_equal(plan.measured, ref.measured)
    assert plan.mae_lu == ref.mae_lu and np.array_equal(plan.unmet_frames, ref.unmet_frames)


@pytest.mark.parametrize(("target", "ceiling"), [(-30.0, -1.0), (-9.0, -1.0)])
@pytest.mark.parametrize("block", BLOCKS)
def test_normalise_streamed_equals_the_whole_array(target: float, ceiling: float, block: int | None) -> None:
    sr = 48000
    audio = _programme(sr, 2.0, seed=1)
    ref = normalize(audio, sr, target, ceiling)
    outs: list[np.ndarray] = []
    st = normalize_source(ArraySource(audio, sr), target, ceiling, outs.append, block=block or sr)
    assert np.array_equal(np.concatenate(outs), ref.audio)
    assert st.limited == ref.limited and st.limited == (target == -9.0)
    assert (st.gain_db, st.input_lufs, st.output_lufs) == (ref.gain_db, ref.input_lufs, ref.output_lufs)
    assert st.max_gain_reduction_db == ref.max_gain_reduction_db
    assert st.output_true_peak_dbtp == pytest.approx(ref.output_true_peak_dbtp, abs=1e-12)


def _data_chunk(path: Path) -> bytes:
    raw = path.read_bytes()
    at = raw.index(b"data")
    size = int.from_bytes(raw[at + 4 : at + 8], "little")
    return raw[at + 8 : at + 8 + size]


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_cli_conform_and_normalize_write_the_whole_array_bytes(tmp_path: Path, suffix: str) -> None:
    """The files the commands write hold today's bytes: ``write_wav`` of the in-memory result (a FLAC input
    is decoded once into a scratch file, which is removed)."""
    from tests.integration.cli_helpers import cli_inproc

    sr = 48000
    audio = _programme(sr, 1.5, seed=2)
    src = tmp_path / f"in{suffix}"
    sf.write(src, audio, sr, subtype="PCM_24")
    curves = tmp_path / "c.json"
    _curve(audio.shape[0], sr).save(curves)
    x, _ = read_audio(src)
    for cmd, extra, ref in (
        ("conform", ["--curves", curves], conform_to_curve(x, sr, LoudnessCurve.load(curves)).audio),
        ("normalize", ["--target", "-12"], normalize(x, sr, -12.0, -1.0).audio),
    ):
        out = tmp_path / f"{cmd}.wav"
        r = cli_inproc(cmd, src, *extra, "-o", out)
        assert r.rc == 0, r.err
        oracle = tmp_path / f"{cmd}_oracle.wav"
        write_wav(oracle, ref, sr, bits="24")
        assert _data_chunk(out) == _data_chunk(oracle)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ---- export ----------------------------------------------------------------------------------------------
@pytest.fixture
def shaped_project(tmp_path: Path) -> object:
    """Takes at 44.1 kHz (resampled) and 48 kHz, trims, fades, gains, a muted lane, takes past both ends."""
    from fractions import Fraction

    from tests.export.conftest import add_click_take
    from triergon_studio.core.project import Project

    p = Project(tmp_path / "proj" / "reel.json")  # no video: 60 frames at 25 fps
    p.fps, p.frame_count, p.duration_s = Fraction(25), 60, 2.4
    p.add_lane("AMB")
    p.folder.mkdir(parents=True, exist_ok=True)
    for name, lane, at, rate in (
        ("door", "FOLEY", 0.3, 44100),
        ("whoosh", "FX", 1.0, 48000),
        ("late", "BG", 2.2, 44100),
        ("early", "BG", -0.2, 48000),
        ("muted", "AMB", 1.5, 48000),
    ):
        add_click_take(p, name, lane, at, sr=rate)
    for ln in p.lanes:
        for item in ln.items:
            if item.take_id == "id_door":
                p.edit_item(item.id, trim_in_s=0.01, trim_out_s=0.45, fade_in_s=0.05, fade_out_s=0.13)
                p.move_item(item.id, gain_db=5.0)
            if item.take_id == "id_late":
                p.edit_item(item.id, fade_in_s=0.2, fade_out_s=0.3)
    p.set_lane_gain("FX", 9.0)
    p.set_lane_mute("AMB", True)  # a stem outside the mix
    return p


def _oracle(project: object, sr: int, target: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """Today's in-memory export: render_lanes, the mix, normalize, the stems times the mix gain."""
    from triergon_studio.audio.export import audible_lanes, render_lanes

    n = project.picture_samples(sr)  # type: ignore[attr-defined]
    lanes = render_lanes(project, sr, n)  # type: ignore[arg-type]
    mix = np.zeros((n, 2), np.float32)
    for name in audible_lanes(project):  # type: ignore[arg-type]
        mix += lanes[name]
    if target is not None and np.any(mix):
        res = normalize(mix, sr, *target)
        mix = np.asarray(res.audio, np.float32)
        g = np.float32(10 ** (float(res.gain_db) / 20))
        lanes = {k: v * g for k, v in lanes.items()}
    return {**lanes, "MIX": mix}


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize(
    ("bits", "target"), [("24", "none"), ("32f", "none"), ("24", "r128"), ("32f", "custom")]
)
def test_export_streamed_equals_the_whole_array(
    shaped_project: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block: int | None,
    bits: str,
    target: str,
) -> None:
    from triergon_studio.audio import export_write
    from triergon_studio.audio.export import ExportSettings, export_project
    from triergon_studio.audio.loudness import measure
    from triergon_studio.audio.normalize import PRESETS

    sr = 48000
    if block is not None:
        monkeypatch.setattr(export_write, "BLOCK_FRAMES", block)
    custom = (-8.0, -2.0)  # loud enough that the limiter acts
    settings = ExportSettings(
        sample_rate=sr, bits=bits, target=target, target_lufs=custom[0], true_peak_dbtp=custom[1]
    )
    result = export_project(shaped_project, tmp_path / "out", settings)  # type: ignore[arg-type]
    report = json.loads(result.report_path.read_text())
    goal = None if target == "none" else (custom if target == "custom" else PRESETS[target])
    want = _oracle(shaped_project, sr, goal)
    if target == "custom":
        assert report["mix_limited"]
    entries = {f.get("lane", "MIX"): f for f in report["files"] if f["kind"] in ("stem", "mix")}
    for name, audio in want.items():
        path = tmp_path / "out" / f"reel_{name}.wav"
        if bits == "24":
            clipped = np.clip(audio, -1.0, 1.0)
            assert _data_chunk(path) == _pcm_bytes(clipped, "24")[0], name
            assert entries[name]["clipped_samples"] == int(np.count_nonzero((np.abs(audio) > 1).any(axis=1)))
        else:
            clipped = audio
            assert np.array_equal(sf.read(path, dtype="float32")[0], audio), name
        m = measure(clipped, sr)
        expect = round(m.integrated_lufs, 2) if math.isfinite(m.integrated_lufs) else None
        assert entries[name]["integrated_lufs"] == expect
        assert entries[name]["true_peak_dbtp"] == (
            round(m.true_peak_dbtp, 2) if math.isfinite(m.true_peak_dbtp) else None
        )
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


# ---- memory ----------------------------------------------------------------------------------------------
def test_memory_does_not_grow_with_the_length(tmp_path: Path) -> None:
    """4 min of 8 kHz stereo (1.9 M frames; the whole-array conform holds several float64 copies, about
    100 MB): conform and normalise read it in blocks and stay within a few blocks of traced allocations."""
    sr = 8000
    wav = tmp_path / "long.wav"
    rng = np.random.default_rng(3)
    with sf.SoundFile(str(wav), "w", sr, 2, subtype="PCM_16") as fh:
        for _ in range(24):
            fh.write((0.1 * rng.standard_normal((80000, 2))).astype(np.float32))
    with open_source(wav) as src:
        n = src.n
        curve = LoudnessCurve(np.full(1440, -25.0), np.full(1440, -25.0), n / sr, CURVE_RATE_HZ)
        conform_source(src, curve, iterations=1)  # warm the imports and caches
        tracemalloc.start()
        try:
            conform_source(src, curve, lambda b: None, iterations=2)
            _, peak_conform = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            normalize_source(src, -30.0, -1.0, lambda b: None)
            _, peak_norm = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak_conform < 24 * 2**20, f"conform peaked at {peak_conform / 2**20:.0f} MiB for 4 min"
    assert peak_norm < 24 * 2**20, f"normalise peaked at {peak_norm / 2**20:.0f} MiB for 4 min"
