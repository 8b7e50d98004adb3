"""The held-out set on disk, and the segment stream the training stages read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from triergon_studio.errors import StudioError
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.corpus.heldout import heldout_example, load_heldout, write_heldout
from triergon_studio.training.data import MixSpec, SegmentSpec, SegmentStream, as_iterable_dataset, collate

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_write_heldout_writes_video_audio_and_metadata(tmp_path: Path) -> None:
    import av

    entries = write_heldout(tmp_path, n=3, max_seconds=3.0)
    assert [e["caption_heldout"] for e in entries] == [False, True, False]
    clips = load_heldout(tmp_path)
    for i, clip in enumerate(clips):
        ex = heldout_example(i, max_seconds=3.0)
        audio, sr = sf.read(clip["audio"], dtype="float32")
        assert sr == 44100 and np.array_equal(audio, ex.audio)
        with av.open(clip["video"]) as c:
            s = c.streams.video[0]
            n = sum(1 for _ in c.decode(s))
            assert n == ex.video.n_frames and abs(float(s.average_rate) - float(ex.fps)) < 1e-3
        assert len(clip["curves"]["left"]) == int(np.ceil(len(audio) / (44100 / 6) - 1e-9))
        assert clip["label"] == ex.label and clip["caption"] == ex.caption
    with pytest.raises(StudioError):
        write_heldout(tmp_path, n=1)


def test_cli_write_heldout(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "triergon_studio",
            "corpus",
            "write-heldout",
            str(tmp_path / "h"),
            "-n",
            "2",
            "--max-seconds",
            "2.5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "h" / "heldout.json").read_text())["n"] == 2


SPEC = SegmentSpec(seconds=2.0, video_frames=4, video_size=32, lufs_size=24)
CFG = CorpusConfig(max_seconds=4.0, mean_seconds=2.5)


def test_segments_are_deterministic_per_seed_and_rank() -> None:
    a = SegmentStream(7, SPEC, MixSpec(CFG), rank=0, world_size=2).take(2)
    b = SegmentStream(7, SPEC, MixSpec(CFG), rank=0, world_size=2).take(2)
    c = SegmentStream(7, SPEC, MixSpec(CFG), rank=1, world_size=2).take(2)
    assert np.array_equal(a[1]["audio"], b[1]["audio"]) and a[1]["caption"] == b[1]["caption"]
    assert a[0]["clip"] != c[0]["clip"]


def test_segment_cut_and_timing_fields() -> None:
    items = SegmentStream(3, SPEC, MixSpec(CFG)).take(6)
    for it in items:
        assert it["audio"].shape == (2, SPEC.samples) and it["audio"].dtype == np.float32
        assert it["curves"].shape == (2, 12) and 0.0 <= it["curves"].min() and it["curves"].max() <= 1.0
        assert it["video"].shape == (4, 32, 32, 3) and it["frames6"].shape == (12, 24, 24, 3)
        total, start = it["seconds_total"], it["seconds_start"]
        if total > SPEC.seconds:
            assert it["valid"] == SPEC.samples and 0 <= start <= total - SPEC.seconds + 1e-9
            assert abs(start * 6 - round(start * 6)) < 1e-9  # starts on a curve frame
        else:
            assert (
                start == 0.0 and it["valid"] == round(total * 44100) or abs(it["valid"] - total * 44100) <= 1
            )
            assert not it["audio"][:, it["valid"] :].any()
    assert any(it["seconds_start"] > 0 for it in items)


def test_torch_dataset_and_collate() -> None:
    import torch

    ds = as_iterable_dataset(SegmentStream(1, SPEC, None))
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["audio"].shape == (3, 2, SPEC.samples) and batch["curves"].dtype == torch.float32
    assert batch["seconds_total"].shape == (3,) and len(batch["caption"]) == 3
