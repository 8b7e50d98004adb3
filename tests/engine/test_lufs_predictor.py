"""T_LUFS: preset sizes, output ranges, windowed stitching over 60 s, frame features."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from triergon_studio.engine.models.lufs_config import LUFS_PRESETS, FrameCNNConfig, LufsPredictorConfig
from triergon_studio.engine.models.lufs_predictor import (
    FrameFeatureExtractor,
    LufsPredictor,
    build_lufs_predictor,
    mirror_pictures,
    seeded_lufs_predictor,
    transformer_params,
    widen_to_sub_frames,
    window_starts,
    windowed_apply,
)
from triergon_studio.errors import ModelError


def expected_transformer_params(d: int, layers: int, d_in: int, window: int = 360) -> int:
    per_layer = (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 4 * d
    return layers * per_layer + (d_in * d + d) + window * d + 2 * d + (2 * d + 2)


@pytest.mark.parametrize(
    ("name", "d", "layers", "heads"), [("t-lufs-s", 768, 12, 8), ("t-lufs-l", 768, 14, 12)]
)
def test_paper_presets(name: str, d: int, layers: int, heads: int) -> None:
    cfg = LUFS_PRESETS[name]
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads) == (d, layers, heads)
    model = build_lufs_predictor(name, "meta")
    assert transformer_params(model) == expected_transformer_params(d, layers, cfg.d_in)


def test_small_preset_and_config_round_trip() -> None:
    cfg = LUFS_PRESETS["t-lufs-small"]
    assert cfg.features == "frame-cnn"
    assert transformer_params(build_lufs_predictor(cfg, "meta")) == expected_transformer_params(256, 4, 256)
    assert LufsPredictorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ModelError, match="unknown T_LUFS preset"):
        build_lufs_predictor("t-lufs-xl")


def test_forward_range_and_lufs_scale() -> None:
    model = seeded_lufs_predictor()
    feats = torch.randn(3, 50, model.cfg.d_in) * 5
    y = model(feats)
    assert y.shape == (3, 2, 50) and (y > 0).all() and (y < 1).all()
    lufs = model.predict_lufs(feats)
    assert torch.allclose(lufs, y * 70 - 70, atol=1e-5)
    with pytest.raises(ModelError, match="window"):
        model(torch.randn(1, 361, model.cfg.d_in))


def test_seeded_weights_are_reproducible() -> None:
    a, b = seeded_lufs_predictor(seed=1), seeded_lufs_predictor(seed=1)
    c = seeded_lufs_predictor(seed=2)
    feats = torch.randn(1, 12, a.cfg.d_in)
    assert torch.equal(a(feats), b(feats)) and not torch.equal(a(feats), c(feats))


def test_window_starts_cover_everything() -> None:
    assert window_starts(360, 360, 60) == [0]
    assert window_starts(900, 360, 60) == [0, 300, 540]
    for n in (361, 659, 660, 661, 2000):
        starts = window_starts(n, 360, 60)
        assert starts[0] == 0 and starts[-1] + 360 == n
        assert all(b - a <= 300 for a, b in zip(starts, starts[1:], strict=False))


def test_150_seconds_gives_900_values_and_stitching_is_seamless() -> None:
    model = seeded_lufs_predictor()
    feats = torch.randn(1, 6 * 150, model.cfg.d_in, generator=torch.Generator().manual_seed(0))
    out = model.predict_lufs(feats)
    assert out.shape == (1, 2, 900) and torch.isfinite(out).all()
    # frames only the first window sees match that window alone
    first = model.predict_lufs(feats[:, :360])
    assert torch.allclose(out[..., :300], first[..., :300], atol=1e-5)
    # ... and frames only the last window sees match the last window alone
    last = model.predict_lufs(feats[:, 540:])
    assert torch.allclose(out[..., 660:], last[..., 120:], atol=1e-5)


def test_stitching_equals_single_pass_where_windows_agree() -> None:
    def local(x: Tensor) -> Tensor:  # per-frame function: every window agrees on every frame
        return torch.sigmoid(x[..., :2]).transpose(1, 2)

    feats = torch.randn(2, 900, 4)
    assert torch.allclose(windowed_apply(local, feats, 360, 60), local(feats), atol=1e-6)

    def offset(x: Tensor) -> Tensor:  # windows disagree by a constant: the crossfade blends linearly
        return torch.full((x.shape[0], 1, x.shape[1]), float(x[0, 0, 0]))

    ramp = torch.arange(900.0).reshape(1, 900, 1)
    stitched = windowed_apply(offset, ramp, 360, 60)[0, 0]
    assert stitched[0] == 0 and stitched[299] == 0 and stitched[-1] == 540
    assert torch.all(stitched[300:360].diff() > 0)  # crossfades from window 0's value to window 1's


def test_predict_curves_from_uint8_frames() -> None:
    model = seeded_lufs_predictor()
    frames = torch.randint(0, 256, (40, 45, 80, 3), dtype=torch.uint8)
    curves = model.predict_curves(frames.numpy())
    assert curves.shape == (2, 40) and (curves >= -70).all() and (curves <= 0).all()


def test_frame_cnn_sees_motion_and_left_right() -> None:
    torch.manual_seed(0)
    cnn = FrameFeatureExtractor(FrameCNNConfig((8, 16), 16, 32, True)).eval()
    still = torch.zeros(3, 3, 32, 32)
    still[..., 8:16, 4:12] = 1.0
    moving = still.clone()
    moving[1] = torch.roll(still[1], 8, dims=-1)
    f_still, f_moving = cnn(still), cnn(moving)
    assert torch.allclose(f_still[0], f_still[1], atol=1e-6)
    assert not torch.allclose(f_still[1], f_moving[1], atol=1e-4)
    mirrored = torch.flip(still, dims=[-1])
    assert not torch.allclose(cnn(still)[0], cnn(mirrored)[0], atol=1e-4)


def test_frame_cnn_motion_next_sees_the_change_across_its_own_window() -> None:
    """Curve frame k measures [k/6, (k+1)/6): with ``motion_next`` frame k's features change when picture
    k+1 does; without it they do not (only frame k+1's do)."""
    torch.manual_seed(0)
    still = torch.zeros(4, 3, 32, 32)
    still[..., 8:16, 4:12] = 1.0
    moved = still.clone()
    moved[2] = torch.roll(still[2], 8, dims=-1)
    prev_only = FrameFeatureExtractor(FrameCNNConfig((8, 16), 16, 32, True)).eval()
    both = FrameFeatureExtractor(FrameCNNConfig((8, 16), 16, 32, True, motion_next=True)).eval()
    assert both.conv[0].in_channels == 9 and prev_only.conv[0].in_channels == 6
    with torch.no_grad():
        assert torch.allclose(prev_only(still)[1], prev_only(moved)[1], atol=1e-6)
        assert not torch.allclose(both(still)[1], both(moved)[1], atol=1e-4)
        assert torch.allclose(both(still)[0], both(moved)[0], atol=1e-6)  # two pictures away


def test_frame_features_in_batches_match_the_whole_clip_with_motion_next() -> None:
    """Batches of frames see the picture after their last one, so the batch size changes nothing."""
    torch.manual_seed(0)
    cfg = LufsPredictorConfig(
        "probe", 32, 1, 2, frame_cnn=FrameCNNConfig((8, 16), 32, 32, True, motion_next=True)
    )
    model = LufsPredictor(cfg).eval()
    frames = torch.randint(0, 256, (11, 40, 40, 3), dtype=torch.uint8)
    whole = model.frame_features(frames, batch_size=64)
    torch.testing.assert_close(model.frame_features(frames, batch_size=4), whole, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        images = model.features.prepare(frames)
        torch.testing.assert_close(model.features(images), whole, atol=1e-5, rtol=1e-5)


def test_sub_frames_see_when_inside_the_window_a_change_happens() -> None:
    """With ``sub_frames`` the frame CNN reads several pictures per curve frame: the same two end pictures
    with the change early or late in the window give different features, and a 6 fps reader cannot tell."""
    torch.manual_seed(0)
    still = torch.zeros(3, 3, 32, 32)
    still[..., 8:16, 4:12] = 1.0
    moved = torch.roll(still[0], 8, dims=-1)
    early = torch.stack(
        [still[0], moved, moved, moved, moved, moved, moved, moved, moved, moved, moved, moved]
    )
    late = torch.stack(
        [still[0], still[0], still[0], moved, moved, moved, moved, moved, moved, moved, moved, moved]
    )
    sub = FrameFeatureExtractor(FrameCNNConfig((8, 16), 16, 32, True, motion_next=True, sub_frames=4)).eval()
    six = FrameFeatureExtractor(FrameCNNConfig((8, 16), 16, 32, True, motion_next=True)).eval()
    assert sub.conv[0].in_channels == 9 + 12
    with torch.no_grad():
        f_early, f_late = sub(early), sub(late)
        assert f_early.shape == (3, 16)
        assert not torch.allclose(f_early[0], f_late[0], atol=1e-4)
        torch.testing.assert_close(f_early[1:], f_late[1:])  # the later windows are the same in both
        torch.testing.assert_close(six(early[::4]), six(late[::4]))
    with pytest.raises(ModelError, match="4 pictures per curve frame"):
        sub(early[:10])
    with pytest.raises(ModelError, match="sub_frames 0"):
        FrameCNNConfig(sub_frames=0)


def test_sub_frames_with_zero_step_weights_read_as_the_six_fps_network() -> None:
    """The step channels come last, so a 6 fps network widened with zero weights for them (how a fine-tune
    starts from the bundled T_LUFS) gives the same curves from the pictures at the higher rate."""
    torch.manual_seed(0)
    cnn = FrameCNNConfig((8, 16), 32, 32, True, motion_next=True)
    six = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, frame_cnn=cnn)).eval()
    wide_cfg = LufsPredictorConfig(
        "probe", 32, 1, 2, frame_cnn=FrameCNNConfig(**{**cnn.__dict__, "sub_frames": 3})
    )
    assert wide_cfg.picture_rate_hz == 18 and six.cfg.picture_rate_hz == 6
    assert wide_cfg.pictures_per_frame == 3 and six.cfg.pictures_per_frame == 1
    wide = LufsPredictor(wide_cfg).eval()
    wide.load_state_dict(widen_to_sub_frames(six.state_dict(), wide_cfg))
    with pytest.raises(ModelError, match="not its one-picture form"):
        widen_to_sub_frames(wide.state_dict(), wide_cfg)  # already wide
    pictures = torch.randint(0, 256, (3 * 11, 40, 40, 3), dtype=torch.uint8)
    torch.testing.assert_close(wide.predict_curves(pictures), six.predict_curves(pictures[::3]))
    # step weights of its own and no motion_next: the steps alone need the picture after each batch
    steps_only = FrameCNNConfig((8, 16), 32, 32, True, sub_frames=3)
    fresh = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, frame_cnn=steps_only)).eval()
    whole = fresh.frame_features(pictures, batch_size=64)
    torch.testing.assert_close(fresh.frame_features(pictures, batch_size=4), whole, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(
            fresh.features(fresh.features.prepare(pictures)), whole, atol=1e-5, rtol=1e-5
        )
    with pytest.raises(ModelError, match="3 pictures per curve frame"):
        wide.frame_features(pictures[:-1])


def test_flip_average_is_the_mean_of_the_reading_and_the_mirrored_reading_swapped_back() -> None:
    torch.manual_seed(0)
    cnn = FrameCNNConfig((8, 16), 32, 32, True, motion_next=True, sub_frames=2)
    once = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, frame_cnn=cnn)).eval()
    both = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, frame_cnn=cnn, flip_average=True)).eval()
    both.load_state_dict(once.state_dict())
    pictures = torch.randint(0, 256, (2 * 9, 40, 48, 3), dtype=torch.uint8)
    mirrored = mirror_pictures(pictures)
    assert torch.equal(mirrored[:, :, 0], pictures[:, :, -1]) and torch.equal(
        mirrored[:, 0], pictures[:, 0].flip(1)
    )
    as_float = pictures.permute(0, 3, 1, 2).float() / 255.0
    torch.testing.assert_close(mirror_pictures(as_float), mirrored.permute(0, 3, 1, 2).float() / 255.0)
    a, b = once.predict_curves(pictures), once.predict_curves(mirrored)
    assert not torch.allclose(a, b.flip(0), atol=1e-3)  # random weights: the two readings differ
    torch.testing.assert_close(both.predict_curves(pictures), (a + b.flip(0)) / 2)
    # so the averaged reader is left/right symmetric by construction
    torch.testing.assert_close(both.predict_curves(mirrored), both.predict_curves(pictures).flip(0))
    messages: list[str] = []
    both.predict_curves(pictures, lambda m, f: messages.append(m))
    assert any(m.startswith("Mirrored: ") for m in messages)
    assert LufsPredictorConfig.from_dict(both.cfg.to_dict()).flip_average is True
    with pytest.raises(ModelError, match="flip_average must be true or false"):
        LufsPredictorConfig.from_dict({"preset": "small", "flip_average": "yes"})


def test_dinov2_feature_path() -> None:
    cfg = LufsPredictorConfig("probe", 32, 1, 2, features="dinov2-vits14", dinov2_image_size=56)
    assert cfg.d_in == 3 * 384
    model = LufsPredictor(cfg).eval()
    frames = torch.randint(0, 256, (3, 54, 96, 3), dtype=torch.uint8)
    feats = model.frame_features(frames)
    assert feats.shape == (3, 3 * 384)
    assert model.predict_curves(frames).shape == (2, 3)


def test_config_from_preset_dict() -> None:
    assert LufsPredictorConfig.from_dict({"preset": "S"}) == LUFS_PRESETS["t-lufs-s"]
    assert LufsPredictorConfig.from_dict({"preset": "L"}).n_layers == 14
    small = LufsPredictorConfig.from_dict({"preset": "small", "n_layers": 2, "frame_cnn": {"out_dim": 64}})
    assert small.n_layers == 2 and small.frame_cnn.out_dim == 64 and small.d_in == 64
    with pytest.raises(ModelError, match="unknown T_LUFS preset"):
        LufsPredictorConfig.from_dict({"preset": "XL"})
    with pytest.raises(ModelError, match="invalid T_LUFS config"):
        LufsPredictorConfig.from_dict({"preset": "S", "bogus": 1})


def test_import_dinov2_into_the_feature_network(tmp_path: Path) -> None:
    from triergon_studio.engine.models.dinov2 import DinoV2
    from triergon_studio.engine.models.dinov2_config import DINOV2_PRESETS

    src = DinoV2(DINOV2_PRESETS["dinov2-vits14"])
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(src.state_dict(), path)
    model = LufsPredictor(LufsPredictorConfig("probe", 32, 1, 2, features="dinov2-vits14"))
    model.import_dinov2(path)
    assert torch.equal(model.features.pos_embed, src.pos_embed)
    with pytest.raises(ModelError, match="not DINOv2"):
        seeded_lufs_predictor().import_dinov2(path)
    wrong = tmp_path / "b.pth"
    torch.save({**src.state_dict(), "pos_embed": torch.zeros(1, 10, 384)}, wrong)
    with pytest.raises(ModelError, match="shape mismatches"):
        model.import_dinov2(wrong)


def test_bfloat16_weights_predict_float_curves() -> None:
    model = seeded_lufs_predictor().to(torch.bfloat16)
    curves = model.predict_curves(torch.randint(0, 256, (8, 40, 64, 3), dtype=torch.uint8))
    assert curves.dtype == torch.float32 and curves.shape == (2, 8) and torch.isfinite(curves).all()


def test_gated_head_puts_frames_it_calls_silent_at_the_floor() -> None:
    cfg = LufsPredictorConfig.from_dict({"preset": "tiny", "head": "gated"})
    assert cfg.out_channels == 4 and LufsPredictorConfig.from_dict(cfg.to_dict()) == cfg
    assert LufsPredictorConfig.from_dict({"preset": "tiny"}).head == "level"  # configs saved before the field
    with pytest.raises(ModelError, match="head 'soft'"):
        LufsPredictorConfig.from_dict({"preset": "tiny", "head": "soft"})
    model = build_lufs_predictor(cfg).eval()
    assert model.head.weight.shape == (4, cfg.d_model)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.3, 0.3, 5.0, -5.0]))  # left audible, right silent
    feats = torch.randn(2, 12, cfg.d_in)
    level, gate = model.forward_parts(feats)
    assert gate is not None and level.shape == gate.shape == (2, 2, 12)
    y = model(feats)
    torch.testing.assert_close(y[:, 0], torch.full((2, 12), torch.sigmoid(torch.tensor(0.3)).item()))
    assert torch.equal(y[:, 1], torch.zeros(2, 12))
    lufs = model.predict_lufs(feats)
    assert torch.equal(lufs[:, 1], torch.full((2, 12), -70.0))
    with pytest.raises(ModelError, match="gate 'maybe'"):
        LufsPredictorConfig.from_dict({"preset": "tiny", "head": "gated", "gate": "maybe"})
    soft = build_lufs_predictor(LufsPredictorConfig.from_dict({**cfg.to_dict(), "gate": "soft"})).eval()
    soft.load_state_dict(model.state_dict())
    p = torch.sigmoid(torch.tensor([5.0, -5.0]))
    want = torch.sigmoid(torch.tensor(0.3)) * p  # each level scaled by its channel's audibility
    torch.testing.assert_close(soft(feats), want[None, :, None].expand(2, 2, 12))
    # a level head's weights do not load into a gated head: the head has a different shape
    with pytest.raises(RuntimeError, match="head.weight"):
        model.load_state_dict(seeded_lufs_predictor().state_dict())
