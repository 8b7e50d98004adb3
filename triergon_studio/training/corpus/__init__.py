"""Procedural Foley corpus: paired video, stereo audio, captions and loudness curves, made from a seed."""

from triergon_studio.training.corpus.captions import TEMPLATES, make_caption
from triergon_studio.training.corpus.generator import (
    CLASS_NAMES,
    CLASS_TABLE,
    Corpus,
    CorpusConfig,
    Example,
    SceneVideo,
    make_example,
)

__all__ = [
    "CLASS_NAMES",
    "CLASS_TABLE",
    "TEMPLATES",
    "Corpus",
    "CorpusConfig",
    "Example",
    "SceneVideo",
    "make_caption",
    "make_example",
]
