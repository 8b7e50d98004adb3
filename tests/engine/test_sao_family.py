"""Stable Audio Open behind the family protocol, from folders laid out like the Hugging Face snapshots
(tiny random weights from the reference, a tiny random T5 saved by transformers), through make_takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.sao_helpers import make_snapshot, save_tiny_t5, state
from triergon_studio.core.take_spec import AudioClip, TakeSpec, TimeSpan
from triergon_studio.engine.families import registry
from triergon_studio.engine.families.stable_audio_open import StableAudioOpenModel
from triergon_studio.errors import ModelError
from triergon_studio.takes import make_takes


def _run(gen):  # type: ignore[no-untyped-def]
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.fixture(scope="module")
def sao10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("snap") / "stable-audio-open-1.0", "1.0")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("snap") / "stable-audio-open-small", "small")


def test_describe_is_torch_free_and_names_the_variant(sao10: Path, small: Path) -> None:
    code = (
        "import sys, json; from triergon_studio.engine.families import registry; "
        f"a = registry.describe({str(sao10)!r}); b = registry.describe({str(small)!r}); "
        "print(json.dumps([a.family, a.variant, a.defaults.sampler, a.defaults.steps, a.params, "
        "b.variant, b.defaults.sampler, b.defaults.steps, b.defaults.cfg, list(b.capabilities.samplers), "
        "a.guidance_defaults['apg'].sampler, 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    fam, v1, s1, n1, params, v2, s2, n2, c2, samplers2, apg_sampler, torch_loaded = json.loads(out.stdout)
    assert (fam, v1, s1, n1) == ("stable-audio-open", "1.0", "dpmpp-3m-sde", 100)
    assert params == sum(t.numel() for t in state("1.0").values())
    assert (v2, s2, n2, c2, samplers2) == ("small", "pingpong", 8, 1.0, ["pingpong", "euler"])
    assert apg_sampler == "euler" and torch_loaded is False


def test_text_negative_and_guidance_recorded(sao10: Path, tmp_path: Path) -> None:
    model = registry.load(str(sao10))
    assert isinstance(model, StableAudioOpenModel) and model.text_encoder is not None
    assert model.text_encoder.dtype == torch.float32  # CPU: float32 (fp16 on a GPU)
    spec = TakeSpec(
        span=TimeSpan(0, 0.5),
        text="glass shatters on tile",
        negative_text="music",
        steps=2,
        guidance="apg",
        seed=3,
    )
    recs = _run(make_takes(spec, model, [tmp_path / "a.wav"]))
    assert recs[0].n_samples == round(0.5 * 44100)
    assert recs[0].settings.sampler == "euler" and recs[0].settings.cfg == 7.0  # APG's own defaults
    side = json.loads((tmp_path / "a.take.json").read_text())
    assert side["settings"]["guidance"] == "apg" and side["prompts"]["negative_text"] == "music"
    assert model.text_encoder.cached == 2  # the prompt and the negative prompt
    # the negative prompt changes the unconditional half, so the take
    spec2 = TakeSpec(span=TimeSpan(0, 0.5), text="glass shatters on tile", steps=2, guidance="apg", seed=3)
    _run(make_takes(spec2, model, [tmp_path / "b.wav"]))
    import soundfile as sf

    a, b = sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0]
    assert np.abs(a - b).max() > 1e-6
    assert model.text_encoder.cached == 2  # the prompt came from the cache


def test_t5_through_transformers_and_empty_prompt(sao10: Path) -> None:
    from transformers import AutoTokenizer, T5EncoderModel

    model = registry.load(str(sao10))
    assert model.text_encoder is not None
    emb, mask = model.text_encoder.encode(["", "rain on a door"])
    assert emb.shape == (2, 8, 768) and mask[0].tolist() == [True] + [False] * 7  # T5(""): just </s>
    tok = AutoTokenizer.from_pretrained(str(sao10 / "tokenizer"))
    enc = T5EncoderModel.from_pretrained(str(sao10 / "text_encoder"))
    ids = tok(["rain on a door"], padding="max_length", max_length=8, truncation=True, return_tensors="pt")
    with torch.no_grad():
        ref = enc(**ids).last_hidden_state * ids["attention_mask"][..., None]
    torch.testing.assert_close(emb[1:], ref)
    assert not torch.equal(emb[0], torch.zeros_like(emb[0]))  # the empty prompt is T5(""), not zeros


def test_small_with_init_audio(small: Path, tmp_path: Path) -> None:
    from triergon_studio.audio.io import write_wav

    model = registry.load(str(small))
    t = np.arange(int(0.4 * 44100)) / 44100
    src = np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32) * 0.5
    write_wav(tmp_path / "src.wav", src, 44100, bits="32f")
    spec = TakeSpec(
        span=TimeSpan(0, 0.4),
        text="door slam",
        init_audio=AudioClip(str(tmp_path / "src.wav")),
        init_noise=0.5,
        seed=1,
    )
    recs = _run(make_takes(spec, model, [tmp_path / "v.wav"]))
    assert recs[0].settings.steps == 8 and recs[0].settings.sampler == "pingpong"
    side = json.loads((tmp_path / "v.take.json").read_text())
    assert side["settings"]["init_noise"] == 0.5
    spec0 = TakeSpec(span=TimeSpan(0, 0.4), text="door slam", seed=1)
    _run(make_takes(spec0, model, [tmp_path / "n.wav"]))
    import soundfile as sf

    assert np.abs(sf.read(tmp_path / "v.wav")[0] - sf.read(tmp_path / "n.wav")[0]).max() > 1e-6


def test_snapshot_without_text_encoder(tmp_path: Path) -> None:
    folder = make_snapshot(tmp_path / "sao", "1.0", t5=False)
    with pytest.raises(ModelError, match=r"text_encoder/.*--text-encoder") as err:
        registry.load(str(folder))
    assert str(folder) in str(err.value) and "\n" not in str(err.value)
    # a t5-base folder given separately (one folder holding both) works
    save_tiny_t5(tmp_path / "t5", tmp_path / "t5")
    model = registry.load(str(folder), text_encoder=str(tmp_path / "t5"))
    assert model.text_encoder is not None and model.text_encoder.encode(["wind"])[0].shape == (1, 8, 768)


def test_tokenizer_that_does_not_match_the_encoder(tmp_path: Path) -> None:
    folder = make_snapshot(tmp_path / "sao", "small", t5=False)
    save_tiny_t5(folder / "text_encoder", folder / "tokenizer", extra_vocab=20)
    with pytest.raises(ModelError, match="tokenizer does not match the T5 encoder") as err:
        registry.load(str(folder))
    assert str(folder / "tokenizer") in str(err.value)


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (f"touch {_Evil.marker}",))

    marker = ""


def test_ckpt_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _Evil.marker = str(marker)
    folder = make_snapshot(tmp_path / "sao", "1.0", t5=True, weights="model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save({"state_dict": state("1.0"), "hook": _Evil()}, folder / "model.ckpt")
    with pytest.raises(ModelError, match="not a weights-only PyTorch checkpoint") as err:
        registry.load(str(folder))
    assert str(folder / "model.ckpt") in str(err.value)
    assert not marker.exists()


def test_training_ckpt_and_new_weight_norm_names_load(tmp_path: Path) -> None:
    sd = {
        "diffusion."
        + k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): v
        for k, v in state("small").items()
    }
    sd["diffusion_ema.model.foo"] = torch.zeros(1)
    folder = make_snapshot(tmp_path / "sao", "small", weights="model.ckpt", state_dict=sd)
    model = registry.load(str(folder))
    ref = state("small")["model.model.transformer.layers.1.cross_attn.q_norm.weight"]
    torch.testing.assert_close(model.net.dit.transformer.layers[1].cross_attn.q_norm.weight, ref)


def test_key_mismatch_is_one_line(tmp_path: Path) -> None:
    sd = state("1.0")
    sd.pop("conditioner.conditioners.prompt.proj_out.weight")
    folder = make_snapshot(tmp_path / "sao", "1.0", t5=False, state_dict=sd)
    with pytest.raises(ModelError, match="missing keys: conditioner.conditioners.prompt.proj_out.weight"):
        registry.load(str(folder), require_text_encoder=False)


def test_reference_audio_prompt_refused(sao10: Path, tmp_path: Path) -> None:
    from triergon_studio.audio.io import write_wav

    write_wav(tmp_path / "r.wav", np.zeros((4410, 2), np.float32), 44100, bits="32f")
    spec = TakeSpec(span=TimeSpan(0, 0.2), reference=AudioClip(str(tmp_path / "r.wav")), steps=1)
    with pytest.raises(ModelError, match="no reference-audio prompt"):
        _run(make_takes(spec, registry.load(str(sao10)), [tmp_path / "x.wav"]))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_generate_on_a_snapshot_folder(tmp_path: Path) -> None:
    """The issue's command on a folder laid out like the Hugging Face snapshot (the real 47 s window, so 8 s
    is one chunk of 100 DPM-Solver++(3M) SDE steps; tiny random weights), and --text-encoder."""
    import shutil

    import soundfile as sf

    folder = make_snapshot(tmp_path / "stable-audio-open-1.0", "1.0")
    cfg = json.loads((folder / "model_config.json").read_text())
    cfg["sample_size"] = 2097152
    (folder / "model_config.json").write_text(json.dumps(cfg))
    out = tmp_path / "out.wav"
    res = _cli(
        "generate",
        "--model",
        str(folder),
        "--text",
        "glass shatters on tile",
        "--negative",
        "music",
        "--duration",
        "8",
        "-o",
        str(out),
        "--device",
        "cpu",
    )
    assert res.returncode == 0, res.stderr
    audio, sr = sf.read(out)
    assert sr == 44100 and audio.shape == (8 * 44100, 2) and np.isfinite(audio).all()
    side = json.loads((tmp_path / "out.take.json").read_text())
    assert side["settings"]["steps"] == 100 and side["settings"]["sampler"] == "dpmpp-3m-sde"
    assert side["settings"]["guidance"] == "cfg" and side["prompts"]["negative_text"] == "music"
    (tmp_path / "t5").mkdir()
    for sub in ("text_encoder", "tokenizer"):
        shutil.move(str(folder / sub), str(tmp_path / "t5" / sub))
    res = _cli(
        "generate",
        "--model",
        str(folder),
        "--text",
        "wind",
        "--duration",
        "0.5",
        "--steps",
        "2",
        "--guidance",
        "apg",
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "b.wav"),
        "--text-encoder",
        str(tmp_path / "t5"),
    )
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "b.take.json").read_text())["settings"]["sampler"] == "euler"


def test_cli_without_text_encoder_is_one_line(tmp_path: Path) -> None:
    folder = make_snapshot(tmp_path / "sao", "small", t5=False)
    res = _cli(
        "generate",
        "--model",
        str(folder),
        "--text",
        "wind",
        "--duration",
        "0.5",
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "b.wav"),
    )
    assert res.returncode == 2 and str(folder) in res.stderr and "--text-encoder" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "b.wav").exists()


def test_model_info_on_small(small: Path) -> None:
    res = _cli("model-info", str(small))
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert (info["family"], info["variant"]) == ("stable-audio-open", "small")
    assert info["total_params"] == sum(t.numel() for t in state("small").values())
    assert (info["defaults"]["steps"], info["defaults"]["cfg"], info["defaults"]["sampler"]) == (
        8,
        1.0,
        "pingpong",
    )
    assert info["capabilities"]["guidance_rules"] == ["cfg", "apg"]


def test_bf16_weights_keep_a_float32_sampler_state(small: Path, tmp_path: Path) -> None:
    model = registry.load(str(small), dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16 and model.text_encoder is not None
    spec = TakeSpec(
        span=TimeSpan(0, 0.2), text="wind", negative_text="music", steps=2, cfg=3.0, guidance="apg"
    )
    recs = _run(make_takes(spec, model, [tmp_path / "h.wav"]))
    import soundfile as sf

    audio = sf.read(tmp_path / "h.wav")[0]
    assert recs[0].n_samples == len(audio) == round(0.2 * 44100) and np.isfinite(audio).all()
