"""Tri-Ergon conditioning: task ids, null tokens for absent prompts, E_L layout, timing, dropout, SAO mode."""

from __future__ import annotations

import itertools

import pytest
import torch

from triergon_studio.engine.config import ConditioningConfig
from triergon_studio.engine.models.conditioning import (
    Conditions,
    SAOConditioner,
    TriErgonConditioner,
    apply_condition_dropout,
    curve_tokens,
    task_id,
)

M, D = 4, 16


@pytest.fixture(scope="module")
def cond_module() -> TriErgonConditioner:
    torch.manual_seed(0)
    return TriErgonConditioner(ConditioningConfig(cond_dim=D, num_tokens=M, number_features=32)).eval()


def _conds(text: bool, audio: bool, video: bool, b: int = 2) -> Conditions:
    g = torch.Generator().manual_seed(1)
    emb = lambda: torch.randn(b, M, D, generator=g)  # noqa: E731
    return Conditions(
        text_emb=emb() if text else None,
        audio_emb=emb() if audio else None,
        video_emb=emb() if video else None,
        lufs=torch.rand(b, 2, 30, generator=g),
        seconds_start=torch.zeros(b),
        seconds_total=torch.full((b,), 5.0),
    )


@pytest.mark.parametrize(("text", "audio", "video"), list(itertools.product([False, True], repeat=3)))
def test_all_eight_task_ids(cond_module: TriErgonConditioner, text: bool, audio: bool, video: bool) -> None:
    c = _conds(text, audio, video)
    expected = 4 * text + 2 * audio + video
    assert task_id(c).tolist() == [expected, expected]
    ct = cond_module(c)
    assert ct.tokens.shape == (2, 8 * M, D)
    assert ct.global_cond.shape == (2, 2 * D)
    assert ct.task_ids.tolist() == [expected, expected]
    torch.testing.assert_close(
        ct.tokens[:, :M], cond_module.task_embed.weight[expected].view(M, D).expand(2, M, D)
    )
    for k, (present, emb) in enumerate(
        zip((text, audio, video), (c.text_emb, c.audio_emb, c.video_emb), strict=True)
    ):
        block = ct.tokens[:, (k + 1) * M : (k + 2) * M]
        if present:
            torch.testing.assert_close(block, emb)
        else:
            torch.testing.assert_close(block, cond_module.null_prompts[k].expand(2, M, D))


def test_paper_example_id_5(cond_module: TriErgonConditioner) -> None:
    assert task_id(_conds(True, False, True)).tolist() == [5, 5]


def test_per_sample_masking(cond_module: TriErgonConditioner) -> None:
    c = _conds(True, True, True)
    c.audio_present = torch.tensor([True, False])
    ct = cond_module(c)
    assert ct.task_ids.tolist() == [7, 5]
    torch.testing.assert_close(ct.tokens[0, 2 * M : 3 * M], c.audio_emb[0])
    torch.testing.assert_close(ct.tokens[1, 2 * M : 3 * M], cond_module.null_prompts[1])


def test_lufs_tokens_layout() -> None:
    left = torch.linspace(0, 1, 360)
    right = torch.full((360,), 0.25)
    e = curve_tokens(torch.stack([left, right])[None], M, D, 360)
    assert e.shape == (1, 2 * M, D)
    assert e[0, :M].flatten()[0] == pytest.approx(0.0) and e[0, :M].flatten()[-1] == pytest.approx(1.0)
    torch.testing.assert_close(e[0, M:], torch.full((M, D), 0.25))
    # a short curve is padded with silence (0 = -70 LUFS) up to 60 s
    short = curve_tokens(torch.ones(1, 2, 180), M, D, 360)
    flat = short[0, :M].flatten()
    assert flat[: M * D // 2 - 2].min() == pytest.approx(1.0) and flat[-1] == pytest.approx(0.0)


def test_curve_changes_only_lufs_tokens(cond_module: TriErgonConditioner) -> None:
    c1 = _conds(True, False, False)
    c2 = _conds(True, False, False)
    c2.lufs = c2.lufs * 0.5
    t1, t2 = cond_module(c1).tokens, cond_module(c2).tokens
    torch.testing.assert_close(t1[:, : 4 * M], t2[:, : 4 * M])
    assert not torch.allclose(t1[:, 4 * M : 6 * M], t2[:, 4 * M : 6 * M])
    torch.testing.assert_close(t1[:, 6 * M :], t2[:, 6 * M :])
    c3 = _conds(True, False, False)
    c3.lufs = None
    torch.testing.assert_close(
        cond_module(c3).tokens[:, 4 * M : 6 * M], cond_module.null_lufs.expand(2, 2 * M, D)
    )


def test_timing_tokens_and_clamp(cond_module: TriErgonConditioner) -> None:
    c = _conds(False, False, True)
    c.seconds_total = torch.tensor([5.0, 30.0])
    ct = cond_module(c)
    assert not torch.allclose(ct.tokens[0, 7 * M :], ct.tokens[1, 7 * M :])
    assert not torch.allclose(ct.global_cond[0], ct.global_cond[1])
    big = _conds(False, False, True)
    big.seconds_total = torch.tensor([512.0, 10_000.0])  # clamped to 512
    g = cond_module(big).global_cond
    torch.testing.assert_close(g[0], g[1])


def test_unconditional_zeroes_tokens_keeps_timing(cond_module: TriErgonConditioner) -> None:
    ct = cond_module(_conds(True, True, True))
    un = ct.unconditional()
    assert torch.count_nonzero(un.tokens) == 0
    torch.testing.assert_close(un.global_cond, ct.global_cond)
    assert un.lufs is not None and torch.count_nonzero(un.lufs) == 0


def test_condition_dropout_rates(cond_module: TriErgonConditioner) -> None:
    b = 4000
    c = Conditions(
        text_emb=torch.zeros(b, M, D),
        audio_emb=torch.zeros(b, M, D),
        video_emb=torch.zeros(b, M, D),
        seconds_total=torch.full((b,), 10.0),
    )
    out = apply_condition_dropout(c, generator=torch.Generator().manual_seed(0))
    for mask in (out.text_present, out.audio_present, out.video_present):
        assert mask is not None
        assert (~mask).float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert out.drop_all is not None
    assert out.drop_all.float().mean().item() == pytest.approx(0.1, abs=0.02)
    ids = task_id(out)
    assert set(ids.tolist()) == set(range(8))
    small = Conditions(text_emb=torch.randn(64, M, D), seconds_total=torch.full((64,), 3.0))
    dropped = apply_condition_dropout(small, p_modality=0.0, p_all=1.0)
    assert torch.count_nonzero(cond_module(dropped).tokens) == 0


def test_sao_conditioner_layout() -> None:
    cfg = ConditioningConfig(kind="sao", cond_dim=D, prompt_max_length=10, number_features=32)
    sao = SAOConditioner(cfg)
    c = Conditions(text_emb=torch.randn(2, 6, D), seconds_total=torch.tensor([3.0, 4.0]))
    ct = sao(c)
    assert ct.tokens.shape == (2, 12, D)
    torch.testing.assert_close(ct.tokens[:, :6], c.text_emb)
    assert torch.count_nonzero(ct.tokens[:, 6:10]) == 0
    torch.testing.assert_close(ct.global_cond, torch.cat([ct.tokens[:, 10], ct.tokens[:, 11]], dim=-1))
    assert set(sao.state_dict()) == {
        f"conditioners.seconds_{k}.embedder.embedding.{p}"
        for k in ("start", "total")
        for p in ("0.weights", "1.weight", "1.bias")
    }
