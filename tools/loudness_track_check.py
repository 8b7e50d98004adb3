"""How well a band-PCA model's loudness track stands in for a decode, on dev clips (session 29; never held-out).

    .venv/bin/python tools/loudness_track_check.py [--model model_weights/compact] [--clips 36]

For each dev clip (``runs/devclips36``) the clip's audio is encoded, then measured two ways: the 6 Hz curve
of the decode (Griffin-Lim, as the take is made) and the curve read off the track (the K-weighted power of
the magnitudes the decoder rebuilds, ``BandPCAAE.loudness_track``). Prints, over the decode's audible frames
(above -60 LUFS): the mean |track - decode| (LU), its median per clip (a bias) and what is left around it,
and the seconds each costs. Then, for 10 s of stereo from a random latent, one decode's forward and backward
with the Griffin-Lim phase held constant (the default) and with the exact backward through every iteration,
and the cosine between the two gradients of a log-energy loss.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from triergon_studio.engine.curve_control.loudness_torch import loudness_curves, track_curves
    from triergon_studio.engine.models.band_pca_ae import BandPCAAE
    from triergon_studio.takes import load_model
    from triergon_studio.training.eval.report import load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="model_weights/compact")
    ap.add_argument("--dev-dir", default="runs/devclips36")
    ap.add_argument("--clips", type=int, default=36)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    ae = getattr(getattr(model, "net", None), "vae", None)
    if not isinstance(ae, BandPCAAE):
        raise SystemExit(f"{args.model}: its autoencoder is not a band-PCA code, so it has no loudness track")
    sr = model.info.sample_rate
    clips = load_clips(Path(args.dev_dir), args.clips)
    rows, t_dec, t_track = [], 0.0, 0.0
    for clip in clips:
        audio = torch.from_numpy(np.ascontiguousarray(clip.gt_audio.T)).float()[None]
        with torch.inference_mode():
            z = ae.encode(audio)
            t0 = time.perf_counter()
            decoded = ae.decode(z)[0]
            t1 = time.perf_counter()
            power, hop = ae.loudness_track(z)
            est = track_curves(power[0], hop, decoded.shape[-1], sr, floor=-120.0).double()
            t2 = time.perf_counter()
            ref = loudness_curves(decoded, sr).double()
        t_dec, t_track = t_dec + t1 - t0, t_track + t2 - t1
        audible = ref > -60
        if not bool(audible.any()):
            continue
        d = (est - ref)[audible].numpy()
        rows.append((np.abs(d).mean(), np.median(d), np.abs(d - np.median(d)).mean()))
    r = np.array(rows)
    n = len(clips)
    print(f"{len(r)} clips with audible frames")
    print(f"track vs decode: mean |d| {r[:, 0].mean():.3f} LU; median per clip {r[:, 1].mean():+.3f} LU")
    print(f"  (spread over clips {r[:, 1].std():.3f}); left around the median {r[:, 2].mean():.3f} LU")
    print(f"seconds per clip: decode {t_dec / n:.3f}, track {t_track / n:.4f} ({t_track / t_dec:.1%})")

    frames = int(round(10 * sr / model.downsampling_ratio))
    z = torch.randn(1, model.latent_channels, frames, generator=torch.Generator().manual_seed(0))
    grads = []
    for exact in (False, True):
        ae.decoder.exact_phase_grad = exact
        latent = z.clone().requires_grad_(True)
        t0 = time.perf_counter()
        out = ae.decode(latent)
        t1 = time.perf_counter()
        out.square().mean().log().backward()
        t2 = time.perf_counter()
        assert latent.grad is not None
        grads.append(latent.grad.flatten())
        name = "exact backward" if exact else "phase constant"
        print(f"10 s decode with gradients, {name}: forward {t1 - t0:.3f} s, backward {t2 - t1:.3f} s")
    ae.decoder.exact_phase_grad = False
    cos = float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0))
    print(f"cosine between the two gradients: {cos:.5f}")


if __name__ == "__main__":
    main()
