"""LanguageBind: key layout import (reduced width), peft/LoRA folding, preprocessing, tokenizer, tokens."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from triergon_studio.engine.models.clip import (
    ClipTokenizer,
    ClipVisionConfig,
    ClipVisionTower,
    byte_to_unicode,
)
from triergon_studio.engine.models.encoder_config import EncoderConfig
from triergon_studio.engine.models.encoder_factory import build_prompt_encoders
from triergon_studio.engine.models.encoders import count_params
from triergon_studio.engine.models.languagebind import (
    AUDIO_MEAN,
    AUDIO_STD,
    CLIP_MEAN,
    CLIP_STD,
    LanguageBindEncoders,
    _fbank,
    audio_fbank,
    import_languagebind,
    merge_peft_lora,
    video_pixels,
)
from triergon_studio.errors import ModelError

CFG = EncoderConfig.from_dict({"kind": "languagebind", "preset": "test"})
VW, VL, TW, TL, P = CFG.vision_width, CFG.vision_layers, CFG.text_width, CFG.clip_text_layers, CFG.proj_dim


def layer_shapes(prefix: str, d: int, temporal: bool = False) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj") + (
        ("temporal_attn.q_proj", "temporal_attn.k_proj", "temporal_attn.v_proj", "temporal_attn.out_proj")
        if temporal
        else ()
    ):
        out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = (d, d), (d,)
    norms = ("layer_norm1", "layer_norm2") + (("temporal_layer_norm1",) if temporal else ())
    for name in norms:
        out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = (d,), (d,)
    out |= {
        f"{prefix}mlp.fc1.weight": (4 * d, d),
        f"{prefix}mlp.fc1.bias": (4 * d,),
        f"{prefix}mlp.fc2.weight": (d, 4 * d),
        f"{prefix}mlp.fc2.bias": (d,),
    }
    if temporal:
        out[f"{prefix}temporal_embedding"] = (1, 8, d)
    return out


def official_shapes(kind: str) -> dict[str, tuple[int, ...]]:
    """A LanguageBind_{Video,Audio} checkpoint's keys (transformers CLIP layout), written out by hand."""
    n_pos = 257 if kind == "video" else (126 // 14) * (1036 // 14) + 1
    s: dict[str, tuple[int, ...]] = {
        "logit_scale": (),
        "text_model.embeddings.position_ids": (1, 77),
        "text_model.embeddings.token_embedding.weight": (49408, TW),
        "text_model.embeddings.position_embedding.weight": (77, TW),
        "text_model.final_layer_norm.weight": (TW,),
        "text_model.final_layer_norm.bias": (TW,),
        "text_projection.weight": (P, TW),
        "vision_model.embeddings.class_embedding": (VW,),
        "vision_model.embeddings.patch_embedding.weight": (VW, 3, 14, 14),
        "vision_model.embeddings.position_embedding.weight": (n_pos, VW),
        "vision_model.embeddings.position_ids": (1, n_pos),
        "vision_model.pre_layrnorm.weight": (VW,),
        "vision_model.pre_layrnorm.bias": (VW,),
        "vision_model.post_layernorm.weight": (VW,),
        "vision_model.post_layernorm.bias": (VW,),
        "visual_projection.weight": (P, VW),
    }
    for i in range(TL):
        s |= layer_shapes(f"text_model.encoder.layers.{i}.", TW)
    for i in range(VL):
        s |= layer_shapes(f"vision_model.encoder.layers.{i}.", VW, temporal=kind == "video")
    return s


def synthetic(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, s in shapes.items():
        if k.endswith("position_ids"):
            sd[k] = torch.arange(s[1]).reshape(s)
        elif "norm" in k and k.endswith("weight"):
            sd[k] = 1 + 0.05 * torch.randn(s, generator=g)
        else:
            sd[k] = 0.05 * torch.randn(s, generator=g)
    return sd


def write_checkpoint(folder: Path, sd: dict[str, Tensor]) -> Path:
    folder.mkdir()
    torch.save(sd, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(
        json.dumps(
            {
                "projection_dim": P,
                "text_config": {
                    "hidden_size": TW,
                    "num_hidden_layers": TL,
                    "num_attention_heads": CFG.text_heads,
                },
                "vision_config": {
                    "hidden_size": VW,
                    "num_hidden_layers": VL,
                    "num_attention_heads": CFG.vision_heads,
                    "hidden_act": "gelu",
                },
            }
        )
    )
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("lb")
    video_sd, audio_sd = synthetic(official_shapes("video"), 1), synthetic(official_shapes("audio"), 2)
    return {
        "video_sd": video_sd,
        "audio_sd": audio_sd,
        "video": write_checkpoint(root / "LanguageBind_Video_FT", video_sd),
        "audio": write_checkpoint(root / "LanguageBind_Audio_FT", audio_sd),
    }


@pytest.fixture(scope="module")
def imported(checkpoints: dict[str, object]) -> LanguageBindEncoders:
    return import_languagebind(checkpoints["video"], checkpoints["audio"], cfg=CFG)


def test_key_layout_covers_the_official_names(imported: LanguageBindEncoders, checkpoints: dict) -> None:
    assert imported.loaded == {"text", "video", "audio"}
    for tower, kind, prefixes in (
        ("video", "video", ("vision_model.", "visual_projection")),
        ("audio", "audio", ("vision_model.", "visual_projection")),
        ("text", "video", ("text_model.", "text_projection")),
    ):
        want = {k for k in official_shapes(kind) if k.startswith(prefixes) and not k.endswith("position_ids")}
        assert set(getattr(imported, tower).state_dict()) == want
    sd = checkpoints["video_sd"]
    assert torch.equal(
        imported.video.vision_model.encoder.layers[1].temporal_attn.k_proj.weight,
        sd["vision_model.encoder.layers.1.temporal_attn.k_proj.weight"],
    )
    assert torch.equal(imported.text.text_projection.weight, sd["text_projection.weight"])
    assert torch.equal(
        imported.audio.vision_model.embeddings.position_embedding.weight,
        checkpoints["audio_sd"]["vision_model.embeddings.position_embedding.weight"],
    )


def test_imported_outputs(imported: LanguageBindEncoders) -> None:
    with torch.no_grad():
        v = imported.encode_video(torch.rand(2, 12, 3, 60, 100))
        a = imported.encode_audio(torch.randn(1, 2, 30000) * 0.1)
        ids = torch.randint(1, 40000, (2, 77))
        ids[:, 9] = 49407
        t = imported.encode_text_ids(ids)
        assert v.shape == (2, 4, P) and a.shape == (1, 4, P) and t.shape == (2, 4, P)
        assert torch.allclose(t.norm(dim=-1), torch.ones(2, 4), atol=1e-5)
        assert torch.allclose(t[:, 0], imported.embed_text_ids(ids), atol=1e-6)  # token 0 = the embedding
        later = ids.clone()
        later[:, 20:] = 5  # after end-of-text: causal attention and EOS pooling ignore it
        assert torch.allclose(imported.encode_text_ids(later), t, atol=1e-5)
        frames = torch.rand(1, 8, 3, 224, 224)
        # frame order matters (temporal embedding): the pooled mean over frames alone would not see it
        assert not torch.allclose(
            imported.embed_video(frames), imported.embed_video(frames.flip(1)), atol=1e-6
        )


def test_text_needs_the_user_supplied_vocabulary(imported: LanguageBindEncoders) -> None:
    with pytest.raises(ModelError, match="CLIP BPE vocabulary"):
        imported.encode_text(["a dog barks"])


def test_only_imported_towers_run(checkpoints: dict[str, object]) -> None:
    model = import_languagebind(video=checkpoints["video"], cfg=CFG)
    assert model.loaded == {"video", "text"}
    with pytest.raises(ModelError, match="no LanguageBind audio checkpoint"):
        model.encode_audio(torch.zeros(1, 2, 1000))


def test_import_errors(tmp_path: Path, checkpoints: dict) -> None:
    broken = dict(checkpoints["video_sd"])
    del broken["vision_model.encoder.layers.0.mlp.fc2.bias"]
    write_checkpoint(tmp_path / "broken", broken)
    with pytest.raises(ModelError, match=r"missing keys: vision_model\.encoder\.layers\.0\.mlp\.fc2\.bias"):
        import_languagebind(video=tmp_path / "broken", cfg=CFG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no LanguageBind checkpoint found"):
        import_languagebind(audio=tmp_path / "empty", cfg=CFG)
    with pytest.raises(ModelError, match="needs a video and/or an audio"):
        import_languagebind(cfg=CFG)


def test_peft_wrapped_lora_is_folded(checkpoints: dict) -> None:
    sd = checkpoints["audio_sd"]
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(4, VW, generator=g), torch.randn(VW, 4, generator=g)
    wrapped = {}
    for k, v in sd.items():
        new = k.replace("vision_model.encoder.", "vision_model.encoder.base_model.model.")
        if k == "vision_model.encoder.layers.0.self_attn.q_proj.weight":
            base = "vision_model.encoder.base_model.model.layers.0.self_attn.q_proj"
            wrapped |= {
                f"{base}.base_layer.weight": v,
                f"{base}.lora_A.default.weight": a,
                f"{base}.lora_B.default.weight": b,
            }
            continue
        wrapped[new] = v
    merged = merge_peft_lora(wrapped)
    assert set(merged) == set(sd)
    key = "vision_model.encoder.layers.0.self_attn.q_proj.weight"
    assert torch.allclose(merged[key], sd[key] + b @ a, atol=1e-5)


def test_video_preprocessing() -> None:
    frames = torch.arange(20, dtype=torch.float32).reshape(1, 20, 1, 1, 1).expand(1, 20, 3, 90, 160) / 100
    px = video_pixels(frames)
    assert px.shape == (1, 8, 3, 224, 224)
    value = px[0, :, 0, 100, 100] * CLIP_STD[0] + CLIP_MEAN[0]
    assert torch.allclose(value * 100, torch.tensor([0, 2, 5, 8, 10, 13, 16, 19.0]), atol=1e-3)


def test_audio_preprocessing_matches_kaldi_fbank() -> None:
    import torchaudio

    g = torch.Generator().manual_seed(4)
    exact = torch.randn(1, 2, 44100 * 1036 // 100, generator=g) * 0.1  # exactly 1036 x 10 ms at 16 kHz
    out = audio_fbank(exact)
    assert out.shape == (1, 3, 126, 1036)
    mono16 = torchaudio.functional.resample(exact.mean(1), 44100, 16000)[0]
    ref = (_fbank(mono16) - AUDIO_MEAN) / (AUDIO_STD * 2)
    assert torch.allclose(out[0, 0, :, : ref.shape[0]], ref.T, atol=1e-4)
    assert torch.equal(out[0, 0], out[0, 2])
    short = audio_fbank(torch.randn(1, 2, 44100, generator=g))
    assert torch.equal(short[0, 0], short[0, 1])
    long = audio_fbank(torch.randn(1, 2, 44100 * 15, generator=g))
    assert long.shape == (1, 3, 126, 1036) and not torch.allclose(long[0, 0], long[0, 2])


def _toy_vocab() -> tuple[list[tuple[str, str]], list[str]]:
    merges = [
        ("h", "e"),
        ("l", "l"),
        ("he", "ll"),
        ("o", "</w>"),
        ("hell", "o</w>"),
        ("d", "o"),
        ("do", "g</w>"),
    ]
    units = list(byte_to_unicode().values())
    return merges, units + [u + "</w>" for u in units] + ["".join(m) for m in merges] + [
        "<|startoftext|>",
        "<|endoftext|>",
    ]


def test_bpe_tokenizer_both_file_formats(tmp_path: Path) -> None:
    merges, vocab = _toy_vocab()
    gz = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("#version: toy\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (hf / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges))
    for path in (gz, hf):
        tok = ClipTokenizer(path, context=8)
        hello, dog = vocab.index("hello</w>"), vocab.index("dog</w>")
        assert tok.encode("Hello  DOG") == [hello, dog]
        assert tok.encode("hi!") == [vocab.index("h"), vocab.index("i</w>"), vocab.index("!</w>")]
        ids, mask = tok(["hello dog", "hello " * 20])
        sot, eot = vocab.index("<|startoftext|>"), vocab.index("<|endoftext|>")
        assert ids[0, :4].tolist() == [sot, hello, dog, eot] and mask[0].tolist() == [1] * 4 + [0] * 4
        assert ids[1, -1] == eot and mask[1].sum() == 8
    with pytest.raises(ModelError, match="not found"):
        ClipTokenizer(tmp_path / "missing.txt.gz")
    with pytest.raises(ModelError, match="vocab.json and merges.txt"):
        ClipTokenizer(tmp_path)


def test_vision_forward_matches_a_functional_reference() -> None:
    torch.manual_seed(5)
    cfg = ClipVisionConfig(width=32, layers=1, heads=2, image_size=(28, 42), proj_dim=16)
    tower = ClipVisionTower(cfg).eval()
    sd = {k: v.detach() for k, v in tower.state_dict().items()}
    x = torch.randn(2, 3, 28, 42)
    with torch.no_grad():
        _, pooled = tower.vision_model(x)
    p = "vision_model."
    z = F.conv2d(x, sd[p + "embeddings.patch_embedding.weight"], stride=14).flatten(2).transpose(1, 2)
    z = torch.cat([sd[p + "embeddings.class_embedding"].expand(2, 1, 32), z], 1)
    z = z + sd[p + "embeddings.position_embedding.weight"]
    z = F.layer_norm(z, (32,), sd[p + "pre_layrnorm.weight"], sd[p + "pre_layrnorm.bias"], 1e-5)
    q = p + "encoder.layers.0."
    y = F.layer_norm(z, (32,), sd[q + "layer_norm1.weight"], sd[q + "layer_norm1.bias"], 1e-5)

    def lin(t: Tensor, name: str) -> Tensor:
        return t @ sd[q + name + ".weight"].T + sd[q + name + ".bias"]

    qq, kk, vv = (lin(y, f"self_attn.{n}_proj") for n in "qkv")
    heads = [
        torch.softmax(
            qq[..., h * 16 : (h + 1) * 16] @ kk[..., h * 16 : (h + 1) * 16].transpose(1, 2) / math.sqrt(16),
            -1,
        )
        @ vv[..., h * 16 : (h + 1) * 16]
        for h in range(2)
    ]
    z = z + lin(torch.cat(heads, -1), "self_attn.out_proj")
    y = F.layer_norm(z, (32,), sd[q + "layer_norm2.weight"], sd[q + "layer_norm2.bias"], 1e-5)
    z = z + lin(F.gelu(lin(y, "mlp.fc1")), "mlp.fc2")
    ref = F.layer_norm(z[:, 0], (32,), sd[p + "post_layernorm.weight"], sd[p + "post_layernorm.bias"], 1e-5)
    assert torch.allclose(pooled, ref, atol=1e-5)


def test_full_size_parameter_counts_on_meta() -> None:
    with torch.device("meta"):
        full = build_prompt_encoders("languagebind/full")
    assert count_params(full.text) == pytest.approx(123.65e6, rel=1e-3)  # CLIP ViT-L/14 text tower
    vit_l = count_params(full.audio) - (667 - 257) * 1024  # the audio grid has more positions
    assert vit_l == pytest.approx(304.0e6, rel=2e-3)  # CLIP ViT-L/14 vision tower + projection
    extra = 24 * (4 * (1024 * 1024 + 1024) + 2 * 1024 + 8 * 1024)  # temporal attention, norm, embedding
    assert count_params(full.video) - vit_l == extra
    assert np.isclose(full.video.cfg.patch, 14) and full.text.cfg.context == 77
