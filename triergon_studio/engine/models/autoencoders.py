"""The autoencoder a model config names (``vae.kind``)."""

from __future__ import annotations

from triergon_studio.engine.config import VAEConfig
from triergon_studio.engine.models.band_pca_ae import BandPCAAE
from triergon_studio.engine.models.stft_ae import SpectralAE
from triergon_studio.engine.models.vae import LatentAutoencoder, OobleckVAE


def build_autoencoder(cfg: VAEConfig, sample_rate: int = 44100) -> LatentAutoencoder:
    """Oobleck for the paper's presets and Stable Audio Open; the spectral autoencoder for ``"stft"``; the band-PCA
    code for ``"bandpca"``."""
    if cfg.kind == "bandpca":
        return BandPCAAE(cfg, sample_rate)
    if cfg.kind == "stft":
        return SpectralAE(cfg)
    return OobleckVAE(cfg)
