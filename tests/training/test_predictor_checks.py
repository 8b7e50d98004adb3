"""The issue-17 checks of the two predictors: T_LUFS alone on dev and held-out clips (``dev_check
--lufs-only``), and text-only class accuracy by nearest audio centroid (``eval/text_accuracy.py``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from triergon_studio.engine.models.lufs_config import FrameCNNConfig, LufsPredictorConfig
from triergon_studio.training.corpus import CLASS_NAMES


class ConstantPredictor:
    """A frame-CNN T_LUFS that predicts one level everywhere (as the app's video path sees a predictor)."""

    cfg = LufsPredictorConfig(frame_cnn=FrameCNNConfig(image_size=64))

    def __init__(self, level: float) -> None:
        self.level = level
        self.sizes: list[tuple[int, ...]] = []

    def stage_weights(self) -> dict[str, float]:
        return {"decode": 1.0, "predict": 1.0}

    def predict_curves(self, frames: Any, progress: Any = None) -> torch.Tensor:
        self.sizes.append(tuple(frames.shape[1:3]))
        return torch.full((2, len(frames)), self.level)


def test_t_lufs_dev_is_the_audible_frame_error_per_clip() -> None:
    from triergon_studio.training.eval.dev_check import dev_pool, t_lufs_dev

    pool = dev_pool(3, seconds=2.0)
    want = []
    for i in range(3):
        nf = int(np.ceil(int(pool.arrays["valid"][i]) / 44100 * 6))
        gt = pool.arrays["curves_lufs"][i][:, :nf]
        sel = gt > -60
        if sel.any():
            want.append(np.abs(-30.0 - gt[sel]).mean())
    assert t_lufs_dev(ConstantPredictor(-30.0), pool) == round(float(np.mean(want)), 2)


def test_dev_segments_are_rendered_at_the_predictors_own_input_size() -> None:
    from triergon_studio.training.eval.dev_check import dev_pool, lufs_input_size

    wide = ConstantPredictor(-30.0)
    wide.cfg = LufsPredictorConfig(frame_cnn=FrameCNNConfig(image_size=96))
    assert lufs_input_size(wide) == 96
    assert lufs_input_size(SimpleNamespace(cfg=LufsPredictorConfig(features="dinov2-vits14"))) == 64
    assert lufs_input_size(None) == 64  # a model with no T_LUFS: the stages' size
    assert dev_pool(1, seconds=1.0, lufs_size=96).arrays["frames6"].shape[2:4] == (96, 96)
    assert dev_pool(1, seconds=1.0).arrays["frames6"].shape[2:4] == (64, 64)


def test_a_t_lufs_reading_several_pictures_per_frame_is_measured_on_them(tmp_path: Path) -> None:
    """Dev segments and videos reach a ``sub_frames`` T_LUFS at its picture rate; its curves keep 6 values
    per second."""
    from tests.video.video_factory import make_video
    from triergon_studio.engine.models.lufs_predictor import LufsPredictor, predict_curves_for_video
    from triergon_studio.training.eval.dev_check import dev_pool_for, lufs_pictures_per_frame, t_lufs_dev

    cnn = FrameCNNConfig((8, 16), 32, 32, True, motion_next=True, sub_frames=3)
    pred = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, frame_cnn=cnn)).eval()
    assert lufs_pictures_per_frame(pred) == 3 and lufs_pictures_per_frame(None) == 1
    pool = dev_pool_for(pred, 2, seconds=2.0)
    assert pool.arrays["frames6"].shape[1:4] == (3 * 12, 32, 32)
    assert np.isfinite(t_lufs_dev(pred, pool))
    video = make_video(tmp_path / "clip.mp4", 50, fps=25)  # 2 s
    curve = predict_curves_for_video(video, pred)
    assert curve.left.shape == curve.right.shape == (12,)


def test_t_lufs_heldout_reads_the_videos_and_their_curves(tmp_path: Path) -> None:
    from triergon_studio.training.corpus.heldout import load_heldout, write_heldout
    from triergon_studio.training.eval.dev_check import t_lufs_heldout
    from triergon_studio.training.eval.report import curve_mae

    write_heldout(tmp_path / "h", n=1, max_seconds=2.5)
    meta = load_heldout(tmp_path / "h")[0]
    curves = meta["curves"]
    assert isinstance(curves, dict)
    gt = np.array([curves["left"], curves["right"]])
    err = curve_mae(gt, np.full_like(gt, -25.0))
    assert err is not None
    pred = ConstantPredictor(-25.0)
    assert abs(t_lufs_heldout(pred, tmp_path / "h") - float(np.nanmean(err))) < 1e-3
    assert pred.sizes == [(64, 64)]  # decoded straight to the predictor's input size, as the app does


class KeywordEncoder:
    """Embeds a text as the one-hot of the first class whose keyword it contains (else class 0)."""

    keys = {"impact_metal": "metal", "rain": "rain", "fire": "fire"}

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), len(CLASS_NAMES))
        for i, t in enumerate(texts):
            hit = [c for c, k in self.keys.items() if k in t]
            out[i, CLASS_NAMES.index(hit[0]) if hit else 0] = 1.0
        return out


def test_text_accuracy_is_nearest_centroid_class() -> None:
    from triergon_studio.training.eval.text_accuracy import text_accuracy

    phrases = {"rain": ["rain on a roof", "a drizzle"], "fire": ["a fire", "campfire"], "impact_metal": ["x"]}
    out = text_accuracy(KeywordEncoder(), phrases, torch.eye(len(CLASS_NAMES)))
    assert out["phrases"] == 5
    assert out["accuracy"] == round(3 / 5, 4)
    assert out["per_class"] == {"rain": 0.5, "fire": 1.0, "impact_metal": 0.0}


def test_dev_check_defaults_to_the_model_folders_classifier(tmp_path: Path) -> None:
    from triergon_studio.engine.weights import random_model, save_model_dir
    from triergon_studio.training.eval.dev_check import main

    folder = save_model_dir(random_model("tiny"), None, tmp_path / "m")
    with pytest.raises(SystemExit) as err:
        main([str(folder), "--clips", "1"])
    assert "eval_classifier.safetensors: no evaluation classifier" in str(err.value)


def test_a_stage_run_is_measured_in_place_of_the_bundles_part(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from triergon_studio.engine.weights import random_model
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.dev_check import put_stage_weights

    model = random_model("tiny", seed=1)
    vae = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items() if k.startswith("vae.")}
    good = tmp_path / "vae.safetensors"
    save_file(vae, str(good))
    put_stage_weights(model, str(good), "vae.", "vae")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in vae.items())
    mixed = tmp_path / "mixed.safetensors"
    save_file({**vae, "dit.x": torch.zeros(1)}, str(mixed))
    with pytest.raises(StudioError, match="not a vae stage's weights"):
        put_stage_weights(model, str(mixed), "vae.", "vae")
    alien = tmp_path / "alien.safetensors"
    save_file({"vae.not_a_layer": torch.zeros(1)}, str(alien))
    with pytest.raises(StudioError, match="do not fit"):
        put_stage_weights(model, str(alien), "vae.", "vae")


def test_a_dit_run_puts_both_its_parts_and_nothing_else(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from triergon_studio.engine.weights import random_model
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.dev_check import put_stage_weights

    model = random_model("tiny", seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    parts = ("dit.", "conditioner.")
    run = {
        k: torch.full_like(v, 0.25)
        for k, v in before.items()
        if k.startswith(parts) and v.is_floating_point()
    }
    assert any(k.startswith("conditioner.") for k in run) and any(k.startswith("dit.") for k in run)
    path = tmp_path / "dit.safetensors"
    save_file(run, str(path))
    put_stage_weights(model, str(path), parts, "dit")
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in run.items())
    assert all(torch.equal(after[k], v) for k, v in before.items() if k not in run)
    with pytest.raises(StudioError, match=r"keys dit\.\*\)"):
        put_stage_weights(model, str(path), ("dit.",), "dit")
    mixed = tmp_path / "mixed.safetensors"
    save_file({**run, "vae.x": torch.zeros(1)}, str(mixed))
    with pytest.raises(StudioError, match=r"keys dit\.\* or conditioner\.\*"):
        put_stage_weights(model, str(mixed), parts, "dit")


def test_t_lufs_by_class_groups_segments_worst_first_and_skips_silent_ones() -> None:
    from triergon_studio.training.eval.dev_check import t_lufs_by_class

    gt = np.array([[-30.0, -30.0], [-40.0, -40.0]])
    silent = np.full((2, 2), -70.0)
    curves = [
        (gt + 2.0, gt),  # rain: 2 LU off
        (gt + 6.0, gt),  # door: 6 LU off
        (np.array([[-70.0, -30.0], [-40.0, -40.0]]), gt),  # door: one frame of four called silent (40 LU)
        (silent, silent),  # rain: nothing audible, not counted
    ]
    out = t_lufs_by_class(curves, ["rain", "door", "door", "rain"])
    assert list(out) == ["door", "rain"]
    assert out["rain"] == {
        "segments": 1,
        "mae_lu": 2.0,
        "audible_called_silent": 0.0,
        "audible_called_audible_mae_lu": 2.0,
    }
    assert out["door"]["segments"] == 2 and out["door"]["mae_lu"] == round((6.0 + 10.0) / 2, 2)
    assert out["door"]["audible_called_silent"] == 0.125
    assert out["door"]["audible_called_audible_mae_lu"] == round(6.0 * 4 / 7, 3)


def test_t_lufs_breakdown_splits_the_error_by_what_the_predictor_called_audible() -> None:
    from triergon_studio.training.eval.dev_check import clip_mean_mae, t_lufs_breakdown

    gt = np.array([[-30.0, -30.0, -70.0, -70.0], [-40.0, -40.0, -40.0, -70.0]])
    pred = np.array([[-70.0, -28.0, -20.0, -70.0], [-44.0, -44.0, -44.0, -70.0]])
    b = t_lufs_breakdown([(pred, gt)])
    assert b["audible_frames"] == 5
    assert b["audible_called_silent"] == 0.2 and b["audible_called_silent_mae_lu"] == 40.0
    assert b["audible_called_audible_mae_lu"] == 3.5 and b["audible_called_audible_mean_signed_lu"] == -2.5
    assert b["silent_called_audible"] == round(1 / 3, 3)
    assert b["audible_called_silent_at_an_edge"] == 1.0  # the missed -30 has the called-audible -28 beside it
    # signed errors on audible frames: -40, +2, -4, -4, -4; median -4
    assert b["clip_mae_after_offset_lu"] == round((36 + 6 + 0 + 0 + 0) / 5, 3)
    assert clip_mean_mae([(pred, gt)]) == round((40 + 2 + 4 + 4 + 4) / 5, 2)
    # a missed frame whose neighbours were called silent too is a missed event, not an edge
    lone = np.array([[-30.0, -70.0, -30.0], [-70.0, -70.0, -70.0]])
    b2 = t_lufs_breakdown([(np.array([[-70.0, -70.0, -25.0], [-70.0] * 3]), lone)])
    assert b2["audible_called_silent"] == 0.5 and b2["audible_called_silent_at_an_edge"] == 0.0
