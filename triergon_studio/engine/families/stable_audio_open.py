"""Stable Audio Open 1.0 behind the model protocol: the same DiT and Oobleck VAE code as Tri-Ergon, loaded
from the user's ``model_config.json`` + weights, with T5-base prompt tokens and timing as its context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triergon_studio.engine.families.base import (
    Capabilities,
    Defaults,
    FamilyEntry,
    ModelInfo,
    Settings,
    TakeInputs,
)
from triergon_studio.engine.families.triergon import SAMPLER_NAMES, TriErgonModel
from triergon_studio.errors import ModelError

FAMILY = "stable-audio-open"
LICENCE = "Stability AI Community License"


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "model_config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable model_config.json ({type(exc).__name__})", path) from exc
    if not isinstance(data, dict):
        raise ModelError("model_config.json is not a JSON object", path)
    return data


def _is_sao(folder: Path) -> bool:
    if not (folder / "model_config.json").is_file() or (folder / "config.json").is_file():
        return False
    try:
        data = _config(folder)
    except ModelError:
        return True  # let load() report the unreadable file by name
    return data.get("model_type") == "diffusion_cond"


def describe(name_or_dir: str) -> ModelInfo:
    folder = Path(name_or_dir).expanduser()
    data = _config(folder)
    sr = int(data.get("sample_rate", 44100))
    window = float(data.get("sample_size", 2097152)) / sr
    caps = Capabilities(text=True, negative_text=True, reference_audio=False, video=False, lufs=False,
                        init_audio=True, inpaint=True, max_window_s=window, samplers=SAMPLER_NAMES,
                        guidance_rules=("cfg",),
                        notes=("Stable Audio Open takes no video or reference-audio prompt: the picture steers it "
                               "through the loudness curves",))
    return ModelInfo(name=folder.name, family=FAMILY, capabilities=caps,
                     defaults=Defaults(steps=100, cfg=7.0, sampler="dpmpp-3m-sde"), path=str(folder),
                     licence=LICENCE, sample_rate=sr, latent_rate_hz=sr / 2048.0, variant="1.0")


def load(name_or_dir: str, device: Any = "cpu", dtype: Any = None, **options: Any) -> StableAudioOpenModel:
    from triergon_studio.engine.weights import load_model

    if options:
        raise ModelError(f"unknown load options: {', '.join(options)}", name_or_dir)
    net = load_model(name_or_dir, device, dtype)
    return StableAudioOpenModel(net, info=describe(name_or_dir))


class StableAudioOpenModel(TriErgonModel):
    def check(self, inputs: TakeInputs, settings: Settings) -> None:
        if (inputs.text or inputs.negative_text) and "text" not in inputs.embeddings:
            raise ModelError("Stable Audio Open needs its T5-base text encoder, which is not loaded: pass "
                             "precomputed T5 prompt embeddings", self.info.path)
        super().check(inputs, settings)


ENTRY = FamilyEntry(FAMILY, _is_sao, f"{__name__}:describe", f"{__name__}:load")
