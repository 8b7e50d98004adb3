"""The autoencoder a model config names (``vae.kind``)."""

from __future__ import annotations

from triergon_studio.engine.config import VAEConfig
from triergon_studio.engine.models.stft_ae import SpectralAE
from triergon_studio.engine.models.vae import LatentAutoencoder, OobleckVAE


def build_autoencoder(cfg: VAEConfig) -> LatentAutoencoder:
    """Oobleck for the paper's presets and Stable Audio Open; the spectral autoencoder for ``"stft"``."""
    if cfg.kind == "stft":
        return SpectralAE(cfg)
    return OobleckVAE(cfg)
