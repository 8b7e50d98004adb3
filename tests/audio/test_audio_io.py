"""Audio I/O: every readable format, channel handling, resampling, WAV/BWF writing and bad input."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from triergon_studio.audio.io import BextInfo, read_audio, read_bext, resample, to_stereo, write_wav
from triergon_studio.errors import AudioFileError, ExportError

SR = 44100


def _tone(n: int = SR, freq: float = 440.0, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(n) / sr
    return np.stack([amp * np.sin(2 * np.pi * freq * t), 0.5 * amp * np.sin(2 * np.pi * freq * t)], 1)


def _dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * sr / x.size)


@pytest.mark.parametrize("bits, tol", [("16", 2e-5), ("24", 1e-7), ("32f", 0.0)])
def test_wav_round_trip(tmp_path: Path, bits: str, tol: float) -> None:
    x = _tone().astype(np.float32)
    path = write_wav(tmp_path / f"x{bits}.wav", x, SR, bits=bits)
    info = sf.info(str(path))
    assert info.samplerate == SR and info.channels == 2 and info.frames == SR
    assert info.subtype == {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}[bits]
    y, sr = read_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.shape == (SR, 2)
    assert np.abs(y - x).max() <= tol
    assert read_bext(path) is None


def test_write_refuses_overwrite_and_clips(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", np.full((10, 2), 2.0), SR, bits="16")
    with pytest.raises(ExportError, match="already exists"):
        write_wav(path, np.zeros((10, 2)), SR)
    y, _ = read_audio(path)
    assert y.max() == pytest.approx(32767 / 32768)
    write_wav(path, np.zeros((10, 2)), SR, overwrite=True)
    assert read_audio(path)[0].max() == 0.0
    with pytest.raises(ExportError, match="NaN"):
        write_wav(tmp_path / "n.wav", np.array([[np.nan, 0.0]]), SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_bext_round_trip_and_mediainfo(tmp_path: Path) -> None:
    sr = 48000
    # 10:00:00:00 start timecode as samples since midnight
    tr = 10 * 3600 * sr
    info = BextInfo(
        description="FOLEY stem, door slam take 3",
        originator="Tri-Ergon Studio",
        origination_date="2026-11-26",
        origination_time="09:15:30",
        time_reference=tr,
        coding_history="A=PCM,F=48000,W=24,M=stereo",
        loudness_value=-23.0,
        max_true_peak_level=-1.5,
    )
    path = write_wav(tmp_path / "b.wav", _tone(sr, sr=sr), sr, bits="24", bext=info)
    back = read_bext(path)
    assert back == info
    y, rate = read_audio(path)  # the extra chunk does not disturb reading
    assert rate == sr and y.shape == (sr, 2)
    big = write_wav(tmp_path / "big.wav", np.zeros((4, 2)), sr, bext=BextInfo(time_reference=(1 << 33) + 5))
    assert read_bext(big).time_reference == (1 << 33) + 5

    if shutil.which("mediainfo") is None:
        pytest.fail("mediainfo is not installed (scripts/bootstrap.sh installs it)")
    out = subprocess.run(
        ["mediainfo", "--Output=JSON", str(path)], capture_output=True, text=True, check=True
    )
    tracks = {t["@type"]: t for t in json.loads(out.stdout)["media"]["track"]}
    general, audio = tracks["General"], tracks["Audio"]
    assert general["Description"] == info.description
    assert general["Producer"] == info.originator
    assert general["Encoded_Date"].startswith("2026-11-26 09:15:30")
    # mediainfo reports TimeReference as a delay in seconds, sourced from the bext chunk
    assert audio["Delay_Source"] == "Container (bext)"
    assert Fraction(audio["Delay"]) * sr == tr
    assert audio["BitDepth"] == "24" and audio["SamplingRate"] == str(sr)


@pytest.mark.parametrize(
    "fmt, ext, tol",
    [("FLAC", "flac", 1e-4), ("AIFF", "aiff", 1e-4), ("OGG", "ogg", None), ("MP3", "mp3", None)],
)
def test_reads_compressed_and_other_containers(tmp_path: Path, fmt: str, ext: str, tol: float | None) -> None:
    x = _tone(SR // 2, freq=1000.0)
    path = tmp_path / f"t.{ext}"
    subtype = "PCM_16" if fmt in ("FLAC", "AIFF") else None
    sf.write(str(path), x, SR, format=fmt, subtype=subtype)
    y, sr = read_audio(path)
    assert sr == SR and y.shape[1] == 2
    if tol is not None:
        assert y.shape[0] == x.shape[0] and np.abs(y - x).max() < tol
    else:  # lossy: same pitch and level, length within one codec frame of padding
        assert abs(y.shape[0] - x.shape[0]) < 3000
        assert _dominant_freq(y[:, 0], sr) == pytest.approx(1000.0, abs=3)
        assert np.sqrt(np.mean(y[2000:-2000, 0] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
        assert np.sqrt(np.mean(y[2000:-2000, 1] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.05)


def test_reads_audio_track_of_video(tmp_path: Path) -> None:
    import av

    path = tmp_path / "clip.mp4"
    sr = 48000
    x = _tone(sr, freq=500.0, amp=0.4, sr=sr).astype(np.float32)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("aac", rate=sr, layout="stereo")
        for i in range(25):
            img = np.full((48, 64, 3), i * 10, dtype=np.uint8)
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for start in range(0, sr, 1024):
            chunk = np.ascontiguousarray(x[start : start + 1024].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = sr
            for pkt in aus.encode(frame):
                out.mux(pkt)
        for stream in (vs, aus):
            for pkt in stream.encode(None):
                out.mux(pkt)
    y, rate = read_audio(path)
    assert rate == sr and abs(y.shape[0] - sr) < 4096
    assert _dominant_freq(y[:, 0], sr) == pytest.approx(500.0, abs=3)
    ratio = np.sqrt(np.mean(y[4000:-4000, 1] ** 2) / np.mean(y[4000:-4000, 0] ** 2))
    assert ratio == pytest.approx(0.5, rel=0.05)


def test_mono_becomes_dual_mono_and_surround_downmix(tmp_path: Path) -> None:
    mono = np.linspace(-0.5, 0.5, 1000)
    path = tmp_path / "m.wav"
    sf.write(str(path), mono, SR, subtype="FLOAT")
    y, _ = read_audio(path)
    np.testing.assert_allclose(y[:, 0], mono, atol=1e-7)
    np.testing.assert_array_equal(y[:, 0], y[:, 1])
    # 5.1 in WAV order L R C LFE Ls Rs: each channel a distinct constant
    six = np.tile(np.array([0.1, 0.2, 0.3, 0.4, 0.05, 0.06]), (100, 1))
    p6 = tmp_path / "s.wav"
    sf.write(str(p6), six, SR, subtype="FLOAT")
    y6, _ = read_audio(p6)
    g = np.sqrt(0.5)
    np.testing.assert_allclose(y6[0], [0.1 + g * 0.3 + g * 0.05, 0.2 + g * 0.3 + g * 0.06], rtol=1e-6)
    # LFE is dropped: changing it changes nothing
    six2 = six.copy()
    six2[:, 3] = 0.9
    np.testing.assert_allclose(to_stereo(six2), to_stereo(six))
    # 3 channels: centre to both sides at -3 dB
    np.testing.assert_allclose(to_stereo(np.array([[1.0, 0.0, 1.0]]))[0], [1 + g, g], rtol=1e-6)


def test_resample_on_read(tmp_path: Path) -> None:
    x = _tone(SR, freq=1000.0)
    path = tmp_path / "r.wav"
    sf.write(str(path), x, SR, subtype="FLOAT")
    y, sr = read_audio(path, sample_rate=48000)
    assert sr == 48000 and y.shape == (48000, 2)
    assert _dominant_freq(y[:, 0], 48000) == pytest.approx(1000.0, abs=2)
    mid = slice(1000, -1000)
    assert np.sqrt(np.mean(y[mid, 0] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    np.testing.assert_array_equal(resample(x, SR, SR), x.astype(np.float32))


# ------------------------------------------------------------------------------------------- bad input
def _wav_header(rate: int, data_len: int, channels: int = 2) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_len)
    )


def _expect_error(path: Path, fragment: str) -> None:
    with pytest.raises(AudioFileError) as info:
        read_audio(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and fragment in msg


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.wav", "not found")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect_error(p, "empty")


def test_truncated_wav(tmp_path: Path) -> None:
    p = tmp_path / "cut.wav"
    write_wav(p, _tone(), SR, bits="16")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    _expect_error(p, "truncated")


def test_truncated_flac(tmp_path: Path) -> None:
    p = tmp_path / "cut.flac"
    sf.write(str(p), np.random.default_rng(0).uniform(-0.5, 0.5, (SR, 2)), SR, format="FLAC")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    _expect_error(p, "truncated")


def test_corrupt_wav(tmp_path: Path) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunkjunk")
    _expect_error(p, "WAV")


def test_non_audio_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("these are not the samples you are looking for\n" * 20)
    _expect_error(p, "no audio stream")


def test_video_without_audio(tmp_path: Path) -> None:
    import av

    p = tmp_path / "silent.mp4"
    with av.open(str(p), "w") as out:
        vs = out.add_stream("mpeg4", rate=25)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    _expect_error(p, "no audio stream (video without sound")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples(tmp_path: Path, bad: float) -> None:
    x = np.zeros((100, 2), dtype=np.float32)
    x[50, 1] = bad
    p = tmp_path / "nan.wav"
    sf.write(str(p), x, SR, subtype="FLOAT")
    _expect_error(p, "NaN or infinite")


def test_sample_rate_zero(tmp_path: Path) -> None:
    p = tmp_path / "sr0.wav"
    p.write_bytes(_wav_header(0, 400) + b"\0" * 400)
    _expect_error(p, "invalid sample rate 0")


def test_absurd_sample_rate(tmp_path: Path) -> None:
    p = tmp_path / "srbig.wav"
    p.write_bytes(_wav_header(5_000_000, 400) + b"\0" * 400)
    _expect_error(p, "invalid sample rate 5000000")


def test_absurd_sample_rate_in_aiff(tmp_path: Path) -> None:
    # AIFF stores the rate as an 80-bit float, so any rate can appear; libsndfile accepts it, we must not.
    p = tmp_path / "srbig.aiff"
    sf.write(str(p), np.zeros((100, 2)), 44100, format="AIFF")
    raw = bytearray(p.read_bytes())
    idx = raw.find(b"COMM")
    # COMM: id, size(4), channels(2), frames(4), bits(2), rate(10): set exponent for ~2.8 MHz
    rate_at = idx + 8 + 8
    raw[rate_at : rate_at + 2] = struct.pack(">H", 0x4014)
    p.write_bytes(bytes(raw))
    _expect_error(p, "invalid sample rate 2822400")
