"""Where a bundle's limits come from, measured on fresh corpus clips (a dev seed, never the held-out set):

- the VAE alone: the evaluation classifier's accuracy on the VAE's reconstructions against the originals, the
  mean per-clip error of the reconstructions' mel-band spectral shape (level removed), in dB, how well they
  keep the left/right balance (``stereo_balance``: per 2048-sample block, L minus R level in dB), and how far
  their loudness curves lie from the originals' (``vae_curve_mae_lu``, LU, as raw adherence is measured);
- T_LUFS alone: its curve error (LU, frames whose true level is above -60 LUFS) on new clips.

    python -m triergon_studio.training.eval.dev_check model_weights/compact [--vae-weights RUN/weights.safetensors]

The classifier is the model folder's ``eval_classifier.safetensors`` (or ``--classifier FILE``);
``python -m triergon_studio.training.reproduce --steps pool,classifier`` trains one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

DEV_SEED = 4242  # neither the pool's seed (11) nor the held-out set's (90210)
AUDIBLE = -60.0


def dev_pool(
    n: int, seed: int = DEV_SEED, seconds: float = 6.0, lufs_size: int = 64, lufs_per_frame: int = 1
) -> Any:
    """The dev segments, as the compact stages render them; ``lufs_size`` is the side of T_LUFS's 6 fps
    frames and ``lufs_per_frame`` its pictures per frame (``lufs_input_size``, ``lufs_pictures_per_frame``: a
    predictor is measured on pictures rendered as it reads them)."""
    from triergon_studio.training.data import SegmentSpec
    from triergon_studio.training.pool import build_pool

    spec = SegmentSpec(
        seconds=seconds, video_frames=8, video_size=64, lufs_size=lufs_size, lufs_per_frame=lufs_per_frame
    )
    return build_pool(n, seed, spec, dev_corpus())


def dev_corpus() -> Any:
    """The corpus settings the dev clips are drawn with (the compact stages' clip lengths)."""
    from triergon_studio.training.corpus import CorpusConfig

    return CorpusConfig(min_seconds=1.5, max_seconds=10.0, mean_seconds=5.0)


def lufs_input_size(predictor: Any) -> int:
    """The picture side a frame-CNN T_LUFS reads; 64, the stages' size, for a DINOv2 one (which resizes to
    its own input). Rendering at 64 and letting a 96 px predictor scale up would measure it on blurred
    pictures."""
    side = predictor.cfg.picture_size if predictor is not None else None
    return 64 if side is None else int(side)


def lufs_pictures_per_frame(predictor: Any) -> int:
    """The pictures a T_LUFS reads per 1/6 s curve frame (1 unless its frame CNN reads ``sub_frames``)."""
    return 1 if predictor is None else int(predictor.cfg.pictures_per_frame)


def dev_pool_for(predictor: Any, n: int, seed: int = DEV_SEED, seconds: float = 6.0) -> Any:
    """``dev_pool`` with T_LUFS's pictures rendered as ``predictor`` reads them (its size and picture rate)."""
    size, per_frame = lufs_input_size(predictor), lufs_pictures_per_frame(predictor)
    return dev_pool(n, seed, seconds, lufs_size=size, lufs_per_frame=per_frame)


def _mel_shape_error(a: np.ndarray, b: np.ndarray, mel: Any) -> float:
    import torch

    def shape(x: np.ndarray) -> Any:
        m = 10 * torch.log10(mel(torch.from_numpy(np.ascontiguousarray(x.T)).mean(0)).mean(1) + 1e-10)
        return m - m.mean()

    return float((shape(a) - shape(b)).abs().mean())


BALANCE_BLOCK = 2048  # samples (the compact latent's frame)
BALANCE_AUDIBLE_DB = -50.0  # blocks quieter than this (mean square of the two channels, dB) are left out


def _curves(audio: np.ndarray) -> np.ndarray:
    """``[N, 2]`` audio -> its loudness curves ``[2, F]`` LUFS, as the evaluation measures takes."""
    from triergon_studio.audio.loudness import channel_curves

    return np.asarray(channel_curves(audio, 44100), dtype=np.float64)


def block_balance(audio: np.ndarray, block: int = BALANCE_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """``[N, 2]`` audio -> per block (L minus R level in dB, mean level of the two in dB)."""
    n = audio.shape[0] // block * block
    e = (audio[:n].reshape(-1, block, 2).astype(np.float64) ** 2).mean(1) + 1e-12
    return 10 * np.log10(e[:, 0] / e[:, 1]), 10 * np.log10(e.mean(1))


def stereo_balance(originals: list[np.ndarray], recons: list[np.ndarray]) -> dict[str, float]:
    """How an autoencoder keeps the L/R balance: mean |L - R| of the originals and of the reconstructions, the
    mean error of the reconstructions' L - R, and the correlation of the two (audible blocks only). A decoder
    that makes both channels equally loud scores |L - R| near 0 and a correlation near 0."""
    gt, rec = [], []
    for a, b in zip(originals, recons, strict=True):
        bg, level = block_balance(a)
        br, _ = block_balance(b)
        k = min(len(bg), len(br))
        sel = level[:k] > BALANCE_AUDIBLE_DB
        gt.append(bg[:k][sel])
        rec.append(br[:k][sel])
    g, r = np.concatenate(gt), np.concatenate(rec)
    corr = float(np.corrcoef(g, r)[0, 1]) if len(g) > 1 and g.std() > 0 and r.std() > 0 else 0.0
    return {
        "blocks": int(len(g)),
        "original_abs_lr_db": round(float(np.abs(g).mean()), 2),
        "reconstruction_abs_lr_db": round(float(np.abs(r).mean()), 2),
        "lr_error_db": round(float(np.abs(g - r).mean()), 2),
        "lr_correlation": round(corr, 3),
    }


def dev_check(model: Any, classifier: Any, pool: Any) -> dict[str, Any]:
    import torch
    import torchaudio

    from triergon_studio.training.eval.classifier import predict_proba

    labels = np.asarray(pool.arrays["label"])
    mel = torchaudio.transforms.MelSpectrogram(44100, n_fft=2048, hop_length=512, n_mels=40)
    originals, recons, shape_err = [], [], []
    with torch.inference_mode():
        for i in range(len(pool)):
            v = int(pool.arrays["valid"][i])
            x = torch.from_numpy(pool.arrays["audio"][i, :, :v].astype(np.float32))[None]
            y = model.vae.decode(model.vae.encode(x))[0, :, :v]
            originals.append(x[0].T.numpy())
            recons.append(y.T.numpy())
            shape_err.append(_mel_shape_error(originals[-1], recons[-1], mel))
    acc_orig = float((predict_proba(classifier, originals).argmax(1) == labels).mean())
    acc_recon = float((predict_proba(classifier, recons).argmax(1) == labels).mean())
    curves = [(_curves(r), _curves(o)) for o, r in zip(originals, recons, strict=True)]
    out: dict[str, Any] = {
        "clips": len(pool),
        "seed": DEV_SEED,
        "classifier_acc_original": round(acc_orig, 4),
        "classifier_acc_vae_reconstruction": round(acc_recon, 4),
        "vae_mel_shape_error_db": round(float(np.mean(shape_err)), 2),
        "stereo_balance": stereo_balance(originals, recons),
        # the reconstruction's loudness curves against the original's: what a DiT that made the original's
        # latents exactly would score for raw adherence
        "vae_curve_mae_lu": clip_mean_mae(curves),
        "vae_curve_mae_after_offset_lu": clip_mae_after_offset(curves),
        # the other side of it: what the reconstruction puts where the original is silent (a gain that only
        # chases the audible frames could lift the gaps)
        "vae_silent_frames": silent_frame_leak(curves),
    }
    if model.lufs_predictor is not None:
        out.update(t_lufs_report(model.lufs_predictor, pool))
    return out


def t_lufs_dev_curves(predictor: Any, pool: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(predicted, ground-truth) LUFS curves [2, F] of each dev clip, over the clip's own frames."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(len(pool)):
            nf = int(np.ceil(int(pool.arrays["valid"][i]) / 44100 * 6))
            k = lufs_pictures_per_frame(predictor)
            pictures = torch.from_numpy(pool.arrays["frames6"][i][: nf * k])
            pred = predictor.predict_curves(pictures).numpy()
            gt = np.asarray(pool.arrays["curves_lufs"][i])[:, :nf]
            out.append((np.asarray(pred, np.float64)[:, : gt.shape[1]], gt.astype(np.float64)))
    return out


def t_lufs_dev(predictor: Any, pool: Any) -> float:
    """T_LUFS alone on the dev pool, as ``dev_check`` measures it (mean over clips of the audible-frame MAE)."""
    return clip_mean_mae(t_lufs_dev_curves(predictor, pool))


def t_lufs_report(predictor: Any, pool: Any) -> dict[str, Any]:
    """T_LUFS's dev figures: ``t_lufs_mae_lu`` (as ``t_lufs_dev``), ``t_lufs_breakdown`` and
    ``t_lufs_by_class``."""
    from triergon_studio.training.corpus import CLASS_NAMES

    curves = t_lufs_dev_curves(predictor, pool)
    labels = [CLASS_NAMES[int(c)] for c in pool.arrays["label"]]
    return {
        "t_lufs_mae_lu": clip_mean_mae(curves),
        "t_lufs_breakdown": t_lufs_breakdown(curves),
        "t_lufs_by_class": t_lufs_by_class(curves, labels),
    }


def t_lufs_by_class(
    curves: list[tuple[np.ndarray, np.ndarray]], labels: list[str]
) -> dict[str, dict[str, float]]:
    """Per class, worst first: its segments, their mean audible-frame error (as ``clip_mean_mae``), the share
    of its audible frames called silent, and the error on those called audible."""
    by: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for c, label in zip(curves, labels, strict=True):
        if (c[1] > AUDIBLE).any():
            by.setdefault(label, []).append(c)
    out = {}
    for label, cs in by.items():
        b = t_lufs_breakdown(cs)
        out[label] = {
            "segments": len(cs),
            "mae_lu": clip_mean_mae(cs),
            "audible_called_silent": b["audible_called_silent"],
            "audible_called_audible_mae_lu": b["audible_called_audible_mae_lu"],
        }
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["mae_lu"]))


def clip_mean_mae(curves: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over clips of each clip's audible-frame MAE (clips with no audible frame left out)."""
    errs = [np.abs(p - g)[g > AUDIBLE].mean() for p, g in curves if (g > AUDIBLE).any()]
    return round(float(np.mean(errs)), 2)


def clip_mean_abs_offset(curves: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over clips of |median error| on the audible frames: the level a gain per clip could take away."""
    offs = [abs(float(np.median((p - g)[g > AUDIBLE]))) for p, g in curves if (g > AUDIBLE).any()]
    return round(float(np.mean(offs)), 3) if offs else 0.0


def clip_mae_after_offset(curves: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over clips of the audible-frame MAE left after removing each clip's median offset."""
    left = []
    for p, g in curves:
        d = (p - g)[g > AUDIBLE]
        if d.size:
            left.append(np.abs(d - np.median(d)).mean())
    return round(float(np.mean(left)), 3) if left else 0.0


def silent_frame_leak(curves: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Over all frames where the original is silent (at or under -60 LUFS): how many there are, the share of
    them the reconstruction makes audible, and the reconstruction's mean level on them (LUFS, as floored)."""
    got = np.concatenate([p[g <= AUDIBLE] for p, g in curves]) if curves else np.zeros(0)
    if not got.size:
        return {"frames": 0, "audible_share": 0.0, "mean_lufs": 0.0}
    return {
        "frames": int(got.size),
        "audible_share": round(float((got > AUDIBLE).mean()), 4),
        "mean_lufs": round(float(got.mean()), 2),
    }


def t_lufs_breakdown(curves: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Where the audible-frame error comes from, over all the clips' frames: the audible frames predicted
    silent (at or under -60 LUFS) and what they cost, the error and bias on the others, the silent frames
    predicted audible, and the clip-mean error left after removing each clip's median offset. An audible frame
    called silent "at an edge" has a neighbour in time, on its channel, that was called audible: an onset
    called late or a tail cut short rather than an event missed."""
    p = np.concatenate([c[0].ravel() for c in curves])
    g = np.concatenate([c[1].ravel() for c in curves])
    aud, loud = g > AUDIBLE, p > AUDIBLE
    missed, hit = aud & ~loud, aud & loud
    edge = np.concatenate([_next_to(c[0] > AUDIBLE).ravel() for c in curves])

    def r(x: float) -> float:
        return round(float(x), 3)

    return {
        "audible_frames": int(aud.sum()),
        "audible_called_silent": r(missed.sum() / max(1, aud.sum())),
        "audible_called_silent_mae_lu": r(np.abs(p - g)[missed].mean()) if missed.any() else 0.0,
        "audible_called_audible_mae_lu": r(np.abs(p - g)[hit].mean()) if hit.any() else 0.0,
        "audible_called_audible_mean_signed_lu": r((p - g)[hit].mean()) if hit.any() else 0.0,
        "audible_called_silent_at_an_edge": r((missed & edge).sum() / max(1, missed.sum())),
        "silent_called_audible": r((~aud & loud).sum() / max(1, (~aud).sum())),
        "clip_mae_after_offset_lu": clip_mae_after_offset(curves),
    }


def _next_to(on: np.ndarray) -> np.ndarray:
    """[C, F] booleans -> True where the frame before or after, on the same row, is True."""
    out = np.zeros_like(on)
    out[:, 1:] |= on[:, :-1]
    out[:, :-1] |= on[:, 1:]
    return out


def t_lufs_heldout(predictor: Any, heldout_dir: Path, n: int = 36) -> float:
    """T_LUFS on the held-out videos, as the evaluation report measures it (the mp4s read as the app reads
    them, ``report.video_curves``)."""
    from triergon_studio.training.corpus.heldout import load_heldout
    from triergon_studio.training.eval.report import curve_mae, video_curves

    errs = []
    for meta in load_heldout(heldout_dir)[:n]:
        pred = video_curves(predictor, str(meta["video"]))
        curves = meta["curves"]
        assert isinstance(curves, dict)
        gt = np.array([curves["left"], curves["right"]], dtype=np.float64)
        e = curve_mae(gt, pred)
        if e is not None:
            errs.append(e)
    return round(float(np.nanmean(np.stack(errs))), 3)


def put_stage_weights(model: Any, path: str, prefix: str | tuple[str, ...], stage: str) -> None:
    """Replace parts of ``model`` with a training stage's weights (keys starting with ``prefix``, or one of
    them), e.g. to measure a stage run against the bundle it would go into; anything else in the file is
    refused."""
    from safetensors.torch import load_file

    from triergon_studio.errors import StudioError

    sd = load_file(path)
    if not sd or not all(k.startswith(prefix) for k in sd):
        want = " or ".join(f"{p}*" for p in ((prefix,) if isinstance(prefix, str) else prefix))
        raise StudioError(f"not a {stage} stage's weights (keys {want})", path)
    if model.load_state_dict(sd, strict=False).unexpected_keys:
        raise StudioError(f"the {stage} stage's weights do not fit this model", path)


def use_vae_weights(model: Any, path: str) -> None:
    """``put_stage_weights`` for a vae stage's weights; a decoder first gets the parts the run's weights have
    and the bundle's lack (a coherent side, ``decoder.pan``; a gain head, ``decoder.gain``), so a run of that
    kind can be measured in a bundle without them; a fitted band-PCA code (``vae_mel``) replaces a spectral
    autoencoder, and the reverse."""
    import dataclasses

    from safetensors import safe_open

    from triergon_studio.engine.models.autoencoders import build_autoencoder

    with safe_open(path, "pt") as f:
        keys = set(f.keys())
    vae = model.cfg.vae
    band_pca = "vae.encoder.pca_basis" in keys
    if band_pca != (vae.kind == "bandpca"):
        kind = "bandpca" if band_pca else "stft"
        vae = dataclasses.replace(vae, kind=kind, side="free", gain_head=False)  # the spectral AE's options
    if "vae.decoder.pan.weight" in keys:
        vae = dataclasses.replace(vae, side="coherent")
    if any(k.startswith("vae.decoder.gain.") for k in keys):
        vae = dataclasses.replace(vae, gain_head=True)
    if vae != model.cfg.vae:
        model.cfg.vae = vae
        model.vae = build_autoencoder(model.cfg.vae, model.cfg.sample_rate).eval()
    put_stage_weights(model, path, "vae.", "vae")


def stage_model_config(weights: Path) -> Any:
    """The compact preset with the model overrides of the run that wrote ``weights`` (its folder's
    config.json), so a run that changed a part's shape (a gated T_LUFS head) is measured as it trained."""
    from triergon_studio.engine.config import ModelConfig, get_preset
    from triergon_studio.training.config import merge_overrides

    cfg = get_preset("compact")
    run_conf = weights.parent / "config.json"
    over = json.loads(run_conf.read_text()).get("model_overrides") if run_conf.exists() else None
    return ModelConfig.from_dict(merge_overrides(cfg.to_dict(), over)) if over else cfg


def lufs_only(args: argparse.Namespace) -> dict[str, Any]:
    """``--lufs-only``: T_LUFS figures without the VAE or the classifier, from a model folder or from the
    lufs stage's weights (``--lufs-weights``) put into a compact model."""
    import torch

    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import load_model_dir

    torch.set_num_threads(1)
    if args.lufs_weights:
        model = build_model(stage_model_config(Path(args.lufs_weights)))
        put_stage_weights(model, args.lufs_weights, "lufs_predictor.", "lufs")
    else:
        model = load_model_dir(Path(args.model))
    pred = model.eval().lufs_predictor
    out: dict[str, Any] = {
        "clips": args.clips,
        "seed": DEV_SEED,
        **t_lufs_report(pred, dev_pool_for(pred, args.clips)),
    }
    if args.heldout:
        out["heldout_t_lufs_mae_lu"] = t_lufs_heldout(pred, Path(args.heldout), args.heldout_clips)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="a model folder (with --lufs-only, or give --lufs-weights)")
    ap.add_argument(
        "--classifier",
        help="the evaluation classifier (default: the model folder's eval_classifier.safetensors)",
    )
    ap.add_argument("--clips", type=int, default=54)
    ap.add_argument("--lufs-only", action="store_true", help="T_LUFS only: no VAE, no classifier")
    ap.add_argument("--lufs-weights", help="with --lufs-only: a lufs stage's weights.safetensors")
    ap.add_argument("--heldout", help="with --lufs-only: also T_LUFS on this held-out set (runs/heldout)")
    ap.add_argument("--heldout-clips", type=int, default=36)
    ap.add_argument(
        "--vae-weights", help="measure a vae stage's weights.safetensors in place of the model's autoencoder"
    )
    args = ap.parse_args(argv)
    if not args.model and not (args.lufs_only and args.lufs_weights):
        ap.error("give a model folder (or --lufs-only --lufs-weights W)")
    if args.lufs_only:
        from triergon_studio.errors import StudioError

        try:
            print(json.dumps(lufs_only(args), indent=1))
        except StudioError as exc:
            raise SystemExit(str(exc)) from None
        return 0
    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.classifier import load_classifier
    from triergon_studio.training.eval.report import bundled_classifier

    if not args.classifier:  # the model folder's own, checked against its manifest
        try:
            args.classifier = str(bundled_classifier(Path(args.model)))
        except StudioError as exc:
            raise SystemExit(str(exc)) from None
    if not Path(args.classifier).is_file():
        raise SystemExit(
            str(
                StudioError(
                    "no evaluation classifier: run `python -m triergon_studio.training."
                    "reproduce --steps pool,classifier`",
                    args.classifier,
                )
            )
        )
    model = load_model_dir(Path(args.model)).eval()
    if args.vae_weights:
        try:
            use_vae_weights(model, args.vae_weights)
        except StudioError as exc:
            raise SystemExit(str(exc)) from None
    classifier, _ = load_classifier(Path(args.classifier))
    pool = dev_pool_for(model.lufs_predictor, args.clips)
    print(json.dumps(dev_check(model, classifier, pool), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
