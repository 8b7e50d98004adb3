"""The procedural corpus: determinism, coverage, timing, and that the picture drives the sound."""

from __future__ import annotations

import time

import numpy as np
import pytest

from triergon_studio.training.corpus import CLASS_NAMES, TEMPLATES, CorpusConfig, make_example
from triergon_studio.training.corpus.dsp import CTRL_RATE
from triergon_studio.training.eval.av_align import audio_peaks


def test_same_seed_same_example_and_different_index_differs() -> None:
    a = make_example(5, 11, duration_s=3.0)
    b = make_example(5, 11, duration_s=3.0)
    c = make_example(5, 12, duration_s=3.0)
    assert a.label == b.label and a.caption == b.caption
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.video.frame(7), b.video.frame(7))
    assert not (c.label == a.label and c.audio.shape == a.audio.shape and np.allclose(c.audio, a.audio))


def test_a_sound_redraw_keeps_the_picture_and_changes_only_the_hidden_sound_draws() -> None:
    """``sound_redraw`` gives the same video, caption and events with another sound track; each redraw is
    its own and repeatable."""
    a = make_example(5, 11, duration_s=3.0)
    b = make_example(5, 11, duration_s=3.0, sound_redraw=0)
    c = make_example(5, 11, duration_s=3.0, sound_redraw=1)
    assert a.caption == b.caption and a.label == b.label
    np.testing.assert_array_equal(a.events, b.events)
    for k in (0, a.video.n_frames // 2, a.video.n_frames - 1):
        np.testing.assert_array_equal(a.video.frame(k), b.video.frame(k))
    assert a.audio.shape == b.audio.shape == c.audio.shape
    assert not np.allclose(a.audio, b.audio) and not np.allclose(b.audio, c.audio)
    np.testing.assert_array_equal(b.audio, make_example(5, 11, duration_s=3.0, sound_redraw=0).audio)


@pytest.mark.parametrize("label", CLASS_NAMES)
def test_every_class_makes_legal_stereo_matching_the_picture_length(label: str) -> None:
    ex = make_example(3, 1, label=label, duration_s=1.5)
    n_expected = round(ex.video.n_frames * 44100 / ex.fps)
    assert ex.audio.shape == (n_expected, 2) and ex.audio.dtype == np.float32
    assert np.isfinite(ex.audio).all() and np.abs(ex.audio).max() <= 1.0
    assert np.sqrt(np.mean(ex.audio.astype(np.float64) ** 2)) > 1e-4, "silent example"
    assert 224 <= ex.video.width <= 640 and 224 <= ex.video.height <= 640
    assert 6 <= float(ex.fps) <= 30
    img = ex.video.frame(ex.video.n_frames // 2)
    assert img.shape == (ex.video.height, ex.video.width, 3) and img.dtype == np.uint8
    small = ex.video.frames([0, 1], size=(64, 48))
    assert small.shape == (2, 48, 64, 3)
    assert ex.caption and ex.seconds_start == 0.0 and abs(ex.seconds_total - ex.duration_s) < 1e-9


def test_corpus_has_many_classes_and_caption_templates_with_held_out_paraphrases() -> None:
    assert len(CLASS_NAMES) >= 16
    for name in CLASS_NAMES:
        spec = TEMPLATES[name]
        assert len(spec["train"]) >= 5 and len(spec["heldout"]) >= 1
        assert not set(spec["train"]) & set(spec["heldout"])
    seen_train = {make_example(1, i).template for i in range(6)}
    assert seen_train
    ex = make_example(1, 0, CorpusConfig(heldout_captions=True), label="rain")
    assert ex.caption_heldout
    train_texts = {make_example(1, i, label="rain").caption for i in range(40)}
    assert ex.caption not in train_texts or "heldout" in ex.caption


def test_lengths_and_rates_vary_over_the_stream() -> None:
    cfg = CorpusConfig(max_seconds=12.0)
    exs = [make_example(9, i, cfg) for i in range(12)]
    assert len({float(e.fps) for e in exs}) >= 3
    assert len({e.video.width for e in exs}) >= 3
    assert min(e.duration_s for e in exs) >= 0.9 and max(e.duration_s for e in exs) <= 12.5


def test_ten_second_example_is_fast() -> None:
    make_example(0, 0, duration_s=1.0)  # warm imports
    t0 = time.perf_counter()
    for label in ("rain", "impact_metal", "footsteps_gravel"):
        make_example(4, 2, label=label, duration_s=10.0)
    per = (time.perf_counter() - t0) / 3
    assert per < 1.5, f"{per:.2f} s per 10 s example"


def test_impacts_sound_when_the_object_lands() -> None:
    ex = make_example(21, 4, label="impact_wood", duration_s=6.0)
    assert len(ex.events) >= 3
    onsets = audio_peaks(ex.audio, 44100)
    hits = sum(np.any(np.abs(onsets - e) < 0.06) for e in ex.events)
    assert hits >= 0.7 * len(ex.events), (ex.events, onsets)
    # the object's picture changes where it lands: the rendered frame moves between event frames
    fps = float(ex.fps)
    k = int(ex.events[0] * fps)
    assert np.abs(ex.video.frame(max(k - 2, 0)).astype(int) - ex.video.frame(k).astype(int)).sum() > 0


def test_pan_follows_the_on_screen_position() -> None:
    ex = make_example(8, 2, label="whoosh", duration_s=8.0)
    x = ex.video.script.x
    hop = 4410  # 100 ms windows
    n = len(ex.audio) // hop
    e = (ex.audio[: n * hop].astype(np.float64) ** 2).reshape(n, hop, 2).sum(1)
    loud = e.sum(1) > 0.05 * e.sum(1).max()
    balance = (e[:, 1] - e[:, 0]) / (e.sum(1) + 1e-12)
    xs = np.interp((np.arange(n) + 0.5) * 0.1 * CTRL_RATE, np.arange(len(x)), x)
    r = np.corrcoef(balance[loud], xs[loud])[0, 1]
    assert r > 0.6, r


def test_size_drives_loudness() -> None:
    ex = make_example(2, 6, label="footsteps_snow", duration_s=8.0)
    size = ex.video.script.size
    ev = ex.events
    peaks = []
    for e in ev:
        i = int(e * 44100)
        peaks.append(np.abs(ex.audio[i : i + 4410]).max())
    s = np.interp(ev * CTRL_RATE, np.arange(len(size)), size)
    if np.ptp(s) > 0.1:
        assert np.corrcoef(s, peaks)[0, 1] > 0.3
    else:  # a figure at constant depth: steps stay within a few dB of each other
        assert np.ptp(20 * np.log10(np.array(peaks) + 1e-9)) < 12
