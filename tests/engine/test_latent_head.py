"""The latent loudness head (issue 13's cheaper path): labels, files, the head-corrected guidance, the
L-BFGS direction, and training one through the CLI into a real model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.test_curve_guidance import RATIO, SR, C, ToyDecoder, _adherence, _target
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.engine.curve_control.guidance import (
    HEAD_DEFAULTS,
    CurveGuide,
    GuideSettings,
    _lbfgs_direction,
    target_for_chunk,
)
from triergon_studio.engine.curve_control.hooks import guide_step
from triergon_studio.engine.curve_control.latent_head import (
    HEAD_FILE,
    HeadConfig,
    LatentLoudnessHead,
    block_levels_db,
    curve_from_blocks,
    head_for_model,
    load_head,
    overlap_matrix,
    save_head,
)
from triergon_studio.engine.curve_control.loudness_torch import curve_loss
from triergon_studio.engine.sampler_step import SamplerStep
from triergon_studio.errors import ModelError


def _guided_take_metadata(model: object, **extra: float) -> dict[str, object]:
    """A 2 s guided take through the one use case; its sidecar metadata."""
    from triergon_studio.core.curves import LoudnessCurve
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan
    from triergon_studio.takes import generate_takes, run_to_end

    t = np.arange(12) / 6
    spec = TakeSpec(
        span=TimeSpan(0.0, 2.0),
        text="rain",
        curves=LoudnessCurve(-40 + 10 * t, -30 + 0 * t, 2.0),
        follow_curves="guide",
        steps=4,
        seed=1,
        extra=dict(extra),
    )
    (take,) = run_to_end(generate_takes(spec, model))  # type: ignore[arg-type]
    assert np.isfinite(take.audio).all()
    return dict(take.record["metadata"])


def _stepped_noise(seconds: float, seed: int) -> np.ndarray:
    """Stereo noise whose level changes every half second (independent per channel), with a silent gap."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = rng.standard_normal((n, 2)) * 0.1
    seg = SR // 2
    for a in range(0, n, seg):
        x[a : a + seg] *= 10 ** (rng.uniform(-40, 0, size=2) / 20)
    x[SR : SR + seg] = 0.0
    return x.astype(np.float32)


def test_block_levels_add_up_to_the_engine_curve() -> None:
    rng = np.random.default_rng(0)
    steady = (rng.standard_normal((4 * SR, 2)) * [0.1, 0.01]).astype(np.float32)
    stepped = _stepped_noise(4.0, 0)
    for audio, name in ((steady, "steady"), (stepped, "stepped")):
        levels = block_levels_db(torch.from_numpy(audio.T.copy()), SR, RATIO)
        ref = channel_curves(audio, SR)
        w = overlap_matrix(levels.shape[-1], RATIO, SR, ref.shape[1])
        assert w.shape == (levels.shape[-1], ref.shape[1])
        assert torch.allclose(w.sum(0)[:-1], torch.ones(ref.shape[1] - 1, dtype=w.dtype))
        err = np.abs(curve_from_blocks(levels, w).numpy() - ref)[ref > -60]
        if name == "steady":  # about even energy in every block (noise's own spread): the engine's curve
            assert err.max() < 0.1, err.max()
        else:  # a block straddling a level step spreads its energy evenly over both frames
            assert np.median(err) < 0.5 and err.max() > 1.0, (np.median(err), err.max())


def test_head_files_round_trip_and_refuse_bad_input(tmp_path: Path) -> None:
    head = LatentLoudnessHead(HeadConfig(C, RATIO, SR, hidden=8, layers=2))
    p = save_head(head, tmp_path / HEAD_FILE, {"note": "test"})
    z = torch.randn(1, C, 20)
    assert torch.equal(load_head(p)(z), head(z))
    with pytest.raises(ModelError, match="already exists"):
        save_head(head, p)
    bad = tmp_path / "damaged.safetensors"
    bad.write_bytes(p.read_bytes()[:100])
    with pytest.raises(ModelError) as err:
        load_head(bad)
    assert "damaged.safetensors" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ModelError, match="bad loudness head config"):
        HeadConfig(C, RATIO, SR, kernel=4).check()


class _Folder:
    """Just enough of a model for ``head_for_model``: its folder and latent shape."""

    def __init__(self, path: Path, channels: int = C) -> None:
        self.info = type("Info", (), {"path": str(path), "sample_rate": SR})()
        self.latent_channels = channels
        self.downsampling_ratio = RATIO


def test_head_for_model_finds_and_checks_the_folder_head(tmp_path: Path) -> None:
    assert head_for_model(_Folder(tmp_path)) is None
    save_head(LatentLoudnessHead(HeadConfig(C, RATIO, SR, hidden=8, layers=1)), tmp_path / HEAD_FILE)
    assert isinstance(head_for_model(_Folder(tmp_path)), LatentLoudnessHead)
    with pytest.raises(ModelError, match="this model has 8"):
        head_for_model(_Folder(tmp_path, channels=8))


def test_lbfgs_direction_meets_the_secant_condition_on_a_quadratic() -> None:
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    x0, x1, x2 = (torch.tensor(v, dtype=torch.float64) for v in ([1.0, 1.0], [0.5, 1.2], [0.2, 0.4]))
    hist = [(x1 - x0, a @ (x1 - x0)), (x2 - x1, a @ (x2 - x1))]
    s_new, y_new = hist[-1]
    # BFGS's inverse-Hessian model maps the newest gradient change onto the newest step, exactly
    d = _lbfgs_direction(y_new, hist)
    assert d is not None and torch.allclose(d, -s_new, atol=1e-12)
    g = a @ x2
    d = _lbfgs_direction(g, hist)
    newton = -torch.linalg.solve(a, g)
    assert d is not None and float(d @ g) < 0 and torch.allclose(d, newton, atol=0.01)
    assert _lbfgs_direction(None, hist) is None


def test_settings_start_from_the_path_defaults() -> None:
    assert GuideSettings.from_extra({}).budget == 6 and GuideSettings.from_extra({}).solver == "lbfgs"
    h = GuideSettings.from_extra({}, head=True)
    assert h.budget == HEAD_DEFAULTS["budget"] and h.final == GuideSettings().final
    assert GuideSettings.from_extra({"guide_budget": 3}, head=True).budget == 3
    assert GuideSettings.from_extra({"guide_head": 0}, head=True).budget == 6
    with pytest.raises(ModelError, match="guide_solver"):
        GuideSettings.from_extra({"guide_solver": 3})


def _toy_head(dec: ToyDecoder, frames: int) -> LatentLoudnessHead:
    """A head trained for a few seconds on the toy decoder's own outputs, as the trainer does for a model."""
    torch.manual_seed(0)
    zs = torch.randn(64, C, frames) * 1.5 + 1.0
    with torch.no_grad():
        ys = block_levels_db(dec(zs), SR, RATIO)[..., :frames].clamp_min(-90.0)
    head = LatentLoudnessHead(HeadConfig(C, RATIO, SR, hidden=32, layers=2, kernel=3))
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(300):
        loss = torch.nn.functional.huber_loss(head(zs), ys, delta=3.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.requires_grad_(False)
    return head


def test_head_path_guides_with_forward_only_decodes() -> None:
    frames = 65
    dec = ToyDecoder(frames)
    head = _toy_head(dec, frames)
    target = _target(frames)
    grad_calls = 0

    def decode(z: torch.Tensor) -> torch.Tensor:
        nonlocal grad_calls
        grad_calls += int(torch.is_grad_enabled() and z.requires_grad)
        return dec(z)

    # the free latent (gain mode, the head path's default, has its own tests: test_gain_guidance.py)
    settings = GuideSettings.from_extra({"guide_budget": 5, "guide_final": 1.0, "guide_gain": 0}, head=True)
    guide = CurveGuide(
        decode, target_for_chunk(target, 0.0, frames, RATIO, SR), SR, RATIO, 12, settings, head=head
    )
    z = torch.zeros(1, C, frames)
    before = _adherence(dec, z, target)
    with torch.inference_mode():
        x = guide_step(SamplerStep(12, 12, z.clone(), z.clone(), 0.0), guide)
    after = _adherence(dec, x, target)
    assert after < 0.5 * before, (before, after)
    assert guide.passes_used == 5 and grad_calls == 0
    # the result is the best latent a decoder pass measured: its loss is the smallest one recorded
    with torch.no_grad():
        measured, tgt, _ = guide._measure(dec(x), 0, frames, frames)
    assert float(curve_loss(measured, tgt)) == pytest.approx(min(guide.losses), rel=1e-5)
    assert min(guide.losses) < guide.losses[0]


@pytest.mark.slow
def test_train_loudness_head_cli_writes_a_listed_head(tmp_path: Path) -> None:
    from triergon_studio.cli import main
    from triergon_studio.engine.weights import random_model, save_model_dir
    from triergon_studio.takes import load_model

    folder = save_model_dir(random_model("tiny", seed=0), None, tmp_path / "tiny")
    args = ["train-loudness-head", str(folder), "--clips", "2", "--val-clips", "1", "--steps", "3"]
    assert main([*args, "--hidden", "8", "--layers", "1", "--threads", "1"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert HEAD_FILE in manifest["files"]
    assert main([*args, "--seed", "5"]) == 2  # a head is there already: refused, nothing replaced
    assert _guided_take_metadata(load_model(str(folder)))["guide_path"] == "head"


@pytest.mark.slow
def test_a_stable_audio_3_folder_gets_a_head_and_takes_the_head_path(tmp_path: Path) -> None:
    from tests.engine.sa3_helpers import make_tiny_sa3_folder
    from triergon_studio.takes import load_model
    from triergon_studio.training.loudness_head import HeadTrainSettings, train_into_folder

    folder = make_tiny_sa3_folder(tmp_path / "sa3")
    settings = HeadTrainSettings(clips=2, val_clips=1, steps=3, hidden=8, layers=1, threads=1)
    path, record = train_into_folder(folder, settings)
    assert path == folder / HEAD_FILE and path.is_file()  # a user's folder: no manifest to list it in
    assert record["latents"]["train"] > 0 and np.isfinite(record["val_after"]["curve_lu"])
    assert _guided_take_metadata(load_model(str(folder)))["guide_path"] == "head"


def test_stable_audio_3_decoder_is_differentiable_and_unchanged_by_it(tmp_path: Path) -> None:
    """The SAME decoder runs in-place kernels for speed; under autograd (decoder-path guidance) it takes
    out-of-place ones with the same result."""
    from tests.engine.sa3_helpers import make_tiny_sa3_folder
    from triergon_studio.takes import load_model

    model = load_model(str(make_tiny_sa3_folder(tmp_path / "sa3")))
    z = torch.randn(1, model.latent_channels, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model.decode(z)
    zg = z.clone().requires_grad_(True)
    traced = model.decode(zg)
    (g,) = torch.autograd.grad(traced.pow(2).sum(), zg)
    assert torch.allclose(traced.detach(), plain, atol=1e-5) and bool(torch.isfinite(g).all())
    assert float(g.abs().sum()) > 0


@pytest.mark.parametrize("family", ["stable-audio-open", "stable-audio-3"])
def test_decoder_path_guidance_runs_through_the_use_case_for_each_open_family(
    tmp_path: Path, family: str
) -> None:
    """Guidance without a head differentiates each family's own decoder (Oobleck, SAME)."""
    from tests.engine.sa3_helpers import make_tiny_sa3_folder
    from tests.engine.sao_helpers import make_snapshot
    from triergon_studio.takes import load_model

    folder = (
        make_snapshot(tmp_path / "sao", "1.0")
        if family == "stable-audio-open"
        else make_tiny_sa3_folder(tmp_path / "sa3")
    )
    model = load_model(str(folder))
    assert model.info.family == family
    meta = _guided_take_metadata(model, guide_budget=2.0)
    # the budget is per chunk (the tiny configs' windows are short, so a take has several)
    passes = int(meta["guide_passes"])  # type: ignore[call-overload]
    assert meta["guide_path"] == "decoder" and passes >= 2 and passes % 2 == 0
    # gains through the family's own encoder (its batch of three encodes per guided step)
    meta = _guided_take_metadata(model, guide_budget=2.0, guide_gain=2.0)
    assert meta["guide_gain"] == "all" and int(meta["guide_passes"]) >= 2  # type: ignore[call-overload]
