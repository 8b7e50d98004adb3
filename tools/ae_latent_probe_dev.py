"""Do the compact autoencoder's latents carry what its decoder loses? A linear probe (issue 17; dev clips only).

    .venv/bin/python -m tools.ae_latent_probe_dev [--fit-clips 160] [--clips 54] [--bands 16 32]

A ridge regression from the frozen encoder's latents (each latent frame with two neighbours each side) to the
log mel-band power of each channel at the latent rate is fitted on a separate pool (seed 777) and applied to
the dev clips (seed 4242). Each prediction is turned back into audio with Griffin-Lim (the band powers spread
over the STFT bins by the filterbank's pseudo-inverse) and judged by the evaluation classifier, beside the
autoencoder's own decode and the same bands measured from the original (``tools/ae_ceiling_dev.py``). If the
probe's audio is recognised far more often than the decoder's, the latents hold the class and the decoder
(not the latent, and not the DiT trained on it) is what loses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tools.ae_ceiling_dev import HOP, N_FFT, _frame_log_powers, _griffin_lim, _magnitudes, _stft_mag

if TYPE_CHECKING:
    import torch

CONTEXT = 2  # latent frames each side
RIDGE = 1e-1


def _band_targets(o: np.ndarray, fb: torch.Tensor, frames: int) -> np.ndarray:
    """``[2, N]`` audio -> ``[frames, 2 * bands]`` log band powers of the first ``frames`` latent frames."""
    import torch

    return _frame_log_powers(_stft_mag(torch.from_numpy(o)), fb)[:frames].double().numpy()


def _features(z: np.ndarray) -> np.ndarray:
    """``[C, T]`` latent -> ``[T, C * (2 * CONTEXT + 1) + 1]`` (neighbours edge-padded, a bias column)."""
    padded = np.pad(z, ((0, 0), (CONTEXT, CONTEXT)), mode="edge")
    cols = [padded[:, k : k + z.shape[1]] for k in range(2 * CONTEXT + 1)]
    return np.concatenate([*cols, np.ones((1, z.shape[1]))]).T


def main() -> None:
    import torch
    import torchaudio

    from triergon_studio.takes import load_model
    from triergon_studio.training.eval.classifier import load_classifier, predict_proba
    from triergon_studio.training.eval.dev_check import dev_pool

    ap = argparse.ArgumentParser()
    ap.add_argument("--fit-clips", type=int, default=160)
    ap.add_argument("--clips", type=int, default=54)
    ap.add_argument("--bands", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--model", default="model_weights/compact")
    args = ap.parse_args()
    torch.set_num_threads(2)
    vae = load_model(args.model).net.vae
    clf, _ = load_classifier(Path(args.model) / "eval_classifier.safetensors")

    def clips(pool: object) -> list[np.ndarray]:
        a = pool.arrays  # type: ignore[attr-defined]
        return [a["audio"][i, :, : int(a["valid"][i])].astype(np.float32) for i in range(len(a["valid"]))]

    fit_pool, dev = dev_pool(args.fit_clips, seed=777), dev_pool(args.clips)
    labels = np.asarray(dev.arrays["label"])
    fit_audio, dev_audio = clips(fit_pool), clips(dev)
    with torch.inference_mode():
        lat = {
            k: [vae.encode(torch.from_numpy(o)[None])[0].numpy().astype(np.float64) for o in audio]
            for k, audio in (("fit", fit_audio), ("dev", dev_audio))
        }
        recon = [
            vae.decode(torch.from_numpy(z[None]).float())[0, :, : o.shape[1]].T.numpy()
            for z, o in zip(lat["dev"], dev_audio, strict=True)
        ]

    def judge(name: str, audio: list[np.ndarray]) -> None:
        p = predict_proba(clf, audio)
        right = p[np.arange(len(labels)), labels]
        print(
            f"{name:34s} recognised {100 * np.mean(p.argmax(1) == labels):5.1f} %  p(right) {right.mean():.3f}"
        )

    print(f"fit on {len(fit_audio)} clips (seed 777), judged on {len(dev_audio)} dev clips (seed 4242)")
    judge("autoencoder decode", recon)
    for nb in args.bands:
        fb = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, 22050.0, nb, 44100)
        back = torch.linalg.pinv(fb)
        x = np.concatenate([_features(z) for z in lat["fit"]])
        y = np.concatenate(
            [_band_targets(o, fb, z.shape[1]) for o, z in zip(fit_audio, lat["fit"], strict=True)]
        )
        w = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)
        out, truth, err = [], [], []
        for o, z in zip(dev_audio, lat["dev"], strict=True):
            pred = _features(z) @ w  # [T, 2 * bands]
            tgt = _band_targets(o, fb, z.shape[1])
            err.append(np.abs(pred - tgt).mean() * 10 / np.log(10))  # dB
            for bands_log, sink in ((pred, out), (tgt, truth)):
                torch.manual_seed(0)
                mag = _magnitudes(torch.from_numpy(bands_log), back, o.shape[1] // HOP + 1)
                sink.append(_griffin_lim(mag, o.shape[1]))
        print(f"{nb} bands: the probe's mean band error {np.mean(err):.2f} dB")
        judge(f"  {nb} bands measured, Griffin-Lim", truth)
        judge(f"  {nb} bands from the latent, Griffin-Lim", out)


if __name__ == "__main__":
    main()
