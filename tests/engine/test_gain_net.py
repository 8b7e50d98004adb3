"""The gain direction net (issue 13): gain mode's directions predicted from the latent and its decode instead
of encoding three copies per guided step. Its features, its file, its training and guidance through it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.test_curve_guidance import RATIO, SR, C, ToyDecoder, _adherence, _target
from tests.engine.test_gain_guidance import ToyEncoder, _gain_residuals, _last_step, _toy_guide
from triergon_studio.engine.curve_control.gain_net import (
    GAIN_NET_FILE,
    GainDirectionNet,
    GainNetConfig,
    band_levels,
    band_matrix,
    gain_net_for_model,
    load_gain_net,
    save_gain_net,
)
from triergon_studio.engine.curve_control.guidance import (
    GuideSettings,
    encoded_gain_directions,
)
from triergon_studio.errors import ModelError


def test_band_levels_put_a_tone_in_its_band_and_channel() -> None:
    bands = 8
    w = band_matrix(RATIO, SR, bands)
    assert w.shape == (RATIO // 2 + 1, bands + 1)
    assert torch.allclose(w[:, -1].sum(), torch.tensor(1.0))  # the last column averages every bin
    frames = 6
    t = torch.arange(frames * RATIO) / SR
    audio = torch.stack([torch.sin(2 * torch.pi * 1000.0 * t), 0.01 * torch.sin(2 * torch.pi * 1000.0 * t)])
    lv = band_levels(audio, frames, RATIO, w).reshape(2, bands + 1, frames)
    edges = np.geomspace(40.0, SR / 2, bands + 1)
    band = int(np.searchsorted(edges, 1000.0, side="right") - 1)
    assert int(lv[0, :bands, 2].argmax()) == band  # the tone's band is the loudest one
    assert float(lv[0, band, 2] - lv[1, band, 2]) == pytest.approx(4.0, abs=0.01)  # 40 dB = 4 decades
    # shorter audio than the latent asks for is padded with silence, not an error
    assert band_levels(audio[:, : 3 * RATIO], frames, RATIO, w).shape == (2 * (bands + 1), frames)


def _toy_net(dec: ToyDecoder, frames: int, steps: int = 400) -> tuple[GainDirectionNet, float, float]:
    """A net trained on the toy decoder's and encoder's directions for random latents; its relative error
    on latents it never saw, before and after training."""
    from triergon_studio.training.gain_net import relative_error

    enc = ToyEncoder(dec)
    torch.manual_seed(0)
    net = GainDirectionNet(GainNetConfig(C, RATIO, SR, hidden=32, layers=2))

    def data(n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        feats, dirs = [], []
        for _ in range(n):
            z = 0.5 + 0.6 * torch.randn(1, C, frames)
            with torch.no_grad():
                audio = dec(z)
                d = encoded_gain_directions(enc, audio, z)
            feats.append(net.features(z, audio[0]))
            dirs.append(d.reshape(-1, frames))
        return feats, dirs

    ft, dt = data(24)
    fv, dv = data(4)
    net.set_statistics(ft, dt)
    before = relative_error(net, fv, dv)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for i in range(steps):
        f, d = ft[i % len(ft)], dt[i % len(dt)]
        loss = (net(f[None])[0] - d).pow(2).sum() / d.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    net.requires_grad_(False)
    return net, before, relative_error(net, fv, dv)


def test_a_trained_net_guides_along_gain_directions_without_the_encoder() -> None:
    frames = 65
    dec = ToyDecoder(frames)
    net, before, after = _toy_net(dec, frames)
    assert after < 0.5 * before and after < 0.35, (before, after)
    target = _target(frames)

    def raising_encode(_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the net's directions need no encode")

    settings = GuideSettings.from_extra({"guide_budget": 6, "guide_final": 1.0, "guide_gain": 2})
    guide = _toy_guide(dec, target, frames, settings, encode=raising_encode, gain_net=net)
    z = torch.full((1, C, frames), 0.5)
    base = _adherence(dec, z, target)
    x = _last_step(guide, z)
    assert _adherence(dec, x, target) < 0.6 * base
    outside, off_grid = _gain_residuals(guide, z, x)  # the change lies in the net's directions
    assert outside < 1e-3 and off_grid < 1e-3, (outside, off_grid)
    # guide_gain_net=0 goes back to the encoder, which this guide refuses
    no_net = GuideSettings.from_extra({"guide_gain": 2, "guide_final": 1.0, "guide_gain_net": 0})
    off = _toy_guide(dec, target, frames, no_net, encode=raising_encode, gain_net=net)
    with pytest.raises(AssertionError, match="no encode"):
        _last_step(off, z)


def test_the_net_file_round_trips_and_bad_files_are_one_line(tmp_path: Path) -> None:
    net = GainDirectionNet(GainNetConfig(C, RATIO, SR, hidden=8, layers=1))
    with torch.no_grad():
        net.out_scale.fill_(0.25)
    path = save_gain_net(net, tmp_path / GAIN_NET_FILE, {"note": "test"})
    back = load_gain_net(path)
    z, audio = torch.randn(1, C, 9), torch.randn(1, 2, 9 * RATIO)
    assert torch.equal(back.directions(z, audio), net.directions(z, audio))
    assert back.directions(z, audio).shape == (2, 1, C, 9)
    with pytest.raises(ModelError, match="already exists"):
        save_gain_net(net, path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot read gain direction net") as err:
        load_gain_net(bad)
    assert "\n" not in str(err.value) and "bad.safetensors" in str(err.value)
    from triergon_studio.engine.curve_control.latent_head import HeadConfig, LatentLoudnessHead, save_head

    head = save_head(LatentLoudnessHead(HeadConfig(C, RATIO, SR, hidden=8, layers=1)), tmp_path / "h.st")
    with pytest.raises(ModelError, match="not a gain direction net"):
        load_gain_net(head)
    with pytest.raises(ModelError, match="one latent of 4 channels"):
        net.directions(torch.randn(1, C + 1, 9), audio)


@pytest.mark.slow
def test_train_gain_net_cli_writes_a_listed_net_that_takes_use(tmp_path: Path) -> None:
    from tests.engine.test_latent_head import _guided_take_metadata
    from triergon_studio.cli import main
    from triergon_studio.engine.weights import random_model, save_model_dir
    from triergon_studio.takes import load_model

    folder = save_model_dir(random_model("tiny", seed=0), None, tmp_path / "tiny")
    assert gain_net_for_model(load_model(str(folder))) is None
    args = ["train-gain-net", str(folder), "--clips", "2", "--val-clips", "1", "--steps", "3"]
    assert main([*args, "--hidden", "8", "--layers", "1", "--threads", "1"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert GAIN_NET_FILE in manifest["files"]
    record = json.loads(load_gain_net_meta(folder / GAIN_NET_FILE)["record"])
    assert record["latents"]["train"] > 0 and record["val_relative_error_after"] > 0
    assert main([*args, "--seed", "5"]) == 2  # a net is there already: refused, nothing replaced
    model = load_model(str(folder))
    meta = _guided_take_metadata(model, guide_gain=2.0, guide_budget=2.0)
    assert meta["guide_gain_dirs"] == "net"
    meta = _guided_take_metadata(model, guide_gain=2.0, guide_budget=2.0, guide_gain_net=0.0)
    assert meta["guide_gain_dirs"] == "encoder"


def test_a_net_for_another_latent_is_refused(tmp_path: Path) -> None:
    from triergon_studio.engine.weights import random_model, save_model_dir
    from triergon_studio.takes import load_model

    folder = save_model_dir(random_model("tiny", seed=0), None, tmp_path / "tiny")
    model = load_model(str(folder))
    wrong = GainNetConfig(
        int(model.latent_channels) + 1, int(model.downsampling_ratio), SR, hidden=8, layers=1
    )
    save_gain_net(GainDirectionNet(wrong), folder / GAIN_NET_FILE)
    with pytest.raises(ModelError, match="gain direction net is for latents") as err:
        gain_net_for_model(model)
    assert "\n" not in str(err.value)


def load_gain_net_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


@pytest.mark.slow
def test_a_stable_audio_3_folder_gets_a_gain_net_that_its_guided_takes_use(tmp_path: Path) -> None:
    """A user's folder of another family: the net learns from its own autoencoder (SAME, ratio and width of
    its own) and its guided takes in gain mode take their directions from it."""
    from tests.engine.sa3_helpers import make_tiny_sa3_folder
    from tests.engine.test_latent_head import _guided_take_metadata
    from triergon_studio.takes import load_model
    from triergon_studio.training.gain_net import GainNetTrainSettings, train_into_folder

    folder = make_tiny_sa3_folder(tmp_path / "sa3")
    settings = GainNetTrainSettings(clips=2, val_clips=1, steps=3, hidden=8, layers=1, threads=1)
    path, record = train_into_folder(folder, settings)
    assert path == folder / GAIN_NET_FILE and path.is_file()  # a user's folder: no manifest to list it in
    assert record["latents"]["train"] > 0 and np.isfinite(record["val_relative_error_after"])
    model = load_model(str(folder))
    net = gain_net_for_model(model)
    assert net is not None and net.cfg.downsampling_ratio == int(model.downsampling_ratio)
    meta = _guided_take_metadata(model, guide_gain=2.0, guide_budget=2.0)
    assert meta["guide_gain_dirs"] == "net" and meta["guide_gain"] == "all"
