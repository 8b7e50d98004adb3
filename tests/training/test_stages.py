"""A few steps of each training stage on the CPU with the tiny preset: the loss falls, runs resume exactly,
and two processes train together under torchrun (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from triergon_studio.errors import StudioError
from triergon_studio.training.config import StageConfig, load_stage_config
from triergon_studio.training.runner import read_log, run_stage

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "triergon_studio" / "training" / "configs"


def _cfg(stage: str, tmp: Path, **over: object) -> StageConfig:
    cfg = load_stage_config(CONFIGS / f"tiny_{stage}.json")
    cfg.out_dir = str(tmp / stage)
    for k, v in over.items():
        assert hasattr(cfg, k), k  # a setting of another stage would be silently ignored
        setattr(cfg, k, v)
    return cfg


def _falls(out: Path, k: int = 4) -> tuple[float, float]:
    losses = [r["loss"] for r in read_log(out)]
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def test_vae_stage_loss_falls_and_latents_are_normalised(tmp_path: Path) -> None:
    cfg = _cfg("vae", tmp_path, steps=14, batch_size=2, crop_seconds=0.25, segment_seconds=0.5, pool_size=6)
    summary = run_stage(cfg)
    first, last = _falls(Path(cfg.out_dir))
    assert last < first, (first, last)
    assert abs(summary["latent_std_after"] - 1.0) < 0.35
    keys = load_file(summary["weights"])
    assert keys and all(k.startswith("vae.") for k in keys)


def test_vae_decoder_only_run_keeps_the_latents_and_trains_with_the_discriminator(tmp_path: Path) -> None:
    small = {"batch_size": 2, "crop_seconds": 0.25, "segment_seconds": 0.5, "pool_size": 6}
    base = run_stage(_cfg("vae", tmp_path / "a", steps=4, **small))
    with pytest.raises(StudioError, match="freeze_encoder"):
        run_stage(_cfg("vae", tmp_path / "b", steps=2, freeze_encoder=True, **small))
    with pytest.raises(StudioError, match="disc_ffts"):
        bad = {"adversarial": True, "disc_ffts": [300], "init": [base["weights"]]}
        run_stage(_cfg("vae", tmp_path / "d", steps=2, freeze_encoder=True, **bad, **small))
    adv = {"adversarial": True, "disc_ffts": [256, 512], "init": [base["weights"]]}  # two resolutions
    cfg = _cfg("vae", tmp_path / "c", steps=6, freeze_encoder=True, **adv, **small)
    out = run_stage(cfg)
    a, b = load_file(base["weights"]), load_file(out["weights"])
    assert set(a) == set(b)
    enc = [k for k in a if k.startswith("vae.encoder.")]
    dec = [k for k in a if k.startswith("vae.decoder.")]
    assert enc and dec
    assert all(torch.equal(a[k], b[k]) for k in enc)  # no step and no re-normalisation moved them
    assert any(not torch.equal(a[k], b[k]) for k in dec)
    rows = read_log(Path(cfg.out_dir))
    assert all(np.isfinite(r["adv_d"]) and np.isfinite(r["adv_g"]) for r in rows)


def test_vae_anchored_run_trains_the_encoder_near_its_init_and_keeps_the_latent_scale(tmp_path: Path) -> None:
    small = {"batch_size": 2, "crop_seconds": 0.25, "segment_seconds": 0.5, "pool_size": 6}
    base = run_stage(_cfg("vae", tmp_path / "a", steps=4, **small))
    with pytest.raises(StudioError, match="anchor_weight"):
        run_stage(_cfg("vae", tmp_path / "b", steps=2, anchor_weight=1.0, **small))
    with pytest.raises(StudioError, match="anchor_weight"):
        both = {"anchor_weight": 1.0, "freeze_encoder": True, "init": [base["weights"]]}
        run_stage(_cfg("vae", tmp_path / "c", steps=2, **both, **small))
    drift, moved = {}, {}
    a = load_file(base["weights"])
    enc = [k for k in a if k.startswith("vae.encoder.")]
    # both keep the latent scale (export does not re-normalise); only the pull of the anchor differs
    for w in (1e-9, 100.0):
        cfg = _cfg(
            "vae", tmp_path / f"w{w:g}", steps=6, lr=3e-3, anchor_weight=w, init=[base["weights"]], **small
        )
        b = load_file(run_stage(cfg)["weights"])
        moved[w] = sum(float((b[k] - a[k]).pow(2).sum()) for k in enc)
        anchors = [r["anchor"] for r in read_log(Path(cfg.out_dir))]  # mean squared latent change
        assert all(np.isfinite(anchors)) and anchors[0] == 0.0
        drift[w] = float(np.mean(anchors[-3:]))
    assert moved[100.0] > 0  # the encoder trains
    assert 0 < drift[100.0] < 0.5 * drift[1e-9], drift


def test_vae_run_trains_only_the_named_parameters(tmp_path: Path) -> None:
    small = {"batch_size": 2, "crop_seconds": 0.25, "segment_seconds": 0.5, "pool_size": 6}
    base = run_stage(_cfg("vae", tmp_path / "a", steps=2, **small))
    a = load_file(base["weights"])
    name = sorted(k for k in a if k.startswith("vae.decoder."))[-1]
    only = name[len("vae.") :].rsplit(".", 1)[0]  # one layer of the decoder
    with pytest.raises(StudioError, match="trainable"):
        run_stage(_cfg("vae", tmp_path / "b", steps=2, trainable=["decoder.nothing"], **small))
    # anchor_weight: the export keeps the latent scale, so an untouched tensor stays bit for bit
    keep = {"anchor_weight": 1.0, "init": [base["weights"]], "lr": 3e-3}
    b = load_file(
        run_stage(_cfg("vae", tmp_path / "c", steps=4, trainable=[only], **keep, **small))["weights"]
    )
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith(f"vae.{only}.") for k in changed), sorted(changed)[:3]


def test_encoder_stage_aligns_audio_and_video_to_text(tmp_path: Path) -> None:
    cfg = _cfg("encoders", tmp_path, steps=20)
    run_stage(cfg)
    first, last = _falls(Path(cfg.out_dir))
    assert last < 0.8 * first, (first, last)
    assert all(k.startswith("encoders.") for k in load_file(str(Path(cfg.out_dir) / "weights.safetensors")))


def test_lufs_stage_loss_falls(tmp_path: Path) -> None:
    cfg = _cfg("lufs", tmp_path, steps=20)
    run_stage(cfg)
    first, last = _falls(Path(cfg.out_dir))
    assert last < first, (first, last)


def test_gated_lufs_stage_learns_the_gate_and_fits_levels_on_audible_frames_only(tmp_path: Path) -> None:
    from triergon_studio.engine.models.lufs_config import LufsPredictorConfig
    from triergon_studio.engine.models.lufs_predictor import LufsPredictor
    from triergon_studio.training.stages import LufsModule

    over = {"lufs_predictor": {"preset": "tiny", "head": "gated"}}
    cfg = _cfg("lufs", tmp_path, steps=20, model_overrides=over)
    run_stage(cfg)
    rows = read_log(Path(cfg.out_dir))
    assert {"level_loss", "gate_loss", "gate_acc"} <= set(rows[0])
    first, last = _falls(Path(cfg.out_dir))
    assert last < first, (first, last)
    # the level's loss has no gradient at silent frames; the gate's does
    torch.manual_seed(0)
    pred = LufsPredictor(LufsPredictorConfig.from_dict(over["lufs_predictor"]))
    module = LufsModule(pred)
    curves = torch.full((1, 2, 6), 0.6)
    curves[:, :, 3:] = 0.05  # -66.5 LUFS: silent
    batch = {
        "frames6": torch.randint(0, 255, (1, 6, 32, 32, 3), dtype=torch.uint8),
        "curves": curves,
        "valid": torch.tensor([44100]),
    }
    outs: dict[str, torch.Tensor] = {}

    def keep(_m: object, _i: object, out: torch.Tensor) -> None:
        out.retain_grad()
        outs["head"] = out

    pred.head.register_forward_hook(keep)
    loss, stats = module(batch)
    loss.backward()
    g = outs["head"].grad[0]  # [F, 4]: L/R level logits, L/R gate logits
    assert torch.all(g[3:, :2] == 0) and torch.all(g[:3, :2] != 0)
    assert torch.all(g[:, 2:] != 0)
    assert 0.0 <= stats["gate_acc"] <= 1.0


def test_dit_stage_loss_falls_resumes_exactly_and_refuses_to_overwrite(tmp_path: Path) -> None:
    full = _cfg("dit", tmp_path / "a", steps=24, ckpt_every=12)
    run_stage(full)
    first, last = _falls(Path(full.out_dir))
    assert last < first, (first, last)
    with pytest.raises(StudioError):
        run_stage(full)
    part = _cfg("dit", tmp_path / "b", steps=24, ckpt_every=12, stop_at=12)
    first_half = run_stage(part)
    assert not first_half["finished"]
    assert not (Path(part.out_dir) / "weights.safetensors").exists()
    part.stop_at = 0
    summary = run_stage(part, resume=True)
    assert summary["resumed_from"] == 12
    # the time of both halves is kept (a bundle's manifest reports the whole training time)
    assert summary["seconds_total"] == pytest.approx(first_half["seconds"] + summary["seconds"], abs=0.02)
    # a run killed after its checkpoint leaves no summary: the checkpoint carries its time
    killed = _cfg("dit", tmp_path / "c", steps=24, ckpt_every=12, stop_at=12)
    killed_half = run_stage(killed)
    (Path(killed.out_dir) / "summary.json").unlink()
    killed.stop_at = 0
    resumed = run_stage(killed, resume=True)
    assert resumed["seconds_total"] == pytest.approx(killed_half["seconds"] + resumed["seconds"], abs=0.1)
    a = load_file(str(Path(full.out_dir) / "weights.safetensors"))
    b = load_file(str(Path(part.out_dir) / "weights.safetensors"))
    assert set(a) == set(b) and any(k.startswith("conditioner.") for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    steps = [int(r["step"]) for r in read_log(part.out_dir)]
    assert steps == sorted(steps) and steps[-1] == 23


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "triergon_studio",
        "train",
        "dit",
        "--config",
        str(CONFIGS / "tiny_dit.json"),
        "--out",
        str(out),
        "--steps",
        "6",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6
    assert (out / "weights.safetensors").exists() and len(read_log(out)) >= 2


def test_data_dependent_init_makes_the_latent_path_live() -> None:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.vae import OobleckVAE
    from triergon_studio.training.stages import data_dependent_init

    torch.manual_seed(0)
    vae = OobleckVAE(get_preset("tiny").vae)
    t = torch.arange(8192) / 44100
    audio = torch.stack(
        [
            torch.stack([a * torch.sin(2 * torch.pi * f * t)] * 2)
            for a, f in ((0.01, 220.0), (0.03, 880.0), (0.02, 3000.0))
        ]
    )
    data_dependent_init(vae, audio)
    with torch.no_grad():
        z = vae.encode(audio)
        y = vae.decode(z, audio.shape[-1])
        y0 = vae.decode(torch.zeros_like(z), audio.shape[-1])
    assert 0.5 < float(z.std()) < 2.0
    assert abs(float(y.std()) / float(audio.std()) - 1.0) < 0.5
    assert float((y - y0).std()) > 0.2 * float(audio.std())  # the output depends on the latent


def test_losses_ignore_the_noise_floor_but_see_level() -> None:
    from triergon_studio.training import losses

    torch.manual_seed(0)
    x = torch.randn(2, 2, 8192) * 0.1
    floor_a, floor_b = x + torch.randn_like(x) * 1e-6, x + torch.randn_like(x) * 1e-6
    assert float(losses.multi_resolution_stft(floor_a, floor_b)) < 0.05
    assert float(losses.envelope_loss(x * 0.1, x)) == pytest.approx(
        2.0, abs=0.05
    )  # -20 dB = 2 in log10 energy


def test_multi_scale_mel_sees_timbre_not_phase() -> None:
    from triergon_studio.training import losses

    torch.manual_seed(1)
    n = 16384
    t = torch.arange(n) / 44100
    low = torch.sin(2 * torch.pi * 220 * t)[None, None].repeat(1, 2, 1) * 0.1
    shifted = torch.sin(2 * torch.pi * 220 * t + 1.3)[None, None].repeat(1, 2, 1) * 0.1  # same spectrum
    high = torch.sin(2 * torch.pi * 3520 * t)[None, None].repeat(1, 2, 1) * 0.1
    same = float(losses.multi_scale_mel(shifted, low))
    other = float(losses.multi_scale_mel(high, low))
    assert same < 0.05 and other > max(0.2, 10 * same), (same, other)  # log10 units, averaged over bands
    pred = high.clone().requires_grad_(True)
    losses.multi_scale_mel(pred, low).backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_run_log_survives_a_foreign_header_and_new_metrics(tmp_path: Path) -> None:
    from triergon_studio.training.runner import RunLog

    (tmp_path / "log.csv").write_text("310,6.8,0.1\n,,\n")  # a damaged log from an interrupted run
    log = RunLog(tmp_path, True)
    log.log(0, {"loss": 1.0})
    log.log(10, {"loss": 0.5, "mel": 0.25})  # a resumed run that logs one more metric
    log.close()
    rows = read_log(tmp_path)
    assert [r["step"] for r in rows] == [0, 10]
    assert rows[1]["mel"] == 0.25 and rows[0]["loss"] == 1.0
    assert len(list(tmp_path.glob("log.unreadable-*.csv"))) == 1  # the old file is kept, not overwritten


def test_lufs_stage_features_with_a_dinov2_backbone() -> None:
    """The paper's T_LUFS uses DINOv2 features: the training stage feeds them (frozen) like the predictor's
    own inference path does (it used to call a frame-CNN-only method and fail)."""
    import torch

    from triergon_studio.engine.models.lufs_config import LufsPredictorConfig
    from triergon_studio.engine.models.lufs_predictor import LufsPredictor
    from triergon_studio.training.stages import LufsModule

    cfg = LufsPredictorConfig("t", 32, 1, 2, features="dinov2-vits14", dinov2_image_size=28)
    pred = LufsPredictor(cfg).eval()
    frames = torch.randint(0, 255, (2, 3, 28, 28, 3), dtype=torch.uint8)  # [B, F, H, W, 3] at 6 fps
    feats = LufsModule(pred).features(frames)
    assert feats.shape == (2, 3, cfg.d_in) and torch.isfinite(feats).all()
    single = pred.frame_features(frames[0].numpy())
    torch.testing.assert_close(feats[0], single, atol=1e-5, rtol=1e-5)


def test_multi_resolution_discriminator_weighs_each_resolution_alike() -> None:
    from triergon_studio.training.losses import MultiResolutionDiscriminator

    disc = MultiResolutionDiscriminator([256, 1024])
    logits, feats = disc(torch.randn(2, 2, 8192))
    parts = [d(torch.randn(2, 2, 8192))[0].flatten(1).shape[1] for d in disc.discs]
    assert logits.shape == (2, sum(parts)) and len(feats) == 2 * len(disc.discs[0].layers)
    assert max(parts) / min(parts) < 1.2  # frames x bins / 4 barely depends on the FFT size


def test_balance_loss_sees_the_balance_and_nothing_else() -> None:
    from triergon_studio.training import losses

    torch.manual_seed(0)
    x = torch.randn(2, 2, 22050) * 0.1
    assert float(losses.balance_loss(x, x)) == 0.0
    assert float(losses.balance_loss(3.0 * x, x)) == pytest.approx(0.0, abs=1e-5)  # level alone: nothing
    louder_left = x * torch.tensor([2.0, 1.0])[None, :, None]
    assert float(losses.balance_loss(louder_left, x)) == pytest.approx(0.602, abs=0.01)  # 6.02 dB / 10
    louder_right = x * torch.tensor([1.0, 2.0])[None, :, None]  # the same 6 dB on the other side: 12 dB off
    assert float(losses.balance_loss(louder_right, louder_left)) == pytest.approx(1.204, abs=0.02)
    silent = torch.zeros_like(x)  # no audible band in the target: nothing to match
    assert float(losses.balance_loss(louder_left, silent)) == 0.0
    pred = louder_left.clone().requires_grad_(True)
    losses.balance_loss(pred, x).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and float(pred.grad.abs().sum()) > 0


def test_loudness_curve_loss_counts_level_in_lu_on_audible_frames() -> None:
    from triergon_studio.training import losses

    torch.manual_seed(0)
    x = torch.randn(2, 2, 44100) * 0.05  # 1 s: six curve frames per channel, all audible
    assert float(losses.loudness_curve_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    # K-weighting is linear, so 6.02 dB of gain is 6.02 LU in every frame: Huber (delta 3) = 3 * (6.02 - 1.5)
    assert float(losses.loudness_curve_loss(2.0 * x, x)) == pytest.approx(13.56, abs=0.05)
    assert float(losses.loudness_curve_loss(0.5 * x, x)) == pytest.approx(13.56, abs=0.05)
    quiet = x.clone()
    quiet[..., 22050:] *= 1e-5  # the second half 100 dB down: under -60 LUFS, so not counted
    louder_silence = quiet.clone()
    louder_silence[..., 22050 + 7350 :] *= 100.0  # 40 dB up, still silent, away from the last audible frame
    assert float(losses.loudness_curve_loss(louder_silence, quiet)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.loudness_curve_loss(quiet, louder_silence)) == pytest.approx(0.0, abs=1e-6)
    pred = (0.5 * x).requires_grad_(True)
    losses.loudness_curve_loss(pred, x).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert float((pred.grad * pred.detach()).sum()) < 0  # the loss falls as the take gets louder


def test_loudness_curve_loss_silence_part_holds_the_gaps_down() -> None:
    """With ``silence``, a decode that lifts the input's silent frames costs the Huber distance of the rise
    (here about 45 LU on the lifted frames); one that keeps them quiet costs nothing more."""
    from triergon_studio.training import losses

    torch.manual_seed(0)
    x = torch.randn(1, 2, 88200) * 0.05
    quiet = x.clone()
    quiet[..., 44100:] *= 1e-5  # the second second silent (floored at -70 LUFS)
    lifted = quiet.clone()
    lifted[..., 44100 + 7350 :] *= 1e4  # back up to -46 LUFS, away from the last audible frame
    assert float(losses.loudness_curve_loss(lifted, quiet)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.loudness_curve_loss(quiet, quiet, silence=1.0)) == pytest.approx(0.0, abs=1e-6)
    held = float(losses.loudness_curve_loss(lifted, quiet, silence=1.0))
    assert 20.0 < held < 3 * (24.0 - 1.5)  # part of the silent frames, each about 24 LU up
    pred = lifted.clone().requires_grad_(True)
    losses.loudness_curve_loss(pred, quiet, silence=1.0).backward()
    assert pred.grad is not None and float((pred.grad * pred.detach())[..., 44100 + 7350 :].sum()) > 0


def test_vae_gain_head_run_trains_the_head_alone(tmp_path: Path) -> None:
    """The compact recipe's gain run on the tiny preset with a spectral autoencoder: only ``decoder.gain``
    moves, every other tensor stays bit for bit, and the loudness term with its silent part is logged."""
    small = {"batch_size": 2, "crop_seconds": 0.5, "segment_seconds": 0.5, "pool_size": 6}
    stft = {"vae": {"kind": "stft", "c_mults": [], "strides": [8], "n_fft": 256, "hop_length": 64}}
    base = run_stage(_cfg("vae", tmp_path / "a", steps=2, model_overrides=stft, **small))
    gain = {"vae": {**stft["vae"], "gain_head": True}}
    cfg = _cfg(
        "vae",
        tmp_path / "b",
        steps=4,
        lr=1e-2,
        freeze_encoder=True,
        model_overrides=gain,
        trainable=["decoder.gain"],
        stft_weight=0.0,
        stereo_weight=0.0,
        loudness_weight=1.0,
        loudness_silence=1.0,
        init=[base["weights"]],
        **small,
    )
    a, b = load_file(base["weights"]), load_file(run_stage(cfg)["weights"])
    added = set(b) - set(a)
    assert added and all(k.startswith("vae.decoder.gain.") for k in added) and not set(a) - set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(float(b[k].abs().max()) > 0 for k in added if k.endswith("net.4.weight"))
    rows = read_log(Path(cfg.out_dir))
    assert rows and all(np.isfinite(r["loudness_lu"]) for r in rows)


def test_vae_decoder_run_with_the_loudness_term_logs_it(tmp_path: Path) -> None:
    small = {"batch_size": 2, "crop_seconds": 0.5, "segment_seconds": 0.5, "pool_size": 6}
    base = run_stage(_cfg("vae", tmp_path / "a", steps=2, **small))
    cfg = _cfg(
        "vae",
        tmp_path / "b",
        steps=3,
        freeze_encoder=True,
        loudness_weight=0.2,
        init=[base["weights"]],
        **small,
    )
    run_stage(cfg)
    rows = read_log(Path(cfg.out_dir))
    assert rows and all(np.isfinite(r["loudness_lu"]) and r["loudness_lu"] >= 0 for r in rows)


def _tiny_head(path: Path, level_db: float | None = None) -> Path:
    from triergon_studio.engine.curve_control.latent_head import HeadConfig, LatentLoudnessHead, save_head

    torch.manual_seed(0)
    head = LatentLoudnessHead(HeadConfig(latent_channels=8, downsampling_ratio=2048, sample_rate=44100))
    if level_db is not None:  # every block at this level, whatever the latent
        out = head.net[-1]
        assert isinstance(out, torch.nn.Conv1d) and out.bias is not None
        with torch.no_grad():
            out.weight.zero_()
            out.bias.fill_(level_db)
    return save_head(head, path)


def test_dit_curve_term_is_the_huber_distance_in_lu_on_audible_frames(tmp_path: Path) -> None:
    """A head that puts every block at -30 dB reads -30.691 LUFS everywhere; a target 6 LU louder on its
    audible frames costs Huber(6, delta 3) = 13.5 there, silent target frames cost nothing, and each item
    counts by its weight."""
    from triergon_studio.training.config import DiTStageConfig
    from triergon_studio.training.stage_dit import DiTModule

    head = str(_tiny_head(tmp_path / "h.safetensors", -30.0))
    cfg = DiTStageConfig("dit", str(tmp_path), loudness_weight=1.0, loudness_head=head)
    module = DiTModule(torch.nn.Identity(), torch.nn.Identity(), 44100 / 2048, cfg)
    estimate = torch.randn(2, 8, 22)  # about 1 s of latents: six curve frames
    target = torch.full((2, 2, 6), -30.691 + 6.0)
    target[0, :, 3:] = -70.0  # silent: left out
    target[1] = -30.691  # met exactly
    one = module._curve_term(estimate, target, torch.tensor([1.0, 0.0]))
    assert float(one) == pytest.approx(13.5, abs=0.01)
    both = module._curve_term(estimate, target, torch.tensor([1.0, 1.0]))
    assert float(both) == pytest.approx(13.5 / 2, abs=0.01)
    with pytest.raises(StudioError, match="loudness_head"):
        DiTModule(
            torch.nn.Identity(), torch.nn.Identity(), 1.0, DiTStageConfig("dit", "x", loudness_weight=1.0)
        )


def test_dit_curve_term_weights_items_by_signal_share_up_to_max_t(tmp_path: Path) -> None:
    from triergon_studio.engine.sampling.schedule import alpha_sigma
    from triergon_studio.training.config import DiTStageConfig
    from triergon_studio.training.stage_dit import DiTModule

    head = str(_tiny_head(tmp_path / "h.safetensors", -30.0))
    t = torch.tensor([0.2, 0.5, 0.8])
    a, _ = alpha_sigma(t)

    def weights(max_t: float) -> torch.Tensor:
        cfg = DiTStageConfig(
            "dit", str(tmp_path), loudness_weight=1.0, loudness_head=head, loudness_max_t=max_t
        )
        return DiTModule(torch.nn.Identity(), torch.nn.Identity(), 1.0, cfg).item_weights(t)

    torch.testing.assert_close(weights(1.0), a * a)
    torch.testing.assert_close(weights(0.5), torch.stack([a[0] ** 2, a[1] ** 2, torch.tensor(0.0)]))
    assert float(a[0]) > float(a[1]) > float(a[2]) > 0
    for bad in (0.0, 1.5):
        with pytest.raises(StudioError, match="loudness_max_t"):
            weights(bad)


def test_dit_stage_with_the_curve_term_logs_it_and_exports_no_head(tmp_path: Path) -> None:
    head = str(_tiny_head(tmp_path / "head.safetensors"))
    cfg = _cfg("dit", tmp_path / "a", steps=6, p_lufs=0.0, loudness_weight=0.05, loudness_head=head)
    out = run_stage(cfg)
    rows = read_log(Path(cfg.out_dir))
    assert rows and all(np.isfinite(r["loudness_lu"]) and r["loudness_lu"] > 0 for r in rows)
    keys = load_file(out["weights"])
    assert keys and all(k.startswith(("dit.", "conditioner.")) for k in keys)


def test_dit_curve_term_through_the_autoencoders_loudness_track(tmp_path: Path) -> None:
    """``loudness_source="track"``: a band-PCA autoencoder's own loudness track reads the estimate's curves (no
    head file); a target 2 LU above them costs Huber(2, delta 3) = 2.0; a stage run logs the term; an
    autoencoder without a track is refused."""
    from triergon_studio.engine.config import VAEConfig
    from triergon_studio.engine.curve_control.loudness_torch import track_curves
    from triergon_studio.engine.models.autoencoders import build_autoencoder
    from triergon_studio.training.config import DiTStageConfig
    from triergon_studio.training.stage_dit import DiTModule

    code = {"kind": "bandpca", "c_mults": [], "strides": [8], "n_bands": 16, "gl_iters": 2}
    ae = build_autoencoder(VAEConfig(latent_dim=8, **code), 44100)  # type: ignore[arg-type]
    cfg = DiTStageConfig("dit", str(tmp_path), loudness_weight=1.0, loudness_source="track")
    ratio = 44100 / ae.stride
    module = DiTModule(torch.nn.Identity(), torch.nn.Identity(), ratio, cfg, track=ae.loudness_track)
    estimate = torch.randn(1, 8, 22) * 0.3
    power, hop = ae.loudness_track(estimate)
    target = track_curves(power, hop, 22 * ae.stride, 44100).detach() + 2.0
    assert bool((target > -60).all())
    assert float(module._curve_term(estimate, target, torch.ones(1))) == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(StudioError, match="loudness track"):
        DiTModule(torch.nn.Identity(), torch.nn.Identity(), ratio, cfg)
    run = _cfg(
        "dit",
        tmp_path / "a",
        steps=4,
        p_lufs=0.0,
        loudness_weight=0.05,
        loudness_source="track",
        model_overrides={"vae": code},
    )
    run_stage(run)
    rows = read_log(Path(run.out_dir))
    assert rows and all(np.isfinite(r["loudness_lu"]) and r["loudness_lu"] > 0 for r in rows)


def test_dit_curve_term_through_gain_directions_only(tmp_path: Path) -> None:
    """``loudness_gain_only``: the term's value is the free term's, and its gradient on the estimate lies in each
    frame's span of the code's left and right gain directions (a gain can move a level, not a spectral
    shape); without a code that has gain directions it is refused; a stage run trains with it."""
    from triergon_studio.engine.config import VAEConfig
    from triergon_studio.engine.curve_control.loudness_torch import track_curves
    from triergon_studio.engine.models.autoencoders import build_autoencoder
    from triergon_studio.training.config import DiTStageConfig
    from triergon_studio.training.stage_dit import DiTModule

    code = {"kind": "bandpca", "c_mults": [], "strides": [8], "n_bands": 16, "gl_iters": 2}
    ae = build_autoencoder(VAEConfig(latent_dim=8, **code), 44100)  # type: ignore[arg-type]
    ratio = 44100 / ae.stride
    free_cfg = DiTStageConfig("dit", str(tmp_path), loudness_weight=1.0, loudness_source="track")
    cfg = DiTStageConfig(
        "dit", str(tmp_path), loudness_weight=1.0, loudness_source="track", loudness_gain_only=True
    )
    ident = torch.nn.Identity()
    free = DiTModule(ident, ident, ratio, free_cfg, track=ae.loudness_track)
    module = DiTModule(ident, ident, ratio, cfg, track=ae.loudness_track, gain_directions=ae.gain_directions)
    torch.manual_seed(0)
    base = torch.randn(2, 8, 22) * 0.3
    power, hop = ae.loudness_track(base)
    target = track_curves(power, hop, 22 * ae.stride, 44100).detach() + torch.randn(2, 2, 1) * 4.0
    grads, values = [], []
    for m, proj in ((free, False), (module, True)):
        est = base.clone().requires_grad_(True)
        term = m._curve_term(m.gain_only(est) if proj else est, target, torch.ones(2))
        term.backward()
        grads.append(est.grad)
        values.append(float(term))
    assert values[1] == pytest.approx(values[0], rel=1e-6)
    dirs = ae.gain_directions(base)[:, 0, :, 0]  # [2, latent_dim]
    q, _ = torch.linalg.qr(dirs.T)
    inside = torch.einsum("kq,jq,bjt->bkt", q, q, grads[1])
    assert float((grads[1] - inside).abs().max()) < 1e-6 * float(grads[1].abs().max())
    free_outside = grads[0] - torch.einsum("kq,jq,bjt->bkt", q, q, grads[0])
    assert float(free_outside.abs().max()) > 0.1 * float(grads[0].abs().max())  # the free term's is not
    with pytest.raises(StudioError, match="gain directions"):
        DiTModule(ident, ident, ratio, cfg, track=ae.loudness_track)
    run = _cfg(
        "dit",
        tmp_path / "a",
        steps=3,
        p_lufs=0.0,
        loudness_weight=0.05,
        loudness_source="track",
        loudness_gain_only=True,
        model_overrides={"vae": code},
    )
    run_stage(run)
    rows = read_log(Path(run.out_dir))
    assert rows and all(np.isfinite(r["loudness_lu"]) and r["loudness_lu"] > 0 for r in rows)
