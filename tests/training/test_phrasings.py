"""The text encoder's training phrasings (issue 17): many per class, and never the hand-written held-out
phrasings nor the evaluation set's held-out caption templates."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from triergon_studio.training.corpus import CLASS_NAMES
from triergon_studio.training.corpus.captions import enumerate_template_captions
from triergon_studio.training.corpus.heldout_phrasings import HELDOUT_PHRASINGS
from triergon_studio.training.corpus.phrasings import LEXICON, paraphrase, producible


def _norm(t: str) -> str:
    return " ".join(t.lower().split())


def test_heldout_phrasings_cover_every_class_and_no_template_makes_them() -> None:
    assert set(HELDOUT_PHRASINGS) == set(CLASS_NAMES) == set(LEXICON)
    assert all(len(v) >= 8 for v in HELDOUT_PHRASINGS.values())
    held = {_norm(p) for v in HELDOUT_PHRASINGS.values() for p in v}
    assert not [p for p in held if producible(p)]
    train_templates = {_norm(c) for v in enumerate_template_captions("train").values() for c in v}
    assert not held & train_templates


def test_training_phrasings_never_produce_a_heldout_phrasing() -> None:
    held = {_norm(p) for v in HELDOUT_PHRASINGS.values() for p in v}
    eval_held = {_norm(c) for v in enumerate_template_captions("heldout").values() for c in v}
    rng = np.random.default_rng(0)
    drawn = {_norm(paraphrase(rng, label)) for _ in range(600) for label in CLASS_NAMES}
    assert len(drawn) > 5000  # many distinct phrasings
    assert not drawn & held
    assert not drawn & eval_held
    assert not [c for c in eval_held if producible(c)]  # the evaluation set's held-out captions stay unseen


def test_producible_recognises_what_the_shapes_make() -> None:
    rng = np.random.default_rng(1)
    texts = [paraphrase(rng, label, noise=0.0) for label in CLASS_NAMES for _ in range(20)]
    assert all(producible(t) for t in texts)
    assert not producible("boots crunching through a field of marshmallows")


def test_encoders_stage_redraws_captions_of_the_segments_class(tmp_path: Path) -> None:
    from triergon_studio.training.config import Dist, EncodersStageConfig, load_stage_config
    from triergon_studio.training.stages import EncodersStage

    configs = Path(__file__).resolve().parents[2] / "triergon_studio" / "training" / "configs"
    cfg = load_stage_config(configs / "tiny_encoders.json")
    assert isinstance(cfg, EncodersStageConfig)
    cfg.out_dir, cfg.pool_size, cfg.batch_size = str(tmp_path / "enc"), 6, 6
    cfg.caption_paraphrase, cfg.paraphrase_noise, cfg.audio_crop_seconds = 1.0, 0.0, 0.5
    stage = EncodersStage(cfg, Dist())
    batch = stage.next_batch(np.random.default_rng(3))
    assert batch["audio"].shape == (6, 2, 22050)  # the audio crop
    pool_captions = set(stage.source.pool.captions) if stage.source.pool else set()
    for cap, lab in zip(batch["caption"], batch["label"].tolist(), strict=True):
        assert cap not in pool_captions and producible(cap)
        label = CLASS_NAMES[lab]
        assert any(p.fullmatch(_norm(cap)) for p in _class_patterns(label))


def _class_patterns(label: str) -> list[re.Pattern[str]]:
    from triergon_studio.training.corpus import phrasings

    k = list(phrasings.LEXICON).index(label)
    n = len(phrasings.SHAPES)
    return phrasings._patterns()[k * n : (k + 1) * n]
