"""What caps the compact autoencoder's recognition? Hand-made degradations of the dev clips, each judged by the
evaluation classifier (issue 17; the dev pool, never the held-out set).

    .venv/bin/python tools/ae_ceiling_dev.py [--clips 54] [--model model_weights/compact]

The classifier recognises about 96 % of the originals and about 57 % of the autoencoder's reconstructions.
Each row removes one thing the latent (32 channels at 21.5 frames/s, from a 1024-point STFT at hop 256)
cannot carry in full, with nothing learnt, and reports the classifier's accuracy and its mean probability of
the right class, the mel-shape error (``dev_check``'s) and the loudness round trip (``dev_check``'s
``vae_curve_mae_lu``, LU):
- ``griffin-lim``: each channel's exact STFT magnitudes, phase rebuilt by Griffin-Lim (the phase the decoder
  has to invent);
- ``latent rate``: the magnitudes averaged over each latent frame's 8 STFT frames (timing inside 46 ms lost);
- ``N bands``: the magnitudes through N mel bands and back (spectral detail lost; 32 is the latent's width);
- ``N bands at latent rate``: the band powers averaged over each latent frame; at 16 bands a channel the code
  has as many numbers per frame as the latent;
- ``32 mid bands at latent rate``: the latent's count of numbers spent on the mono mix alone (the classifier
  hears the mono mix), the same in both channels;
- ``PCA K of 2 x 64 bands``: the best linear code of K numbers per latent frame for the log powers of 64 mel
  bands in each channel, fitted on another pool (seed 777): what a code of the latent's size (K = 32) could
  keep if it spent its numbers well.
A row far above the autoencoder's says the autoencoder loses more than that restriction forces; a row near it
says that restriction alone explains the gap.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

N_FFT, HOP, STRIDE, GL_ITERS = 1024, 256, 8, 48


def _stft_mag(x: torch.Tensor) -> torch.Tensor:
    import torch

    w = torch.hann_window(N_FFT, dtype=x.dtype)
    return torch.stft(x, N_FFT, HOP, window=w, center=True, return_complex=True).abs()


def _griffin_lim(mag: torch.Tensor, n: int, iters: int = GL_ITERS) -> np.ndarray:
    import torchaudio

    gl = torchaudio.transforms.GriffinLim(n_fft=N_FFT, hop_length=HOP, power=1.0, n_iter=iters, length=n)
    return gl(mag).T.numpy().astype(np.float32)


def _latent_rate(mag: torch.Tensor) -> torch.Tensor:
    f = mag.shape[-1]
    t = -(-f // STRIDE) * STRIDE
    import torch

    padded = torch.nn.functional.pad(mag, (0, t - f), mode="replicate")
    pooled = padded.reshape(*mag.shape[:-1], t // STRIDE, STRIDE).mean(-1, keepdim=True)
    return pooled.expand(*pooled.shape[:-1], STRIDE).reshape(*mag.shape[:-1], t)[..., :f]


def _bands(n_bands: int, latent_rate: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """Magnitudes through ``n_bands`` mel band powers and back (the filterbank's pseudo-inverse, clipped at 0).
    ``latent_rate``: the band powers are averaged over each latent frame before going back, so the code holds
    ``n_bands`` numbers per channel and latent frame; averaging the bins after the (nonlinear) way back would
    keep more than that."""
    import torch
    import torchaudio

    fb = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, 22050.0, n_bands, 44100)  # [bins, bands]
    back = torch.linalg.pinv(fb)  # [bands, bins]

    def through(mag: torch.Tensor) -> torch.Tensor:
        m = torch.einsum("cft,fb->cbt", mag * mag, fb)
        if latent_rate:
            m = _latent_rate(m)
        return torch.einsum("cbt,bf->cft", m, back).clamp_min(0.0).sqrt()

    return through


def _frame_log_powers(mag: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """``[2, bins, F]`` magnitudes -> ``[T, 2 * bands]`` log band powers averaged over each latent frame."""
    import torch

    p = torch.einsum("cft,fb->cbt", mag * mag, fb)
    t = -(-p.shape[-1] // STRIDE)
    p = torch.nn.functional.pad(p, (0, t * STRIDE - p.shape[-1]), mode="replicate")
    p = p.reshape(*p.shape[:-1], t, STRIDE).mean(-1)
    return torch.log(p + 1e-10).reshape(-1, t).T


def _magnitudes(log_powers: torch.Tensor, back: torch.Tensor, n_stft: int) -> torch.Tensor:
    """The way back from ``_frame_log_powers``: ``[T, 2 * bands]`` -> ``[2, bins, n_stft]`` magnitudes, each
    latent frame's band powers held over its STFT frames and spread over the bins by the pseudo-inverse."""
    import torch

    power = log_powers.float().exp().T.reshape(2, back.shape[0], -1).repeat_interleave(STRIDE, dim=-1)
    return torch.einsum("cbt,bf->cft", power[..., :n_stft], back).clamp_min(0.0).sqrt()


def _pca_code(fit: list[np.ndarray], n_bands: int, k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The best linear code of ``k`` numbers per latent frame for the log band powers of both channels (PCA,
    fitted on ``fit``), and the way back to magnitudes."""
    import torch
    import torchaudio

    fb = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, 22050.0, n_bands, 44100)
    back = torch.linalg.pinv(fb)
    x = torch.cat([_frame_log_powers(_stft_mag(torch.from_numpy(o)), fb) for o in fit]).double()
    mean = x.mean(0)
    basis = torch.linalg.svd(x - mean, full_matrices=False)[2][:k]  # [k, 2 * bands]

    def through(mag: torch.Tensor) -> torch.Tensor:
        v = _frame_log_powers(mag, fb).double()
        return _magnitudes((v - mean) @ basis.T @ basis + mean, back, mag.shape[-1])

    return through


def main() -> None:
    import torch

    from triergon_studio.takes import load_model
    from triergon_studio.training.eval.classifier import load_classifier, predict_proba
    from triergon_studio.training.eval.dev_check import dev_pool

    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=54)
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--fit-clips", type=int, default=160, help="clips (seed 777) the PCA codes are fitted on")
    ap.add_argument("--gl-iters", type=int, default=GL_ITERS, help="Griffin-Lim iterations")
    args = ap.parse_args()
    torch.set_num_threads(2)
    pool = dev_pool(args.clips)
    labels = np.asarray(pool.arrays["label"])
    clf, meta = load_classifier(Path(args.model) / "eval_classifier.safetensors")
    vae = load_model(args.model).net.vae
    originals = []
    for i in range(len(pool)):
        v = int(pool.arrays["valid"][i])
        originals.append(pool.arrays["audio"][i, :, :v].astype(np.float32))  # [2, N]
    rows: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "griffin-lim": lambda m: m,
        "latent rate": _latent_rate,
        "64 bands": _bands(64),
        "32 bands": _bands(32),
        "32 bands at latent rate": _bands(32, latent_rate=True),
        # 16 per channel: as many numbers per latent frame as the latent has (32)
        "16 bands at latent rate": _bands(16, latent_rate=True),
    }
    fit = dev_pool(args.fit_clips, seed=777)
    fit_audio = [
        fit.arrays["audio"][i, :, : int(v)].astype(np.float32) for i, v in enumerate(fit.arrays["valid"])
    ]
    rows["PCA 32 of 2 x 64 bands, latent rate"] = _pca_code(fit_audio, 64, 32)
    rows["PCA 64 of 2 x 64 bands, latent rate"] = _pca_code(fit_audio, 64, 64)
    sets: dict[str, list[np.ndarray]] = {"original": [o.T for o in originals], "autoencoder": []}
    with torch.inference_mode():
        for o in originals:
            x = torch.from_numpy(o)[None]
            sets["autoencoder"].append(vae.decode(vae.encode(x))[0, :, : o.shape[1]].T.numpy())
        for name, f in rows.items():
            torch.manual_seed(0)  # Griffin-Lim starts from random phase
            sets[name] = [
                _griffin_lim(f(_stft_mag(torch.from_numpy(o))), o.shape[1], args.gl_iters) for o in originals
            ]
        # the classifier hears the mono mix: all 32 numbers a frame spent on the mid, both channels alike
        torch.manual_seed(0)
        mid = _bands(32, latent_rate=True)
        sets["32 mid bands at latent rate"] = [
            _griffin_lim(
                mid(_stft_mag(torch.from_numpy(o.mean(0, keepdims=True)))), o.shape[1], args.gl_iters
            ).repeat(2, 1)
            for o in originals
        ]
    import torchaudio

    from triergon_studio.training.eval.dev_check import _curves, _mel_shape_error, clip_mean_mae

    mel = torchaudio.transforms.MelSpectrogram(44100, n_fft=2048, hop_length=512, n_mels=40)  # dev_check's
    print(
        f"{len(pool)} dev clips (seed 4242), evaluation classifier of {args.model}, "
        f"Griffin-Lim {args.gl_iters} iterations"
    )
    for name, audio in sets.items():
        p = predict_proba(clf, audio)
        right = p[np.arange(len(labels)), labels]
        shape = np.mean([_mel_shape_error(o.T, a, mel) for o, a in zip(originals, audio, strict=True)])
        # dev_check's vae_curve_mae_lu: what a DiT that made these codes exactly would score for raw adherence
        lu = clip_mean_mae([(_curves(a), _curves(o.T)) for o, a in zip(originals, audio, strict=True)])
        print(
            f"{name:36s} recognised {100 * np.mean(p.argmax(1) == labels):5.1f} %  p(right) {right.mean():.3f}"
            f"  mel-shape error {shape:.2f} dB  loudness round trip {lu:.2f} LU"
        )


if __name__ == "__main__":
    main()
