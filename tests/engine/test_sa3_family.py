"""Stable Audio 3 behind the model protocol: detection, torch-free describe, strict loading with one-line
errors, sampling shapes, init audio and native inpainting, on a tiny folder of the real layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.engine.sa3_helpers import make_tiny_sa3_folder
from triergon_studio.engine.families import registry
from triergon_studio.engine.families.base import GenerationModel, Settings, TakeInputs
from triergon_studio.engine.sampler_step import drive
from triergon_studio.errors import ModelError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sa3_folder(tmp_path_factory.mktemp("sa3") / "stable-audio-3-small-sfx")


@pytest.fixture(scope="module")
def model(folder: Path) -> GenerationModel:
    return registry.load(str(folder))


def _settings(**kw: object) -> Settings:
    base = dict(
        steps=3, cfg=1.0, sampler="pingpong", guidance="apg", seed=1, init_noise=0.9, follow_curves="off"
    )
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def test_detected_before_stable_audio_open_and_described_without_torch(folder: Path) -> None:
    assert registry.find_family(str(folder)).family == "stable-audio-3"
    code = (
        "import sys; from triergon_studio.engine.families import registry; "
        f"i = registry.describe({str(folder)!r}); "
        "assert 'torch' not in sys.modules, 'describe imported torch'; "
        "print(i.family, i.variant, i.licence, i.params, i.defaults.steps, i.defaults.sampler, "
        "i.capabilities.video, i.capabilities.notes[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("stable-audio-3 small-sfx Stability AI Community License ")
    assert (
        " 8 pingpong False Stable Audio 3 takes no video prompt: the picture steers it through the loudness curves"
        in out
    )


def test_protocol_and_info(model: GenerationModel) -> None:
    assert isinstance(model, GenerationModel)
    info = model.info
    assert info.capabilities.inpaint and info.capabilities.init_audio and not info.capabilities.lufs
    assert info.params == sum(
        t.numel()
        for m in (model.dit, model.conditioners, model.autoencoder)  # type: ignore[attr-defined]
        for t in m.state_dict().values()
    )


def _inputs(model: GenerationModel, seconds: float, text: str = "rain on metal") -> TakeInputs:
    n = int(seconds * model.info.sample_rate)
    return TakeInputs(n_samples=n, duration_s=seconds, start_s=0.0, text=text)


@torch.no_grad()
def test_sample_shapes_steps_and_seed(model: GenerationModel) -> None:
    st = _settings()
    cond = model.condition(_inputs(model, 1.0), st)
    frames = 250
    steps = list(model.sample(cond, frames, st, torch.Generator().manual_seed(3)))
    assert [s.step for s in steps] == [1, 2, 3] and steps[0].x.shape == (1, model.latent_channels, frames)
    a = drive(model.sample(cond, frames, st, torch.Generator().manual_seed(3)))
    b = drive(model.sample(cond, frames, st, torch.Generator().manual_seed(3)))
    c = drive(model.sample(cond, frames, st, torch.Generator().manual_seed(4)))
    assert a.shape == (1, model.latent_channels, frames) and torch.equal(a, b) and not torch.equal(a, c)
    other = model.condition(_inputs(model, 1.0, "door slam"), st)
    d = drive(model.sample(other, frames, st, torch.Generator().manual_seed(3)))
    assert not torch.allclose(a, d)  # the prompt reaches the DiT
    audio = model.decode(a)
    assert audio.shape == (1, 2, frames * model.downsampling_ratio) and audio.abs().max() <= 1.0


@torch.no_grad()
def test_inpainting_changes_only_the_region(model: GenerationModel) -> None:
    st = _settings()
    cond = model.condition(_inputs(model, 1.0), st)
    frames = 250
    known = torch.randn(1, model.latent_channels, frames, generator=torch.Generator().manual_seed(9))
    mask = torch.zeros_like(known)
    mask[..., 100:150] = 1.0
    out = drive(model.sample(cond, frames, st, torch.Generator().manual_seed(3), inpaint=(known, mask)))
    assert torch.equal(out[..., :100], known[..., :100]) and torch.equal(out[..., 150:], known[..., 150:])
    assert not torch.allclose(out[..., 100:150], known[..., 100:150])
    # The condition reaches the model: the region differs from an unconditioned sample with the same seed.
    free = drive(model.sample(cond, frames, st, torch.Generator().manual_seed(3)))
    assert not torch.allclose(out[..., 100:150], free[..., 100:150])


@torch.no_grad()
def test_init_audio_starts_from_the_noised_latent(model: GenerationModel) -> None:
    frames = 250
    init = torch.randn(1, model.latent_channels, frames, generator=torch.Generator().manual_seed(5))
    cond = model.condition(_inputs(model, 1.0), _settings())
    near = drive(
        model.sample(
            cond, frames, _settings(init_noise=0.05, steps=1), torch.Generator().manual_seed(1), init=init
        )
    )
    far = drive(
        model.sample(
            cond, frames, _settings(init_noise=1.0, steps=1), torch.Generator().manual_seed(1), init=init
        )
    )
    assert (near - init).norm() < (far - init).norm()


def test_checks_refuse_what_the_model_cannot_do(model: GenerationModel) -> None:
    inputs = _inputs(model, 1.0)
    with pytest.raises(ModelError, match="sampler"):
        model.check(inputs, _settings(sampler="euler"))
    neg = _inputs(model, 1.0)
    neg.negative_text = "wind"
    with pytest.raises(ModelError, match="negative prompt needs CFG"):
        model.check(neg, _settings())
    model.check(neg, _settings(cfg=3.0))


def test_guided_sampling_with_negative_prompt(model: GenerationModel) -> None:
    inputs = _inputs(model, 1.0)
    inputs.negative_text = "wind"
    st = _settings(cfg=3.0)
    cond = model.condition(inputs, st)
    a = drive(model.sample(cond, 100, st, torch.Generator().manual_seed(2)))
    b = drive(model.sample(cond, 100, _settings(cfg=3.0, guidance="cfg"), torch.Generator().manual_seed(2)))
    assert torch.isfinite(a).all() and not torch.allclose(a, b)  # APG differs from plain CFG


def _copy(folder: Path, dest: Path) -> Path:
    dest.mkdir()
    for p in folder.iterdir():
        if p.is_file():
            (dest / p.name).write_bytes(p.read_bytes())
    (dest / "text_encoder").symlink_to(folder / "text_encoder")
    return dest


def test_loading_errors_are_one_line_naming_the_file(folder: Path, tmp_path: Path) -> None:
    broken = _copy(folder, tmp_path / "truncated")
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        registry.load(str(broken))
    assert (
        "truncated" in str(err.value) and "model.safetensors" in str(err.value) and "\n" not in str(err.value)
    )

    missing = _copy(folder, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="missing: no model.safetensors"):
        registry.load(str(missing))

    shape = _copy(folder, tmp_path / "shape")
    raw = json.loads((shape / "model_config.json").read_text())
    raw["model"]["diffusion"]["config"]["embed_dim"] = 128
    (shape / "model_config.json").write_text(json.dumps(raw))
    with pytest.raises(
        ModelError, match="shape mismatch: model.model.*model.safetensors|model.safetensors.*shape"
    ):
        registry.load(str(shape))

    no_te = _copy(folder, tmp_path / "no_te")
    (no_te / "text_encoder").unlink()
    with pytest.raises(ModelError, match="T5Gemma text encoder .* is missing"):
        registry.load(str(no_te))
    assert (
        registry.load(str(no_te), text_encoder=str(folder / "text_encoder")).info.family == "stable-audio-3"
    )


def test_ckpt_is_read_with_weights_only(folder: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    dest = _copy(folder, tmp_path / "ckpt")
    state = load_file(str(dest / "model.safetensors"))
    (dest / "model.safetensors").unlink()
    torch.save({"state_dict": state}, dest / "model.ckpt")
    m = registry.load(str(dest))
    assert m.info.family == "stable-audio-3"
    bad = _copy(folder, tmp_path / "pickle")
    (bad / "model.safetensors").unlink()
    torch.save({"state_dict": state, "evil": object()}, bad / "model.ckpt")  # needs unpickling: refused
    with pytest.raises(ModelError, match="model.ckpt.*unreadable checkpoint"):
        registry.load(str(bad))


def test_medium_refuses_the_cpu(folder: Path, tmp_path: Path) -> None:
    med = _copy(folder, tmp_path / "medium")
    raw = json.loads((med / "model_config.json").read_text())
    raw["model"]["diffusion"]["config"]["attn_kwargs"]["differential"] = True
    (med / "model_config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="CUDA GPU only"):
        registry.load(str(med))
    assert registry.describe(str(med)).variant == "medium"
