"""Manifest builder on clips made here with PyAV (with and without audio) and on ../shared/media."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from triergon_studio.errors import StudioError
from triergon_studio.training.manifest import build_manifest, hash_split, read_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
SR = 44100


def make_clip(path: Path, seconds: float, fps: int = 12, audio: np.ndarray | None = None) -> None:
    import av

    n = int(seconds * fps)
    with av.open(str(path), "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        ast = None
        if audio is not None:
            ast = c.add_stream("aac", rate=SR, layout="stereo")
        for i in range(n):
            img = np.full((64, 96, 3), (i * 7) % 255, np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if ast is not None and audio is not None:
            hop = 1024
            for k in range(0, len(audio) - hop + 1, hop):
                fr = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(audio[k : k + hop].T), format="fltp", layout="stereo"
                )
                fr.sample_rate = SR
                fr.pts = k
                fr.time_base = Fraction(1, SR)
                for p in ast.encode(fr):
                    c.mux(p)
            for p in ast.encode():
                c.mux(p)


def tone(seconds: float, left_db: float, right_db: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    s = np.sin(2 * np.pi * 1000 * t)
    return np.stack([s * 10 ** (left_db / 20), s * 10 ** (right_db / 20)], 1).astype(np.float32)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    make_clip(d / "door.mp4", 3.0, audio=tone(3.0, -12.0, -32.0))
    (d / "door.txt").write_text("a door slams\n")
    make_clip(d / "silent_pic.mp4", 2.0)
    (d / "silent_pic.txt").write_text("nothing to hear")
    make_clip(d / "uncaptioned.mp4", 2.5, fps=8, audio=tone(2.5, -20.0, -20.0))
    return d


def test_folder_manifest_records_probe_curves_features_and_splits(clip_folder: Path, tmp_path: Path) -> None:
    rep = build_manifest(
        tmp_path / "m.jsonl", folder=clip_folder, cache_dir=tmp_path / "cache", feature_size=32
    )
    assert rep.written == 3 and not rep.skipped
    rows = {r["id"]: r for r in read_manifest(rep.path)}
    door = rows["door"]
    assert door["caption"] == "a door slams" and door["caption_source"] == "txt"
    assert abs(door["duration_s"] - 3.0) < 0.1 and door["probe"]["width"] == 96
    assert door["split"] == hash_split("door") and door["split"] in ("train", "val", "test")
    left, right = np.array(door["curves"]["left"]), np.array(door["curves"]["right"])
    assert abs(len(left) - 18) <= 1
    mid = slice(2, len(left) - 2)
    # 1 kHz sine at -12 dBFS peak reads about -15 LUFS per channel; the right channel is 20 dB lower
    assert abs(np.median(left[mid]) - np.median(right[mid]) - 20.0) < 1.0
    assert -17.0 < np.median(left[mid]) < -13.0
    pic = rows["silent_pic"]
    assert pic["curves"] is None and pic["curves_status"] == "no audio track"
    assert rows["uncaptioned"]["caption_source"] == "none"
    feats = np.load(door["features"]["path"])
    assert feats["frames_6fps"].shape == (18, 32, 32, 3)
    with pytest.raises(StudioError):
        build_manifest(tmp_path / "m.jsonl", folder=clip_folder)


def test_vggsound_csv_matches_files_and_reports_missing(clip_folder: Path, tmp_path: Path) -> None:
    vids = tmp_path / "vids"
    vids.mkdir()
    make_clip(vids / "abcDEF12345_000030.mp4", 2.0, audio=tone(2.0, -18.0, -18.0))
    csv_path = tmp_path / "vggsound.csv"
    csv_path.write_text("abcDEF12345,30,dog barking,train\nmissingclip,10,cat purring,test\n")
    rep = build_manifest(tmp_path / "v.jsonl", csv_path=csv_path, videos=vids, feature_size=16)
    assert rep.written == 1 and len(rep.skipped) == 1 and "not found" in rep.skipped[0][1]
    row = read_manifest(rep.path)[0]
    assert row["caption"] == "dog barking" and row["split"] == "train" and row["labels"] == ["dog barking"]
    header = json.loads(rep.path.read_text().splitlines()[0])
    assert header["skipped"][0]["id"].startswith("missingclip")


def test_audioset_csv_with_label_map(tmp_path: Path) -> None:
    vids = tmp_path / "as"
    vids.mkdir()
    make_clip(vids / "YTid0000001_20.mp4", 2.0, audio=tone(2.0, -20.0, -26.0))
    csv_path = tmp_path / "seg.csv"
    csv_path.write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=1\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        'YTid0000001, 20.000, 30.000, "/m/0bt9lr,/m/05tny_"\n'
    )
    labels = tmp_path / "labels.csv"
    labels.write_text("index,mid,display_name\n0,/m/0bt9lr,Dog\n1,/m/05tny_,Bark\n")
    rep = build_manifest(
        tmp_path / "a.jsonl", csv_path=csv_path, videos=vids, label_map=labels, feature_size=16
    )
    row = read_manifest(rep.path)[0]
    assert row["labels"] == ["Dog", "Bark"] and row["caption"] == "Dog, Bark"
    assert row["curves_status"] == "measured"


def test_shared_media_without_audio(shared_media: Path, tmp_path: Path) -> None:
    rep = build_manifest(tmp_path / "s.jsonl", folder=shared_media, feature_size=16)
    rows = {r["id"]: r for r in read_manifest(rep.path)}
    bottle = rows["bottle-detection"]
    assert bottle["curves"] is None and bottle["curves_status"] == "no audio track"
    assert abs(bottle["probe"]["fps_float"] - 29.833) < 0.01 and bottle["probe"]["frame_count"] == 1189
    car = rows["car-detection"]
    # its container carries an AAC stream of digital silence: measured, and flagged as silent
    assert car["curves"] is None or car["curves_status"] == "silent audio track"
    assert np.load(bottle["features"]["path"])["frames_6fps"].shape[0] == int(bottle["duration_s"] * 6)


def test_cli_build_manifest_and_refusal(clip_folder: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "cli.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "triergon_studio",
        "build-manifest",
        "--folder",
        str(clip_folder),
        "--out",
        str(out),
        "--feature-size",
        "16",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 clips" in r.stdout
    r2 = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r2.returncode == 2 and "already exists" in r2.stderr and "Traceback" not in r2.stderr
