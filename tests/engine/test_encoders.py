"""The prompt-encoder interface and the bundled small encoders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from triergon_studio.engine.models.encoder_config import ENCODER_PRESETS, EncoderConfig
from triergon_studio.engine.models.encoder_factory import build_prompt_encoders
from triergon_studio.engine.models.encoders import (
    ByteTokenizer,
    PromptEncoder,
    SmallPromptEncoders,
    count_params,
)
from triergon_studio.errors import ModelError


@pytest.fixture(scope="module")
def tiny() -> SmallPromptEncoders:
    torch.manual_seed(0)
    model = build_prompt_encoders("small/tiny")
    assert isinstance(model, SmallPromptEncoders)
    return model.eval()


def test_tokenizer_is_deterministic_and_normalises() -> None:
    tok = ByteTokenizer(max_len=32, word_buckets=64)
    ids, words = tok.encode("Door  SLAM")
    assert ids == tok.encode("door slam")[0] and words == tok.encode("door slam")[1]
    assert ids[0] == 1 and ids[-1] == 2 and len(ids) == len(words) == len("door slam") + 2
    assert words[1] == words[4] != 0 and words[5] == 0 and words[6] == words[9] != words[1]
    assert words == ByteTokenizer(32, 64).encode("door slam")[1]  # no per-process hash salt
    assert len(tok.encode("x" * 100)[0]) == 32
    assert tok.encode("")[0] == [1, 2]
    b_ids, b_words, pad = tok(["a", "abc"])
    assert b_ids.shape == (2, 5) and pad.tolist() == [[False] * 3 + [True] * 2, [False] * 5]


def test_shapes_and_normalised_embeddings(tiny: SmallPromptEncoders) -> None:
    assert isinstance(tiny, PromptEncoder)
    with torch.no_grad():
        t = tiny.encode_text(["a door slams", "rain on a tin roof"])
        a = tiny.encode_audio(torch.randn(3, 2, 44100) * 0.1)
        v = tiny.encode_video(torch.rand(2, 13, 3, 36, 64))
        assert t.shape == (2, 4, 64) and a.shape == (3, 4, 64) and v.shape == (2, 4, 64)
        for e in (
            tiny.embed_text(["x"]),
            tiny.embed_audio(torch.zeros(1, 2, 500)),
            tiny.embed_video(torch.rand(1, 1, 3, 8, 8)),
        ):
            assert e.shape == (1, 64) and torch.allclose(e.norm(dim=-1), torch.ones(1), atol=1e-5)


def test_padding_and_batching_do_not_leak(tiny: SmallPromptEncoders) -> None:
    with torch.no_grad():
        alone = tiny.encode_text(["glass"])
        batched = tiny.encode_text(["glass", "a much longer description of breaking glass"])
        assert torch.allclose(alone[0], batched[0], atol=1e-5)
        assert not torch.allclose(batched[0], batched[1], atol=1e-3)
        w = torch.randn(2, 2, 22050) * 0.1
        assert torch.allclose(tiny.encode_audio(w[:1]), tiny.encode_audio(w)[:1], atol=1e-5)
        frames = torch.rand(2, 6, 3, 24, 24)
        assert torch.allclose(tiny.encode_video(frames[1:]), tiny.encode_video(frames)[1:], atol=1e-5)


def test_inputs_are_checked(tiny: SmallPromptEncoders) -> None:
    with pytest.raises(ModelError, match=r"\[batch, 2, samples\]"):
        tiny.encode_audio(torch.zeros(1, 44100))
    with pytest.raises(ModelError, match="video prompt"):
        tiny.encode_video(torch.zeros(1, 3, 24, 24))


def test_config_presets_and_overrides() -> None:
    cfg = EncoderConfig.from_dict({"kind": "small", "preset": "tiny", "width": 48})
    assert cfg.width == 48 and cfg.d == ENCODER_PRESETS["small/tiny"].d
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ModelError, match="unknown prompt-encoder preset"):
        EncoderConfig.from_dict({"kind": "small", "preset": "huge"})
    with pytest.raises(ModelError, match="unknown fields"):
        EncoderConfig.from_dict({"kind": "small", "preset": "tiny", "colour": 1})
    model = build_prompt_encoders({"kind": "small", "preset": "tiny"}, cond_dim=40, num_tokens=3)
    with torch.no_grad():
        assert model.encode_text(["x"]).shape == (1, 3, 40)
    compact = build_prompt_encoders("small/compact")
    assert 5e6 < count_params(compact) < 20e6
    assert not any("fb" in k or "window" in k for k in compact.state_dict())  # mel filters are not weights


def _setup() -> tuple[SmallPromptEncoders, list[str], torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    model = build_prompt_encoders("small/tiny").train()
    g = torch.Generator().manual_seed(2)
    texts = ["dog barking", "car engine", "glass breaking", "footsteps on gravel"]
    return model, texts, torch.rand(4, 4, 3, 24, 24, generator=g), torch.randn(4, 2, 8820, generator=g) * 0.2


def _clip_loss(model: SmallPromptEncoders, texts: list[str], others: list[torch.Tensor]) -> torch.Tensor:
    target = torch.arange(len(texts))
    t = model.embed_text(texts)
    return sum(
        F.cross_entropy(t @ x.T / 0.1, target) + F.cross_entropy(x @ t.T / 0.1, target) for x in others
    )


def test_every_parameter_gets_a_gradient() -> None:
    model, texts, videos, audio = _setup()
    _clip_loss(model, texts, [model.embed_video(videos), model.embed_audio(audio)]).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@pytest.mark.slow
def test_text_video_alignment_is_learnable() -> None:
    model, texts, videos, _ = _setup()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = _clip_loss(model, texts, [model.embed_video(videos)]).item()
    for _ in range(60):
        opt.zero_grad()
        loss = _clip_loss(model, texts, [model.embed_video(videos)])
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    with torch.no_grad():
        model.eval()
        sims = model.embed_video(videos) @ model.embed_text(texts).T
        assert (sims.argmax(1) == torch.arange(4)).all()


def test_builds_on_meta_for_counting() -> None:
    with torch.device("meta"):
        model = build_prompt_encoders("small/compact")
    assert count_params(model) == count_params(build_prompt_encoders("small/compact"))
    assert model.mel.fb.device.type == "meta"


def test_bfloat16_weights() -> None:
    torch.manual_seed(0)
    model = build_prompt_encoders("small/tiny").eval().to(torch.bfloat16)
    with torch.no_grad():
        assert model.encode_text(["a"]).dtype == torch.bfloat16
        assert torch.isfinite(model.encode_audio(torch.randn(1, 2, 4410)).float()).all()
        assert torch.isfinite(model.encode_video(torch.rand(1, 3, 3, 16, 16)).float()).all()
