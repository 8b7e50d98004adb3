"""Player: the callback's copy/loop/seek/swap logic (no device), and real playback through PulseAudio."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import tracemalloc

import numpy as np
import pytest

from triergon_studio.audio.playback import NoAudioDevice, Player, list_output_devices
from triergon_studio.errors import StudioError

SR = 48000


def _stereo(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, 2)) * 0.2).astype(np.float32)


def _player(buf: np.ndarray) -> Player:
    import sounddevice as sd

    p = Player()
    p.load(buf, SR)
    p._stop_signal = sd.CallbackStop()  # what _open installs
    return p


def test_callback_copies_loops_seeks_and_swaps() -> None:
    import sounddevice as sd

    buf = np.arange(20, dtype=np.float32).reshape(10, 2)
    p = _player(buf)
    out = np.zeros((4, 2), np.float32)
    p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, buf[:4])
    assert p.position_s == 4 / SR
    p.set_loop(5 / SR, 8 / SR)
    p._callback(out, 4, None, None)  # 4..7 then wraps to 5
    np.testing.assert_array_equal(out, buf[[4, 5, 6, 7]])
    p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, buf[[5, 6, 7, 5]])
    p.clear_loop()
    p.seek(1 / SR)
    p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, buf[1:5])
    p.swap_buffer(-buf)  # A/B: same position, other take
    p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, -buf[5:9])
    with pytest.raises(sd.CallbackStop):  # end of buffer: rest silent, stream told to stop
        p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, np.concatenate([-buf[9:10], np.zeros((3, 2), np.float32)]))
    assert p.position_s == 10 / SR
    with pytest.raises(ValueError):
        p.swap_buffer(np.zeros((11, 2)))
    with pytest.raises(ValueError):
        p.set_loop(0.5, 0.1)


def test_callback_does_not_allocate_arrays() -> None:
    p = _player(_stereo(SR))
    out = np.zeros((4096, 2), np.float32)
    p._callback(out, 4096, None, None)  # warm up
    tracemalloc.start()
    for _ in range(8):
        p._callback(out, 4096, None, None)
    _size, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4096  # one block copy would be 32 KiB


def test_mono_load_and_errors() -> None:
    p = Player()
    p.load(np.zeros(100, np.float32), SR)
    assert p._buf.shape == (100, 2) and p.duration_s == 100 / SR
    with pytest.raises(ValueError):
        p.load(np.zeros((0, 2)), SR)
    assert issubclass(NoAudioDevice, StudioError)


def test_unknown_device_is_a_clear_error() -> None:
    p = Player(device="no-such-device-xyz")
    p.load(_stereo(100), SR)
    with pytest.raises(NoAudioDevice, match="no-such-device-xyz"):
        p.play()


def _find(chunk: np.ndarray, signal: np.ndarray) -> tuple[int, float]:
    """Lag and normalised correlation of ``chunk`` inside ``signal`` (1-D)."""
    from scipy.signal import correlate

    c = correlate(signal, chunk, mode="valid", method="fft")
    cs = np.concatenate([[0.0], np.cumsum(signal**2)])
    energy = cs[chunk.size :] - cs[: -chunk.size]
    norm = c / (np.sqrt(np.maximum(energy, 1e-20)) * np.linalg.norm(chunk))
    lag = int(np.argmax(norm))
    return lag, float(norm[lag])


@pytest.mark.audio_device
def test_plays_through_pulseaudio(pulse_sink: str) -> None:
    if shutil.which("parec") is None:
        pytest.fail("parec (pulseaudio-utils) is not installed")
    names = [d["name"] for d in list_output_devices()]
    assert "pulse" in names, names
    seconds = 1.5
    x = _stereo(int(seconds * SR), seed=7)  # independent noise left and right
    cap = subprocess.Popen(
        [
            "parec",
            "-d",
            f"{pulse_sink}.monitor",
            "--format=float32le",
            "--rate=48000",
            "--channels=2",
            "--raw",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=os.environ,
    )
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: cap.stdout.read(9600), b"")), daemon=True
    )
    reader.start()
    player = Player(device="pulse")
    try:
        deadline = time.monotonic() + 15
        while sum(map(len, chunks)) < 48000 * 8 * 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the monitor is delivering before anything plays
        player.load(x, SR)
        start = time.monotonic()
        player.play()
        positions = []
        while player.is_playing and time.monotonic() - start < 20:
            positions.append(player.position_s)
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        grabbed = sum(map(len, chunks))
        while sum(map(len, chunks)) < grabbed + 48000 * 8 * 0.5 and time.monotonic() < deadline + 20:
            time.sleep(0.05)  # half a second more so the tail is in
    finally:
        player.close()
        cap.terminate()
        cap.wait(timeout=10)
        reader.join(timeout=10)
    data = b"".join(chunks)
    assert not player.is_playing
    assert player.position_s == pytest.approx(seconds)  # advanced to the end, frame-exact
    assert all(b >= a for a, b in zip(positions, positions[1:], strict=False))  # never runs backwards
    assert elapsed >= seconds - 0.2  # no faster than real time
    y = np.frombuffer(data[: len(data) // 8 * 8], dtype=np.float32).reshape(-1, 2).astype(np.float64)
    assert y.shape[0] > x.shape[0] // 2, "capture is empty"
    # Find 0.1 s pieces of what was played in the capture, per channel; they must appear in order.
    found, lags = 0, []
    pieces = range(0, x.shape[0] - 4800, 4800)
    for s in pieces:
        lag_l, corr_l = _find(x[s : s + 4800, 0].astype(np.float64), y[:, 0])
        _lag_x, corr_x = _find(x[s : s + 4800, 0].astype(np.float64), y[:, 1])
        lag_r, corr_r = _find(x[s : s + 4800, 1].astype(np.float64), y[:, 1])
        if corr_l > 0.95 and corr_r > 0.95 and abs(lag_l - lag_r) <= 1:
            assert corr_x < 0.3  # left did not leak into right
            found += 1
            lags.append(lag_l - s)
    assert found >= 0.8 * len(pieces), f"only {found}/{len(pieces)} pieces found in the capture"
    assert np.all(np.diff(lags) >= 0)  # offsets only grow (dropouts), never reorder


def test_keep_open_player_plays_silence_until_play_and_never_stops_the_stream() -> None:
    """The app's mode: the stream runs from prime() to close(); play/stop only flip what the callback writes."""
    buf = np.arange(1, 21, dtype=np.float32).reshape(10, 2)
    p = Player(keep_open=True)
    p.load(buf, SR)
    out = np.ones((4, 2), np.float32)
    p._callback(out, 4, None, None)  # primed, not playing: silence, position unchanged
    assert not out.any() and p.position_s == 0.0 and not p.is_playing
    p._running = True  # what play() sets once the stream runs
    p._callback(out, 4, None, None)
    np.testing.assert_array_equal(out, buf[:4])
    p._running = False  # stop(): silence again, position kept
    p._callback(out, 4, None, None)
    assert not out.any() and p.position_s == 4 / SR
    p.seek(8 / SR)
    p._running = True
    p._callback(out, 4, None, None)  # the end of the buffer: the rest silent, no CallbackStop
    np.testing.assert_array_equal(out, np.concatenate([buf[8:], np.zeros((2, 2), np.float32)]))
    assert not p._running and p.position_s == 10 / SR
