from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triergon_studio.core.timecode import (
    Rate,
    as_fraction,
    frames_to_seconds,
    frames_to_timecode,
    parse_rate,
    picture_samples,
    seconds_to_frame,
    timecode_to_frames,
    timecode_to_samples,
)

DF2997 = Rate(Fraction(30000, 1001), True)
DF5994 = Rate(Fraction(60000, 1001), True)


@pytest.mark.parametrize(
    "text, fps, drop",
    [
        ("23.976", Fraction(24000, 1001), False),
        ("24", Fraction(24), False),
        ("25", Fraction(25), False),
        ("29.97", Fraction(30000, 1001), False),
        ("29.97df", Fraction(30000, 1001), True),
        ("29.97 DF", Fraction(30000, 1001), True),
        ("29.97ndf", Fraction(30000, 1001), False),
        ("30", Fraction(30), False),
        ("50", Fraction(50), False),
        ("59.94", Fraction(60000, 1001), False),
        ("59.94df", Fraction(60000, 1001), True),
        ("60", Fraction(60), False),
        ("30000/1001", Fraction(30000, 1001), False),
        ("179/6", Fraction(179, 6), False),
    ],
)
def test_parse_rate(text: str, fps: Fraction, drop: bool) -> None:
    rate = parse_rate(text)
    assert rate.fps == fps and rate.drop_frame == drop


def test_float_rates_snap_to_ntsc_and_odd_rates_stay() -> None:
    assert as_fraction(29.97) == Fraction(30000, 1001)
    assert as_fraction(23.976) == Fraction(24000, 1001)
    assert as_fraction(12.5) == Fraction(25, 2)
    with pytest.raises(ValueError):
        parse_rate("25df")
    with pytest.raises(ValueError):
        parse_rate("fast")


@pytest.mark.parametrize(
    "frame, tc",
    [
        (0, "00:00:00;00"),
        (1799, "00:00:59;29"),
        (1800, "00:01:00;02"),
        (1801, "00:01:00;03"),
        (3597, "00:01:59;29"),
        (3598, "00:02:00;02"),
        (17981, "00:09:59;29"),
        (17982, "00:10:00;00"),
        (17983, "00:10:00;01"),
        (19782, "00:11:00;02"),
        (107892, "01:00:00;00"),
        (2589407, "23:59:59;29"),
    ],
)
def test_drop_frame_2997_known_vectors(frame: int, tc: str) -> None:
    assert frames_to_timecode(frame, DF2997) == tc
    assert timecode_to_frames(tc, DF2997) == frame


@pytest.mark.parametrize(
    "frame, tc",
    [
        (3599, "00:00:59;59"),
        (3600, "00:01:00;04"),
        (35964, "00:10:00;00"),
        (215784, "01:00:00;00"),
    ],
)
def test_drop_frame_5994_known_vectors(frame: int, tc: str) -> None:
    assert frames_to_timecode(frame, DF5994) == tc
    assert timecode_to_frames(tc, DF5994) == frame


def test_drop_frame_rejects_skipped_numbers() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frames("00:01:00;00", DF2997)
    assert timecode_to_frames("00:10:00;00", DF2997) == 17982


def test_drop_frame_hour_matches_wall_clock() -> None:
    # One hour of DF timecode is 107892 frames = 3599.9964 s: within 4 ms of a real hour.
    assert abs(frames_to_seconds(107892, DF2997.fps) - 3600) < Fraction(4, 1000)


@pytest.mark.parametrize(
    "rate", ["23.976", "24", "25", "29.97", "29.97df", "30", "50", "59.94", "59.94df", "60", "179/6", "25/2"]
)
def test_round_trip_over_a_range(rate: str) -> None:
    r = parse_rate(rate)
    for frame in list(range(0, 20000, 7)) + [107892, 215783, 999999]:
        assert timecode_to_frames(frames_to_timecode(frame, r), r) == frame


@given(
    st.integers(min_value=0, max_value=24 * 3600 * 30 - 1000), st.sampled_from(["29.97df", "59.94df", "25"])
)
def test_round_trip_property(frame: int, rate: str) -> None:
    r = parse_rate(rate)
    if frame >= 24 * 3600 * r.nominal * 0.99:
        return
    assert timecode_to_frames(frames_to_timecode(frame, r), r) == frame


def test_non_drop_at_fractional_rate_counts_nominal_frames() -> None:
    assert frames_to_timecode(1800, "29.97") == "00:01:00:00"
    assert frames_to_timecode(24 * 3600 + 5, "23.976") == "01:00:00:05"
    assert frames_to_timecode(29, Fraction(179, 6)) == "00:00:00:29"  # odd file rate, nominal base 30
    with pytest.raises(ValueError):
        timecode_to_frames("00:00:00:30", "29.97")
    with pytest.raises(ValueError):
        timecode_to_frames("10 o'clock", "25")


def test_seconds_and_frames() -> None:
    fps = Fraction(30000, 1001)
    assert frames_to_seconds(30, fps) == Fraction(1001, 1000)
    assert seconds_to_frame(Fraction(1001, 1000), fps) == 30
    assert seconds_to_frame(Fraction(1000, 1000), fps) == 29
    assert seconds_to_frame(1.0, 25) == 25


def test_picture_samples_exact() -> None:
    assert picture_samples(1189, Fraction(179, 6), 48000) == 1913028  # 1189*48000*6/179 = 1913027.93
    assert picture_samples(377, Fraction(25, 2), 48000) == 1447680
    assert picture_samples(17982, Fraction(30000, 1001), 48000) == 28799971  # 28799971.2
    assert picture_samples(300, Fraction(25), 44100) == 529200
    assert picture_samples(1, Fraction(24000, 1001), 48000) == 2002
    # 10 frames at 29.97 and 44.1 kHz = 14714.7 -> 14715 (a float computation is not trusted here)
    assert picture_samples(10, Fraction(30000, 1001), 44100) == 14715


def test_picture_samples_rounds_ties_up() -> None:
    # 5 frames at 2 fps at 1 Hz is 2.5 samples: half-up gives 3 (half-even would give 2).
    assert picture_samples(5, Fraction(2), 1) == 3
    assert picture_samples(1, Fraction(2), 1) == 1
    assert picture_samples(3, Fraction(2), 1) == 2


def test_timecode_to_samples_since_midnight() -> None:
    assert timecode_to_samples("01:00:00:00", "25", 48000) == 3600 * 48000
    # 01:00:00;00 DF is 107892 frames -> 3599.9964 s
    assert timecode_to_samples("01:00:00;00", "29.97df", 48000) == picture_samples(107892, DF2997.fps, 48000)
    assert timecode_to_samples("01:00:00:00", "29.97", 48000) == 172972800  # 108000 * 1.001 * 48000


def test_rate_json_round_trip() -> None:
    assert Rate.from_json(DF2997.to_json()) == DF2997
    assert str(DF2997) == "30000/1001 DF"
