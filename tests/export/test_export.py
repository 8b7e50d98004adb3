from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import triergon_studio.audio.io as audio_io
from tests.export.conftest import CLICK_AT, add_click_take
from triergon_studio.audio.export import ExportSettings, export_project
from triergon_studio.audio.reaper import parse_rpp_items
from triergon_studio.core.project import Project
from triergon_studio.core.timecode import picture_samples, timecode_to_samples
from triergon_studio.errors import CancelledError, ExportError
from triergon_studio.video.project_video import new_project


def _wavs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wav"))


@pytest.mark.parametrize("sr, bits, subtype", [(48000, "24", "PCM_24"), (44100, "32f", "FLOAT")])
def test_every_file_is_exactly_picture_length(
    project: Project, tmp_path: Path, sr: int, bits: str, subtype: str
) -> None:
    result = export_project(project, tmp_path / "out", ExportSettings(sample_rate=sr, bits=bits))
    expected = picture_samples(75, Fraction(30000, 1001), sr)
    assert result.picture_samples == expected
    wavs = _wavs(tmp_path / "out")
    assert [w.name for w in wavs] == ["reel1_BG.wav", "reel1_FOLEY.wav", "reel1_FX.wav", "reel1_MIX.wav"]
    for w in wavs:
        info = sf.info(w)
        assert (info.frames, info.samplerate, info.channels, info.subtype) == (expected, sr, 2, subtype)


@pytest.mark.slow
def test_real_odd_rate_picture_length(tmp_path: Path, shared_media: Path) -> None:
    p = new_project(shared_media / "bottle-detection.mp4", tmp_path / "bottle.json")
    p.save()
    add_click_take(p, "hit", "FOLEY", 3.0)
    export_project(p, tmp_path / "out")
    for w in _wavs(tmp_path / "out"):
        assert sf.info(w).frames == picture_samples(1189, Fraction(179, 6), 48000) == 1913028


def test_takes_land_on_their_offsets_after_resampling(project: Project, tmp_path: Path) -> None:
    export_project(project, tmp_path / "out", ExportSettings(sample_rate=48000, bits="32f"))
    foley, _ = sf.read(tmp_path / "out" / "reel1_FOLEY.wav", dtype="float32")
    fx, _ = sf.read(tmp_path / "out" / "reel1_FX.wav", dtype="float32")
    # door: 44.1 kHz take at 0.5 s -> click at 24000 + 1000 * 48000/44100 = 25088.4
    assert abs(int(np.argmax(np.abs(foley[:, 0]))) - 25088) <= 1
    assert int(np.argmax(np.abs(fx[:, 0]))) == 48000 + CLICK_AT  # same rate: sample exact
    assert np.all(foley[:23990] == 0) and np.any(foley[24000:24100] != 0)
    bg, _ = sf.read(tmp_path / "out" / "reel1_BG.wav", dtype="float32")
    assert np.any(bg[-10:] != 0)  # the late take runs to the last sample and is cut there
    assert np.any(bg[:10] != 0)  # the early take's tail is in from sample 0


def test_mix_is_sum_of_audible_lanes(project: Project, tmp_path: Path) -> None:
    project.set_lane_gain("FX", -6.0)
    project.set_lane_mute("BG", True)
    export_project(project, tmp_path / "a", ExportSettings(bits="32f"))
    read = {
        k: sf.read(tmp_path / "a" / f"reel1_{k}.wav", dtype="float32")[0]
        for k in ("FOLEY", "FX", "BG", "MIX")
    }
    assert np.allclose(read["MIX"], read["FOLEY"] + read["FX"], atol=1e-6)
    take = sf.read(project.take_path("id_whoosh"), dtype="float32")[0]  # 48 kHz: no resampling
    assert np.abs(read["FX"]).max() == pytest.approx(np.abs(take).max() * 10 ** (-6 / 20), rel=1e-4)
    project.set_lane_solo("BG", True)
    export_project(project, tmp_path / "b", ExportSettings(bits="32f"))
    mix = sf.read(tmp_path / "b" / "reel1_MIX.wav", dtype="float32")[0]
    assert np.allclose(mix, read["BG"], atol=1e-6)
    report = json.loads((tmp_path / "b" / "reel1_export.json").read_text())
    assert {f["lane"]: f["in_mix"] for f in report["files"] if f["kind"] == "stem"} == {
        "FOLEY": False,
        "FX": False,
        "BG": True,
    }


def test_bext_time_reference_is_start_timecode(project: Project, tmp_path: Path) -> None:
    project.set_start_timecode("01:00:00:00")
    project.set_drop_frame(True)
    result = export_project(project, tmp_path / "out")
    expected = timecode_to_samples("01:00:00;00", "29.97df", 48000)
    assert result.time_reference == expected == 172_799_827  # 107892 frames * 1601.6 samples
    for w in _wavs(tmp_path / "out"):
        bext = audio_io.read_bext(w)
        assert bext is not None and bext.time_reference == expected
        assert bext.originator == "Tri-Ergon Studio" and "reel1" in bext.description
        assert len(bext.origination_date) == 10


def test_report_lists_every_file(project: Project, tmp_path: Path) -> None:
    result = export_project(project, tmp_path / "out", ExportSettings(reaper=True))
    report = json.loads(result.report_path.read_text())
    names = {f["file"] for f in report["files"]}
    assert names == {p.name for p in (tmp_path / "out").iterdir()} - {result.report_path.name}
    assert report["picture_samples"] == result.picture_samples and report["frame_count"] == 75
    for f in report["files"]:
        if f["kind"] in ("stem", "mix"):
            assert f["length_samples"] == result.picture_samples
            assert {"integrated_lufs", "loudness_range_lu", "true_peak_dbtp"} <= f.keys()
    mix = next(f for f in report["files"] if f["kind"] == "mix")
    assert -40 < mix["integrated_lufs"] < 0 and mix["true_peak_dbtp"] <= 0.1


@pytest.mark.parametrize("target, lufs, ceiling", [("r128", -23.0, -1.0), ("stream", -14.0, -1.0)])
def test_normalise_mix_to_target(
    project: Project, tmp_path: Path, target: str, lufs: float, ceiling: float
) -> None:
    from triergon_studio.audio.loudness import measure

    result = export_project(project, tmp_path / "out", ExportSettings(target=target, bits="32f"))
    mix, sr = sf.read(tmp_path / "out" / "reel1_MIX.wav", dtype="float32")
    m = measure(mix, sr)
    assert m.true_peak_dbtp <= ceiling + 0.2
    if not json.loads(result.report_path.read_text())["mix_limited"]:
        assert m.integrated_lufs == pytest.approx(lufs, abs=0.5)
    # Stems got the same gain, so they still sum to the mix where nothing was limited.
    stems = sum(
        sf.read(tmp_path / "out" / f"reel1_{k}.wav", dtype="float32")[0] for k in ("FOLEY", "FX", "BG")
    )
    assert np.corrcoef(stems[:, 0], mix[:, 0])[0, 1] > 0.95


def test_never_overwrites_without_force(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "reel1_MIX.wav").write_bytes(b"keep me")
    with pytest.raises(ExportError, match="force"):
        export_project(project, out)
    assert (out / "reel1_MIX.wav").read_bytes() == b"keep me"
    assert [p.name for p in out.iterdir()] == ["reel1_MIX.wav"]
    export_project(project, out, ExportSettings(force=True))
    assert sf.info(out / "reel1_MIX.wav").frames > 0


def test_interrupted_export_leaves_no_half_written_file(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    export_project(project, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from triergon_studio.audio.blocks import WavBlockWriter

    real = WavBlockWriter.write
    calls = {"n": 0}
    seen: list[int] = []

    def failing(self: WavBlockWriter, block: np.ndarray) -> None:
        if id(self) not in seen:
            seen.append(id(self))
            calls["n"] += 1
        # the third file (written block by block): part of it, then the disk is full
        if calls["n"] == 3:
            self.fh.write(b"\0" * 1000)
            raise OSError(28, "No space left on device")
        real(self, block)

    monkeypatch.setattr(WavBlockWriter, "write", failing)
    project.set_lane_gain("FOLEY", -12.0)
    with pytest.raises(ExportError, match="No space left"):
        export_project(project, out, ExportSettings(force=True))
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # old delivery intact, no temp files left
    fresh = tmp_path / "fresh"
    calls["n"] = 0
    seen.clear()
    with pytest.raises(ExportError):
        export_project(project, fresh)
    assert list(fresh.iterdir()) == []


def test_cancel_leaves_nothing(project: Project, tmp_path: Path) -> None:
    import threading

    cancel = threading.Event()
    seen: list[str] = []

    def progress(msg: str, frac: float) -> None:
        seen.append(msg)
        if len(seen) == 3:
            cancel.set()

    with pytest.raises(CancelledError):
        export_project(project, tmp_path / "out", progress=progress, cancel=cancel)
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_take_file_and_bad_settings(project: Project, tmp_path: Path) -> None:
    project.take_path("id_door").unlink()
    with pytest.raises(ExportError, match="door"):
        export_project(project, tmp_path / "out")
    with pytest.raises(ExportError, match="sample rate"):
        export_project(project, tmp_path / "out", ExportSettings(sample_rate=22050))
    with pytest.raises(ExportError, match="bit depth"):
        export_project(project, tmp_path / "out", ExportSettings(bits="16"))


def _video_packets(path: Path) -> list[tuple[str, str, str]]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "sha256",
            "-show_entries",
            "packet=pts_time,dts_time,size,flags,data_hash",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    packets = json.loads(out)["packets"]
    return [(f"{float(p['pts_time']):.6f}", p["size"], p["data_hash"]) for p in packets]


def _streams(path: Path) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)["streams"]


@pytest.mark.parametrize("container, acodec", [("mp4", "aac"), ("mov", "pcm_s24le")])
def test_review_video_copies_picture_packets(
    project: Project, tmp_path: Path, export_video: Path, container: str, acodec: str
) -> None:
    export_project(project, tmp_path / "out", ExportSettings(mux=container))
    review = tmp_path / "out" / f"reel1_review.{container}"
    streams = _streams(review)
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264" and video[0]["r_frame_rate"] == "30000/1001"
    assert len(audio) == 1 and audio[0]["codec_name"] == acodec and audio[0]["sample_rate"] == "48000"
    assert int(audio[0]["channels"]) == 2
    assert float(audio[0]["duration"]) == pytest.approx(75 * 1001 / 30000, abs=0.03)
    assert _video_packets(review) == _video_packets(export_video)


def test_reaper_project(project: Project, tmp_path: Path, export_video: Path) -> None:
    project.add_marker(1.0, "door slam")
    project.add_region(0.5, 1.5, "walk")
    project.set_lane_mute("BG", True)
    project.set_start_timecode("00:59:58:00")
    result = export_project(project, tmp_path / "out", ExportSettings(reaper=True))
    rpp = (tmp_path / "out" / "reel1.rpp").read_text()
    assert rpp.startswith("<REAPER_PROJECT") and rpp.rstrip().endswith(">")
    assert rpp.count("<") == rpp.count(">") - rpp.count("->")
    assert "TIMEMODE 5 5 -1 29.97 0 0 -1" in rpp and "SAMPLERATE 48000 1 0" in rpp
    assert 'MARKER 1 1 "door slam" 0' in rpp and 'MARKER 2 0.5 "walk" 1' in rpp
    items = parse_rpp_items(rpp)
    assert [i["track"] for i in items] == ["VIDEO", "FOLEY", "FX", "BG"]
    length = result.picture_samples / 48000
    for item in items:
        assert item["position_s"] == 0.0 and item["length_s"] == pytest.approx(length, abs=1e-9)
        assert (tmp_path / "out" / str(item["file"])).resolve().is_file()
    assert items[0]["kind"] == "VIDEO"
    assert (tmp_path / "out" / str(items[0]["file"])).resolve() == export_video.resolve()
    assert "MUTESOLO 1 0 0" in rpp  # BG stays muted in the DAW too
    offs = next(line for line in rpp.splitlines() if line.strip().startswith("PROJOFFS"))
    assert float(offs.split()[1]) == pytest.approx((3600 - 2) * 1.001, abs=1e-6)


def test_vfr_picture_length_is_its_duration(tmp_path: Path) -> None:
    from tests.video.video_factory import make_video

    pts = [0, 40, 80, 200, 240, 500, 533, 566, 1000, 1040]
    video = make_video(tmp_path / "vfr.mp4", len(pts), fps=25, pts_ms=pts)
    p = new_project(video, tmp_path / "vfr.json")
    p.save()
    assert p.video.is_vfr
    result = export_project(p, tmp_path / "out")
    assert result.picture_samples == round(p.duration_s * 48000)
    assert sf.info(tmp_path / "out" / "vfr_MIX.wav").frames == result.picture_samples


def test_reaper_refuses_a_missing_video_and_writes_nothing(tmp_path: Path, export_video: Path) -> None:
    import shutil

    video = tmp_path / "moved.mp4"
    shutil.copy(export_video, video)
    p = new_project(video, tmp_path / "proj" / "reel2.json")
    p.folder.mkdir(parents=True, exist_ok=True)
    add_click_take(p, "door", "FOLEY", 0.5)
    p.save()
    video.unlink()  # the picture went away after the project was made
    with pytest.raises(ExportError, match="relink") as err:
        export_project(p, tmp_path / "out", ExportSettings(reaper=True))
    assert "moved.mp4" in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    result = export_project(p, tmp_path / "out")  # stems alone need no picture file
    assert [f.kind for f in result.files if f.kind in ("stem", "mix")]
