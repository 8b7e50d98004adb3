"""generate through the CLI on real and synthetic video: exact picture length to the sample, every prompt
kind, variations, samplers, curves from predict-lufs / measure, conform, and a video over 60 s."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli_helpers import GEN, exact_samples, fails_cleanly, make_video, ok, wav_frames


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gen")


def test_video_length_is_exact_on_odd_rate(shared_media: Path, work: Path) -> None:
    video = shared_media / "bottle-detection.mp4"
    info = json.loads(ok("probe", video).out)
    fps = Fraction(info["fps_num"], info["fps_den"])
    assert fps == Fraction(179, 6) and info["frame_count"] == 1189
    out = work / "bottle.wav"
    ok(*GEN, video, "-o", out)
    assert wav_frames(out) == (exact_samples(1189, fps, 44100), 44100, 2)
    assert wav_frames(out)[0] == 1757594


@pytest.mark.slow
def test_video_with_audio_track(shared_media: Path, work: Path) -> None:
    video = shared_media / "car-detection.mp4"
    info = json.loads(ok("probe", video).out)
    assert info["has_audio"] is True
    out = work / "car.wav"
    ok(*GEN, video, "--text", "a car passes", "-o", out)
    n = exact_samples(info["frame_count"], Fraction(info["fps_num"], info["fps_den"]), 44100)
    assert wav_frames(out)[0] == n


def test_duration_text_ref_variations(work: Path) -> None:
    ref = work / "ref.wav"
    sf.write(ref, 0.1 * np.random.default_rng(0).standard_normal((22050, 2)), 22050)
    out = work / "d73.wav"
    r = ok(
        *GEN, "--duration", "7.3", "--text", "glass clink", "--ref-audio", ref, "--variations", "2", "-o", out
    )
    assert wav_frames(out) == (321930, 44100, 2)
    second = work / "d73-2.wav"
    assert wav_frames(second) == (321930, 44100, 2)
    assert "task id 6" in r.out  # text + audio prompts
    assert not np.array_equal(sf.read(out)[0], sf.read(second)[0])  # seeds 1 and 2


@pytest.mark.parametrize(
    "sampler",
    [
        pytest.param("euler", marks=pytest.mark.slow),
        pytest.param("ddim", marks=pytest.mark.slow),
        "dpmpp-2m",
        pytest.param("dpmpp-3m-sde", marks=pytest.mark.slow),
    ],
)
def test_each_sampler(work: Path, sampler: str) -> None:
    out = work / f"s_{sampler}.wav"
    ok(*GEN, "--duration", "1.01", "--sampler", sampler, "-o", out, inproc=True)
    assert wav_frames(out)[0] == round(1.01 * 44100)
    assert np.isfinite(sf.read(out)[0]).all()


def test_curves_contract_between_commands(work: Path) -> None:
    """predict-lufs -> generate --curves --conform; measure --curves -> conform --curves; --curves-from.
    The video (12.5 fps, 3 s) carries its own audio track."""
    video = make_video(work / "short_av.mp4", 3.0, fps=Fraction(25, 2), audio=True)
    info = json.loads(ok("probe", video).out)
    assert info["has_audio"] is True and Fraction(info["fps_num"], info["fps_den"]) == Fraction(25, 2)
    curves = work / "pred.json"
    ok("predict-lufs", video, "--model", "tiny-random", "-o", curves, inproc=True)
    doc = json.loads(curves.read_text())
    assert (
        doc["format"] == "triergon-curves" and doc["version"] == 1 and len(doc["left"]) == len(doc["right"])
    )
    out = work / "conformed.wav"
    ok(*GEN, video, "--curves", curves, "--conform", "-o", out, inproc=True)
    n = exact_samples(info["frame_count"], Fraction(25, 2), 44100)
    assert wav_frames(out)[0] == n

    measured = work / "measured.json"
    m = json.loads(ok("measure", out, "--json", "--curves", measured).out)
    assert m["sample_rate"] == 44100 and m["channels"] == 2
    assert json.loads(measured.read_text())["source"] == "measured"
    conf2 = work / "conf2.wav"
    ok("conform", out, "--curves", curves, "-o", conf2)
    ok("conform", out, "--curves", measured, "-o", work / "conf3.wav")
    assert wav_frames(conf2)[0] == n
    # curves of another length are refused (as conform does) unless --fit-curves stretches them (issue 15)
    assert "--fit-curves" in fails_cleanly(
        *GEN,
        "--duration",
        "2",
        "--curves",
        measured,
        "-o",
        work / "x.wav",
        names="measured.json",
        inproc=True,
    )
    ok(
        *GEN,
        "--duration",
        "2",
        "--curves",
        measured,
        "--fit-curves",
        "-o",
        work / "from_measured.wav",
        inproc=True,
    )
    ok(
        *GEN,
        "--duration",
        "2",
        "--curves-from",
        out,
        "--fit-curves",
        "--conform",
        "-o",
        work / "curves_from.wav",
        inproc=True,
    )
    assert wav_frames(work / "curves_from.wav")[0] == 88200
    norm = work / "norm.wav"
    ok("normalize", conf2, "--target", "r128", "-o", norm)
    assert abs(json.loads(ok("measure", norm, "--json").out)["integrated_lufs"] + 23.0) < 0.1


@pytest.mark.slow
def test_video_over_60_s_is_exact(work: Path) -> None:
    video = make_video(work / "long70.mp4", 70.0, fps=6)
    info = json.loads(ok("probe", video).out)
    assert info["frame_count"] == 420
    out = work / "long.wav"
    r = ok(*GEN, video, "-o", out)
    assert "chunk 2/2" in r.err
    assert wav_frames(out)[0] == exact_samples(420, Fraction(6), 44100) == 3087000
