"""Transport clock and keys, and the threaded frame provider, on a real video."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import pytest

from triergon_studio.ui.transport import Transport
from triergon_studio.ui.video_view import FrameProvider, VideoView


def test_step_home_end_and_bounds(qtbot) -> None:
    t = Transport(Fraction(25), 4.0)
    t.step(1)
    assert t.frame_index == 1 and t.position_s == pytest.approx(0.04)
    t.step(-5)
    assert t.position_s == 0.0
    t.end()
    assert t.frame_index == 99
    t.step(1)
    assert t.frame_index == 99  # never past the last frame
    t.home()
    assert t.position_s == 0.0


def test_wall_clock_play_and_stop_at_end(qtbot) -> None:
    t = Transport(Fraction(25), 0.3)
    with qtbot.waitSignal(t.playing_changed, timeout=2000):
        t.play()
    assert t.playing
    qtbot.waitUntil(lambda: not t.playing, timeout=3000)
    assert t.position_s == pytest.approx(t.last_frame_time)


def test_jkl_shuttle_rates(qtbot) -> None:
    t = Transport(Fraction(25), 60.0)
    t.seek(30.0)
    t.shuttle_forward()
    assert t.rate == 1.0
    t.shuttle_forward()
    t.shuttle_forward()
    assert t.rate == 4.0
    t.pause()
    assert not t.playing
    t.shuttle_back()
    t.shuttle_back()
    assert t.rate == -2.0
    t0 = t.position_s
    qtbot.wait(150)
    assert t.position_s < t0  # backwards on the wall clock
    t.stop()


def test_loop_region_wraps(qtbot) -> None:
    t = Transport(Fraction(25), 10.0)
    t.set_loop(1.0, 1.2)
    t.set_looping(True)
    t.seek(1.0)
    positions: list[float] = []
    t.tick.connect(positions.append)
    t.play()
    qtbot.wait(500)
    t.stop()
    assert max(positions) < 1.25 and min(positions) >= 1.0
    assert any(b < a for a, b in zip(positions, positions[1:], strict=False))  # it wrapped at least once


def test_frame_provider_decodes_off_the_ui_thread(qtbot, small_video) -> None:
    from triergon_studio.video.reader import VideoReader

    threads: set[int] = set()

    class Recording(VideoReader):
        def frame_at_index(self, index: int):  # noqa: ANN201
            threads.add(threading.get_ident())
            return super().frame_at_index(index)

    provider = FrameProvider(small_video, cache_size=8, reader_factory=Recording)
    try:
        view = VideoView()
        qtbot.addWidget(view)
        view.resize(400, 240)
        view.show()
        view.set_provider(provider)
        assert provider.request(10) is None  # not cached yet: decoded in the background
        with qtbot.waitSignal(provider.frame_ready, timeout=5000) as sig:
            pass
        assert sig.args[0] == 10
        img = sig.args[1]
        assert (img.width(), img.height()) == (320, 180)
        assert threading.get_ident() not in threads and len(threads) == 1
        qtbot.waitUntil(lambda: provider.cached(11) is not None, timeout=5000)  # read-ahead
        # The moving box is further right in a later frame: the right frame was decoded.
        view.show_frame(10)
        qtbot.waitUntil(lambda: view.current_index == 10, timeout=3000)
        for i in range(30):
            provider.request(i)
        qtbot.wait(300)
        assert len(provider._cache) <= 8  # the LRU cache stays small
    finally:
        provider.close()


def test_frame_content_matches_index(qtbot, small_video) -> None:
    provider = FrameProvider(small_video)
    try:
        got = {}
        provider.frame_ready.connect(lambda i, img: got.setdefault(i, img))
        for index in (5, 80):
            provider.request(index)
            qtbot.waitUntil(lambda index=index: index in got, timeout=5000)

        def box_x(img) -> int:  # noqa: ANN001
            y = img.height() // 2
            xs = [x for x in range(img.width()) if img.pixelColor(x, y).blue() > 200]
            return xs[0]

        assert box_x(got[5]) < box_x(got[80])
    finally:
        provider.close()


def test_timeline_scrub_drag_moves_playhead(window, view_mouse, qtbot) -> None:
    ruler = window.timeline.ruler
    vb = ruler.getViewBox()
    window.timeline.set_duration(window.project.duration_s)
    m = view_mouse(ruler, vb)
    m.drag([(0.5, 0.5), (1.5, 0.5), (2.0, 0.5)])
    assert window.transport.position_s == pytest.approx(2.0, abs=0.05)
    assert window.transport_bar.timecode.text() == "00:00:02:00"
    qtbot.waitUntil(lambda: window.video_view.current_index == 50, timeout=5000)
    start = time.monotonic()
    window.transport.step(1)
    assert window.transport.frame_index == 51 and time.monotonic() - start < 0.05
