"""The rotating T_LUFS pool (issue 17): each (clip, window, flip) once, flips swap L/R with the picture,
the stream is the same with or without the background generator, and a restored pool continues the stream."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from triergon_studio.errors import StudioError
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.rotating_pool import Reservoir, RotatingPool, RotatingSpec

S = 8  # frame side


def _reservoir(n: int = 30, frames: int = 6) -> Reservoir:
    """Clips whose pixels encode (clip, frame, column) and whose L and R curves differ everywhere."""
    rng = np.random.default_rng(0)
    f6 = np.zeros((n, frames, S, S, 3), np.uint8)
    for j in range(n):
        for k in range(frames):
            f6[j, k] = (j * 7 + k * 3 + np.arange(S)[None, :, None] * 20) % 256
    curves = np.stack(
        [-60 + np.arange(frames) + np.zeros((n, 1)), -20 - np.arange(frames) + np.zeros((n, 1))], 1
    )
    valid = rng.integers(2 * 44100 // 6, frames * 44100 // 6 + 1, size=n)  # 2 to `frames` whole frames
    return Reservoir(f6, curves.astype(np.float32), valid)


def _spec(tmp: Path, **over: Any) -> RotatingSpec:
    base: dict[str, Any] = {
        "seed": 5,
        "size": S,
        "corpus": CorpusConfig(min_seconds=1.0, max_seconds=1.5, mean_seconds=1.2, min_side=32, max_side=48),
        "clip_dir": tmp / "clips",
        "window_frames": (2, 3),
        "live_clips": 8,
        "uses_per_clip": 5,
        "fresh_fraction": 0.0,
        "brightness": 0.1,
        "contrast": 0.2,
    }
    base.update(over)
    return RotatingSpec(**base)


def _parse(key: str) -> tuple[str, int, int, int]:
    clip, off, n, flip = key.split("/")
    return clip, int(off), int(n), int(flip)


def test_each_window_is_used_once_and_clips_retire(tmp_path: Path) -> None:
    pool = RotatingPool(_spec(tmp_path, fresh_fraction=0.25), batch_size=4, reservoir=_reservoir())
    rng = np.random.default_rng(1)
    keys: list[str] = []
    for _ in range(24):
        b = pool.batch(rng)
        assert b["frames6"].shape[:2] == b["curves"].shape[::2] and b["frames6"].dtype == np.uint8
        assert len({_parse(k)[0] for k in b["keys"]}) == 4  # four different clips per batch
        keys += b["keys"]
    assert len(keys) == len(set(keys)) == 96
    per_clip: dict[str, int] = {}
    for k in keys:
        per_clip[_parse(k)[0]] = per_clip.get(_parse(k)[0], 0) + 1
    assert max(per_clip.values()) <= 5
    assert any(c.startswith("fresh:") for c in per_clip) and any(c.startswith("pool:") for c in per_clip)
    # retired clips were replaced by new ones; a fresh clip's file goes when it retires
    assert pool.admissions > pool.spec.live_clips
    assert len(per_clip) <= pool.admissions
    files = {p.name for p in (tmp_path / "clips").glob("*.npz")}
    live_fresh = {f"5_{int(c.key[6:]):07d}.npz" for c in pool.live if c.key.startswith("fresh:")}
    assert files <= live_fresh


def test_flip_mirrors_the_picture_and_swaps_the_curves(tmp_path: Path) -> None:
    res = _reservoir(30)
    pool = RotatingPool(_spec(tmp_path, brightness=0.0, contrast=0.0), batch_size=2, reservoir=res)
    rng = np.random.default_rng(2)
    flips = set()
    for _ in range(10):
        b = pool.batch(rng)
        for i, key in enumerate(b["keys"]):
            clip, off, n, flip = _parse(key)
            assert clip.startswith("pool:")
            frames, curves = res.clip(int(clip.split(":")[1]))
            want_f, want_c = frames[off : off + n], curves[:, off : off + n]
            if flip:
                want_f, want_c = want_f[:, :, ::-1], want_c[::-1]
            np.testing.assert_array_equal(b["frames6"][i, :n], want_f)
            np.testing.assert_array_equal(b["curves_lufs"][i, :, :n], want_c)
            assert b["n_frames"][i] == n
            flips.add(flip)
    assert flips == {0, 1}
    assert not np.array_equal(want_c[0], want_c[1])  # the fixture's L and R differ, so a swap is visible


def test_jitter_changes_brightness_but_keeps_the_windows(tmp_path: Path) -> None:
    res = _reservoir(30)
    pool = RotatingPool(_spec(tmp_path, brightness=0.3, contrast=0.3), batch_size=2, reservoir=res)
    b = pool.batch(np.random.default_rng(3))
    clip, off, n, flip = _parse(b["keys"][0])
    frames = res.clip(int(clip.split(":")[1]))[0][off : off + n]
    assert not np.array_equal(b["frames6"][0, :n], frames[:, :, ::-1] if flip else frames)


def _stream(pool: RotatingPool, rng: np.random.Generator, n: int) -> list[tuple[list[str], np.ndarray]]:
    out = []
    for _ in range(n):
        b = pool.batch(rng)
        out.append((b["keys"], b["frames6"]))
    return out


def test_restored_pool_continues_the_same_stream(tmp_path: Path) -> None:
    spec = _spec(tmp_path, fresh_fraction=0.5)
    a = RotatingPool(spec, batch_size=4, reservoir=_reservoir())
    rng = np.random.default_rng(4)
    _stream(a, rng, 5)
    state, rng_state = copy.deepcopy(a.state()), copy.deepcopy(rng.bit_generator.state)
    want = _stream(a, rng, 6)

    b = RotatingPool(spec, batch_size=4, reservoir=_reservoir())
    b.restore(state)
    rng_b = np.random.default_rng()
    rng_b.bit_generator.state = rng_state
    got = _stream(b, rng_b, 6)
    assert [k for k, _ in got] == [k for k, _ in want]
    for (_, fa), (_, fb) in zip(got, want, strict=True):
        np.testing.assert_array_equal(fa, fb)


@pytest.mark.parametrize("processes", [1, 3])
def test_the_background_generator_gives_the_same_stream(tmp_path: Path, processes: int) -> None:
    spec = _spec(tmp_path / "a", fresh_fraction=1.0, prefetch=4)
    sync = _stream(RotatingPool(spec, batch_size=4), np.random.default_rng(6), 4)
    bg_spec = _spec(tmp_path / "b", fresh_fraction=1.0, prefetch=4, processes=processes)
    bg_pool = RotatingPool(bg_spec, batch_size=4)
    bg_pool.start_generator(nice=0)
    try:
        bg = _stream(bg_pool, np.random.default_rng(6), 4)
        assert len(bg_pool._procs) == processes and all(p.is_alive() for p in bg_pool._procs)
    finally:
        bg_pool.stop_generator()
    assert not bg_pool._procs
    assert [k for k, _ in bg] == [k for k, _ in sync]
    for (_, fa), (_, fb) in zip(bg, sync, strict=True):
        np.testing.assert_array_equal(fa, fb)


def test_pictures_per_frame_follow_their_window(tmp_path: Path) -> None:
    """A T_LUFS that reads three pictures per curve frame gets 3 W of them per window, the window's own (the
    clip's pictures 3 off to 3 (off + n)), mirrored with its flip, padded by holding the last."""
    from triergon_studio.training.data import corpus_clip

    spec = _spec(tmp_path, fresh_fraction=1.0, brightness=0.0, contrast=0.0, per_frame=3)
    pool = RotatingPool(spec, batch_size=2)
    rng = np.random.default_rng(3)
    seen = 0
    for _ in range(6):
        b = pool.batch(rng)
        assert b["frames6"].shape[1] == 3 * b["curves"].shape[-1]
        for i, key in enumerate(b["keys"]):
            clip, off, n, flip = _parse(key)
            whole = corpus_clip(5, int(clip.split(":")[1]), spec.corpus, S, per_frame=3)
            assert whole["frames6"].shape[0] == 3 * whole["curves_lufs"].shape[1]
            want = whole["frames6"][3 * off : 3 * (off + n)]
            np.testing.assert_array_equal(b["frames6"][i, : 3 * n], want[:, :, ::-1] if flip else want)
            assert (b["frames6"][i, 3 * n :] == b["frames6"][i, 3 * n - 1]).all()
            seen += 1
    assert seen == 12
    with pytest.raises(StudioError, match="reservoir holds one picture per frame"):
        RotatingPool(_spec(tmp_path, per_frame=3), batch_size=2, reservoir=_reservoir())


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StudioError, match="live_clips"):
        RotatingPool(_spec(tmp_path, live_clips=4), batch_size=4, reservoir=_reservoir())
    with pytest.raises(StudioError, match="reservoir"):
        RotatingPool(_spec(tmp_path, fresh_fraction=0.5), batch_size=2)


def _tiny_lufs(tmp_path: Path, out: str, **over: Any) -> Any:
    from triergon_studio.training.config import LufsStageConfig, load_stage_config

    configs = Path(__file__).resolve().parents[2] / "triergon_studio" / "training" / "configs"
    c = load_stage_config(configs / "tiny_lufs.json")
    assert isinstance(c, LufsStageConfig)
    c.out_dir, c.rotating, c.generator, c.window_seconds = str(tmp_path / out), True, False, [0.5, 1.0]
    c.live_clips, c.uses_per_clip, c.steps, c.batch_size, c.lufs_size = 8, 4, 4, 4, 16
    c.corpus = {
        "min_seconds": 1.0,
        "max_seconds": 1.5,
        "mean_seconds": 1.2,
        "min_side": 32,
        "max_side": 48,
    }
    for k, v in over.items():
        setattr(c, k, v)
    return c


def test_lufs_stage_on_the_rotating_pool_resumes_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from triergon_studio.training.runner import run_stage

    straight = run_stage(_tiny_lufs(tmp_path, "straight"))
    run_stage(_tiny_lufs(tmp_path, "sliced", stop_at=2))
    resumed = run_stage(_tiny_lufs(tmp_path, "sliced"), resume=True)
    assert (
        resumed["resumed_from"] == 2
        and resumed["final_pool_fresh_clips"] == straight["final_pool_fresh_clips"]
    )
    wa, wb = load_file(straight["weights"]), load_file(resumed["weights"])
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa)


def test_lufs_stage_trains_a_t_lufs_that_reads_several_pictures_per_frame(tmp_path: Path) -> None:
    """``sub_frames`` comes from the model's T_LUFS: both data paths (the rotating pool and the segment
    stream) render that many pictures per curve frame, and the trained weights load into that model."""
    from safetensors.torch import load_file

    from triergon_studio.training.runner import run_stage

    over = {"lufs_predictor": {"preset": "tiny", "frame_cnn": {"sub_frames": 2}}}
    for out, rotating in (("rot", True), ("stream", False)):
        summary = run_stage(_tiny_lufs(tmp_path, out, model_overrides=over, rotating=rotating, steps=2))
        w = load_file(summary["weights"])["lufs_predictor.features.conv.0.weight"]
        assert w.shape[1] == 3 * (2 + 2)  # picture, motion, and the two steps across each window


def test_a_sub_frame_t_lufs_starts_from_a_one_picture_run(tmp_path: Path) -> None:
    """``init_one_picture``: a one-picture run's weights, widened with zero step weights, start the stage;
    weights of another shape are refused with the file named."""
    import torch
    from safetensors.torch import load_file

    from triergon_studio.engine.models.lufs_config import LUFS_PRESETS
    from triergon_studio.engine.models.lufs_predictor import build_lufs_predictor
    from triergon_studio.training.runner import run_stage
    from triergon_studio.training.stages import _load_one_picture_t_lufs

    one = run_stage(_tiny_lufs(tmp_path, "one", steps=2))["weights"]
    tiny = LUFS_PRESETS["t-lufs-tiny"]
    wide_cfg = dataclasses.replace(tiny, frame_cnn=dataclasses.replace(tiny.frame_cnn, sub_frames=2))
    wide = build_lufs_predictor(wide_cfg)
    _load_one_picture_t_lufs(wide, Path(one))
    src = load_file(one)["lufs_predictor.features.conv.0.weight"]
    w = wide.state_dict()["features.conv.0.weight"]
    assert torch.equal(w[:, : src.shape[1]], src) and not w[:, src.shape[1] :].any()
    with pytest.raises(StudioError, match="does not fit this T_LUFS"):
        _load_one_picture_t_lufs(build_lufs_predictor(tiny), Path(one))  # not a sub-frame T_LUFS
    # the same start as a run given the widened weights as an ordinary init file, step for step
    from safetensors.torch import save_file

    from triergon_studio.engine.models.lufs_predictor import widen_to_sub_frames

    widened = widen_to_sub_frames(load_file(one), wide_cfg, prefix="lufs_predictor.")
    save_file(widened, str(tmp_path / "widened.safetensors"))
    over = {"lufs_predictor": {"preset": "tiny", "frame_cnn": {"sub_frames": 2}}}
    a = run_stage(_tiny_lufs(tmp_path, "wide", model_overrides=over, init_one_picture=one, steps=2))
    b = run_stage(
        _tiny_lufs(
            tmp_path, "wide_f", model_overrides=over, init=[str(tmp_path / "widened.safetensors")], steps=2
        )
    )
    wa, wb = load_file(a["weights"]), load_file(b["weights"])
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_lufs_config_checks_its_window_lengths(tmp_path: Path) -> None:
    import json

    from triergon_studio.training.config import load_stage_config
    from triergon_studio.training.rotating_pool import window_frames_from_seconds

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"stage": "lufs", "out_dir": "x", "window_seconds": [3.0, "4"]}))
    with pytest.raises(StudioError, match="window_seconds"):
        load_stage_config(path)
    assert window_frames_from_seconds([4.0, 3.0, 0.5]) == (3, 18, 24)
    with pytest.raises(StudioError, match="1/6"):
        window_frames_from_seconds([0.25])


def test_no_generator_processes_is_refused_when_the_stage_builds_its_pool(tmp_path: Path) -> None:
    from triergon_studio.training.config import Dist, LufsStageConfig, load_stage_config
    from triergon_studio.training.stages import _rotating_pool

    configs = Path(__file__).resolve().parents[2] / "triergon_studio" / "training" / "configs"
    cfg = load_stage_config(configs / "tiny_lufs.json")
    assert isinstance(cfg, LufsStageConfig)
    cfg.out_dir, cfg.rotating, cfg.generator_processes = str(tmp_path), True, 0
    with pytest.raises(StudioError, match="generator processes must be >= 1"):
        _rotating_pool(cfg, Dist())
