"""The evaluation on a tiny random model: every Table 3 row is produced, conform tightens adherence, the
classifier trains on a pool, and the CLI prints Markdown/JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from triergon_studio.errors import StudioError
from triergon_studio.training.corpus import CorpusConfig
from triergon_studio.training.data import SegmentSpec
from triergon_studio.training.eval.classifier import kl_divergence, train_classifier
from triergon_studio.training.eval.report import curve_mae, to_markdown
from triergon_studio.training.eval.results import EvalReport, Reference, RowResult
from triergon_studio.training.pool import build_pool

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_curve_mae_counts_only_audible_target_frames() -> None:
    target = np.array([[-20.0, -65.0, -30.0], [-70.0, -70.0, -70.0]])
    measured = np.array([[-22.0, -20.0, -31.0], [-10.0, -10.0, -10.0]])
    mae = curve_mae(target, measured)
    assert mae is not None and mae[0] == pytest.approx(1.5) and np.isnan(mae[1])
    assert curve_mae(np.full((2, 3), -70.0), measured) is None


def test_kl_is_zero_for_equal_distributions_and_positive_otherwise() -> None:
    p = np.array([[0.7, 0.2, 0.1]])
    assert kl_divergence(p, p)[0] == pytest.approx(0.0, abs=1e-9)
    assert kl_divergence(p, np.array([[0.1, 0.2, 0.7]]))[0] > 0.5


@pytest.fixture(scope="module")
def tiny_model_and_classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.lufs_config import LufsPredictorConfig
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import randomize_, save_model_dir

    d = tmp_path_factory.mktemp("evalmodel")
    cfg = get_preset("tiny")
    cfg.lufs_predictor = LufsPredictorConfig.from_dict({"preset": "tiny"})
    model = build_model(cfg)
    randomize_(model, 0)
    save_model_dir(model, cfg, d / "model")
    spec = SegmentSpec(seconds=2.0, video_frames=4, video_size=32, lufs_size=32)
    build_pool(24, 5, spec, CorpusConfig(max_seconds=3.0, mean_seconds=2.0)).save(d / "pool.npz")
    info = train_classifier(d / "classifier.pt", d / "pool.npz", steps=6, batch=6, crop_s=1.0)
    assert 0.0 <= info["val_accuracy_corpus"] <= 1.0
    return d / "model", d / "classifier.pt"


def test_evaluation_rows_targets_and_markdown(
    tiny_model_and_classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    from triergon_studio.training.corpus.heldout import write_heldout
    from triergon_studio.training.eval.report import evaluate_model_dir

    model_dir, clf = tiny_model_and_classifier
    write_heldout(tmp_path / "h", n=2, max_seconds=2.5)
    report = evaluate_model_dir(
        model_dir,
        heldout_dir=tmp_path / "h",
        n_clips=2,
        steps=2,
        rows=["T", "V+T+pred", "V+T+GT"],
        classifier_path=clf,
    )
    rows = report.rows
    assert list(rows) == ["T", "V+T+pred", "V+T+GT"]  # Table 3 order
    gt = rows["V+T+GT"]
    assert gt.lufs_mae_raw is not None and gt.lufs_mae_conform is not None
    assert gt.lufs_mae_conform.mean <= gt.lufs_mae_raw.mean + 1e-6
    assert rows["T"].lufs_mae_raw is None and 0.0 <= rows["T"].class_acc <= 1.0
    assert report.t_lufs_mae is not None and report.t_lufs_mae >= 0.0 and report.reference.av_align_gt >= 0.0
    assert set(report.targets) >= {"lufs_mae_raw_gt", "class_acc_text", "av_align_ratio", "t_lufs_mae"}
    assert report.targets["lufs_mae_raw_gt"].measured == gt.lufs_mae_raw.mean
    assert report.targets["class_acc_text"].measured == rows["T"].class_acc
    data = json.loads(json.dumps(report.to_dict()))  # the `eval --json` shape
    assert "lufs_mae_raw" not in data["rows"]["T"] and data["rows"]["V+T+GT"]["lufs_mae_raw"]["mean"] > 0
    assert EvalReport.from_dict(data) == report
    md = to_markdown(report)
    assert "| V+T+GT |" in md and "T_LUFS error" in md


@pytest.mark.slow
def test_cli_eval_json(tiny_model_and_classifier: tuple[Path, Path], tmp_path: Path) -> None:
    from triergon_studio.training.corpus.heldout import write_heldout

    model_dir, clf = tiny_model_and_classifier
    write_heldout(tmp_path / "h", n=1, max_seconds=2.0)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "triergon_studio",
            "eval",
            str(model_dir),
            "--set",
            "heldout",
            "--heldout-dir",
            str(tmp_path / "h"),
            "--clips",
            "1",
            "--steps",
            "2",
            "--rows",
            "T",
            "--classifier",
            str(clf),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["rows"]["T"]["class_acc"] in (0.0, 1.0)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "triergon_studio",
            "eval",
            str(tmp_path / "nope"),
            "--set",
            "heldout",
            "--heldout-dir",
            str(tmp_path / "h"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "model folder not found" in bad.stderr


def test_reference_audio_row_reaches_the_model(
    tiny_model_and_classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    """V+T+A must condition on the clip's audio: it once set a misspelt request field and equalled V+T."""
    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.corpus.heldout import write_heldout
    from triergon_studio.training.eval.report import generate_one, load_clips

    model_dir, _ = tiny_model_and_classifier
    write_heldout(tmp_path / "h", n=1, max_seconds=2.0)
    (clip,) = load_clips(tmp_path / "h", 1)
    model = load_model_dir(model_dir)
    vt = generate_one(model, clip, "V+T", steps=2, seed=5)
    vta = generate_one(model, clip, "V+T+A", steps=2, seed=5)
    assert vt.shape == vta.shape and not np.allclose(vt, vta)


def test_row_groups_and_merge() -> None:
    from triergon_studio.training.eval.parallel import row_groups
    from triergon_studio.training.eval.results import ROWS, merge_reports

    groups = row_groups(ROWS, 3)
    assert sorted(r for g in groups for r in g) == sorted(ROWS) and len(groups) == 3
    assert row_groups(ROWS, 99) == [[r] for r in ROWS] and row_groups(ROWS, 0) == [list(ROWS)]
    ref = Reference(av_align_gt=0.2, classifier_acc_on_gt_audio=1.0)
    row = _row(class_acc=0.5, av_align_ratio=0.9)
    a = EvalReport(2, ref, {"V": row}, t_lufs_mae=4.0)
    b = EvalReport(2, ref, {"T": _row(class_acc=1.0)})
    merged = merge_reports([a, b], ROWS)
    assert list(merged.rows) == ["T", "V"] and merged.t_lufs_mae == 4.0  # Table 3 order, not arrival
    assert merged.targets["class_acc_text"].measured == 1.0
    assert merged.targets["av_align_ratio"].measured == 0.9  # no V+T+GT row: the best video row
    assert merged.targets["lufs_mae_raw_gt"].to_dict() == {
        "target": 2.0,
        "measured": None,
        "met": False,
        "note": "not measured",
    }
    with pytest.raises(StudioError, match="disagree"):
        merge_reports([a, EvalReport(3, ref, b.rows)], ROWS)


def _row(**over: float) -> RowResult:
    from triergon_studio.training.eval.results import ChannelMAE

    base = {
        "class_acc": 0.5,
        "class_acc_train_captions": 0.5,
        "class_acc_heldout_captions": 0.5,
        "kl_ref_gen": 1.0,
        "av_align": 0.1,
        "av_align_ratio": 0.5,
        "seconds": 1.0,
    }
    return RowResult(**{**base, **over}, lufs_mae_vs_gt=ChannelMAE(9.0, 11.0, 10.0))  # type: ignore[arg-type]


def test_the_bundled_manifest_eval_reads_into_the_typed_report_and_back_unchanged() -> None:
    """The report in model_weights/compact/manifest.json keeps its JSON shape through the typed object."""
    from triergon_studio.training.eval.results import compute_targets

    path = REPO_ROOT / "model_weights" / "compact" / "manifest.json"
    data = json.loads(path.read_text())["eval"]
    report = EvalReport.from_dict(data, path)
    assert json.dumps(report.to_dict()) == json.dumps(data)  # same keys, same order, same values
    assert report.targets == compute_targets(report)  # the recorded targets follow from the recorded rows
    gt = report.rows["V+T+GT"]
    assert (
        gt.lufs_mae_conform is not None
        and report.targets["lufs_mae_conform_gt"].measured == gt.lufs_mae_conform.mean
    )
    assert "| V+T+pred |" in to_markdown(report)
    broken = {**data, "rows": {**data["rows"], "T": {**data["rows"]["T"], "class_accuracy": 1.0}}}
    with pytest.raises(StudioError, match="class_accuracy") as err:
        EvalReport.from_dict(broken, path)
    assert str(path) in str(err.value)


@pytest.mark.slow
def test_parallel_evaluation_equals_one_process(
    tiny_model_and_classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    from triergon_studio.training.corpus.heldout import write_heldout
    from triergon_studio.training.eval.parallel import evaluate_parallel
    from triergon_studio.training.eval.report import ROWS, evaluate_model_dir

    model_dir, clf = tiny_model_and_classifier
    write_heldout(tmp_path / "h", n=2, max_seconds=2.0)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(clf, work / "classifier.pt")
    par = evaluate_parallel(model_dir, work, tmp_path / "h", 2, jobs=3, compare=model_dir)
    one = evaluate_model_dir(model_dir, heldout_dir=tmp_path / "h", n_clips=2, classifier_path=clf)
    assert list(par.rows) == list(ROWS) == list(one.rows)
    for r in ROWS:
        for k in ("class_acc", "kl_ref_gen", "av_align", "lufs_mae_vs_gt"):
            assert getattr(par.rows[r], k) == getattr(one.rows[r], k), (r, k)
    assert par.targets == one.targets and par.t_lufs_mae == one.t_lufs_mae
    comp = par.lufs_mode_comparison  # the same model compared with itself: one entry, equal figures
    assert comp is not None and len(comp) == 1
    gt_raw = one.rows["V+T+GT"].lufs_mae_raw
    assert gt_raw is not None and next(iter(comp.values())).raw == gt_raw.mean


def test_dev_check_measures_vae_and_t_lufs_on_fresh_clips(
    tiny_model_and_classifier: tuple[Path, Path],
) -> None:
    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.training.eval.classifier import load_classifier
    from triergon_studio.training.eval.dev_check import dev_check, dev_pool

    model_dir, clf = tiny_model_and_classifier
    model = load_model_dir(model_dir).eval()
    classifier, _ = load_classifier(clf)
    pool = dev_pool(3, seconds=2.0)
    out = dev_check(model, classifier, pool)
    assert out["clips"] == 3 and 0.0 <= out["classifier_acc_vae_reconstruction"] <= 1.0
    assert out["vae_mel_shape_error_db"] > 0.0  # a random VAE does not reproduce the spectrum
    assert out["t_lufs_mae_lu"] > 0.0 and out["t_lufs_breakdown"]["audible_frames"] > 0

    import torch

    class Identity(torch.nn.Module):  # a perfect "VAE" scores the originals' accuracy and no shape error
        def encode(self, x):  # type: ignore[no-untyped-def]
            return x

        def decode(self, z):  # type: ignore[no-untyped-def]
            return z

    model.vae = Identity()
    perfect = dev_check(model, classifier, pool)
    assert perfect["classifier_acc_vae_reconstruction"] == perfect["classifier_acc_original"]
    assert perfect["vae_mel_shape_error_db"] == 0.0
    assert perfect["vae_curve_mae_lu"] == 0.0 and perfect["vae_curve_mae_after_offset_lu"] == 0.0
    bal = perfect["stereo_balance"]  # a perfect codec keeps the balance exactly
    assert bal["lr_error_db"] == 0.0 and bal["reconstruction_abs_lr_db"] == bal["original_abs_lr_db"]

    class Mono(Identity):  # both channels equally loud: no balance left, whatever the input's
        def decode(self, z):  # type: ignore[no-untyped-def]
            return z.mean(1, keepdim=True).expand_as(z)

    class Quieter(Identity):  # 6 dB down everywhere: 6.02 LU off, all of it one offset per clip
        def decode(self, z):  # type: ignore[no-untyped-def]
            return z * 0.5

    model.vae = Quieter()
    quiet = dev_check(model, classifier, pool)
    assert quiet["vae_curve_mae_lu"] == pytest.approx(6.02, abs=0.02)
    assert quiet["vae_curve_mae_after_offset_lu"] == pytest.approx(0.0, abs=0.01)

    model.vae = Mono()
    mono = dev_check(model, classifier, pool)["stereo_balance"]
    assert mono["reconstruction_abs_lr_db"] == 0.0 and mono["lr_error_db"] == mono["original_abs_lr_db"] > 0


def test_dev_check_puts_a_coherent_side_decoder_into_a_free_side_model(tmp_path: Path) -> None:
    import dataclasses

    import torch
    from safetensors.torch import save_file

    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.autoencoders import build_autoencoder
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.dev_check import use_vae_weights

    cfg = get_preset("tiny")
    cfg.vae = dataclasses.replace(
        cfg.vae,
        kind="stft",
        channels=16,
        c_mults=[],
        strides=[8],
        latent_dim=cfg.vae.latent_dim,
        n_fft=256,
        hop_length=64,
    )
    model = build_model(cfg)
    torch.manual_seed(0)
    coherent = build_autoencoder(dataclasses.replace(cfg.vae, side="coherent"))
    with torch.no_grad():
        coherent.decoder.pan.bias.fill_(0.3)  # type: ignore[union-attr]
    path = tmp_path / "vae.safetensors"
    save_file({f"vae.{k}": v.contiguous() for k, v in coherent.state_dict().items()}, str(path))
    use_vae_weights(model, str(path))
    assert model.cfg.vae.side == "coherent" and model.vae.decoder.pan is not None
    torch.testing.assert_close(model.vae.decoder.pan.bias, coherent.decoder.pan.bias)
    bad = tmp_path / "dit.safetensors"
    save_file({"dit.x": torch.zeros(1)}, str(bad))
    with pytest.raises(StudioError, match="vae stage"):
        use_vae_weights(model, str(bad))


def test_dev_check_puts_a_gain_head_into_a_model_without_one(tmp_path: Path) -> None:
    import dataclasses

    import torch
    from safetensors.torch import save_file

    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.autoencoders import build_autoencoder
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.training.eval.dev_check import use_vae_weights

    cfg = get_preset("tiny")
    cfg.vae = dataclasses.replace(
        cfg.vae, kind="stft", channels=16, c_mults=[], strides=[8], n_fft=256, hop_length=64
    )
    model = build_model(cfg)
    torch.manual_seed(0)
    gained = build_autoencoder(dataclasses.replace(cfg.vae, side="coherent", gain_head=True))
    assert gained.decoder.gain is not None
    with torch.no_grad():
        gained.decoder.gain.net[-1].bias.fill_(0.2)  # type: ignore[operator]
    path = tmp_path / "vae.safetensors"
    save_file({f"vae.{k}": v.contiguous() for k, v in gained.state_dict().items()}, str(path))
    use_vae_weights(model, str(path))
    assert model.cfg.vae.gain_head and model.cfg.vae.side == "coherent"
    z = torch.randn(1, cfg.vae.latent_dim, 3)
    with torch.no_grad():
        torch.testing.assert_close(model.vae.decode(z), gained.eval().decode(z))


def test_curve_error_splits_into_offset_and_shape_and_gaps_are_counted() -> None:
    """``clip_mean_abs_offset`` is each clip's median level error, ``clip_mae_after_offset`` what is left, and
    ``silent_frame_leak`` the silent target frames a take makes audible (what the audible-frame error skips)."""
    from triergon_studio.training.eval.dev_check import (
        clip_mae_after_offset,
        clip_mean_abs_offset,
        silent_frame_leak,
    )

    g = np.array([[-20.0, -20.0, -20.0, -70.0], [-30.0, -30.0, -30.0, -70.0]])
    louder = g + np.array([[4.0, 4.0, 4.0, 0.0], [4.0, 4.0, 4.0, 0.0]])  # 4 LU up, gaps kept
    wobbly = g + np.array([[-2.0, 0.0, 2.0, 30.0], [0.0, 0.0, 0.0, 5.0]])  # shape off, one gap lifted
    assert clip_mean_abs_offset([(louder, g)]) == pytest.approx(4.0)
    assert clip_mae_after_offset([(louder, g)]) == pytest.approx(0.0)
    assert clip_mean_abs_offset([(wobbly, g)]) == pytest.approx(0.0)
    assert clip_mae_after_offset([(wobbly, g)]) == pytest.approx(4.0 / 6, abs=1e-3)
    assert silent_frame_leak([(louder, g)]) == {"frames": 2, "audible_share": 0.0, "mean_lufs": -70.0}
    assert silent_frame_leak([(wobbly, g)]) == {"frames": 2, "audible_share": 0.5, "mean_lufs": -52.5}
    assert silent_frame_leak([])["frames"] == 0
