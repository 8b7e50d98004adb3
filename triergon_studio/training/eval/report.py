"""The held-out evaluation: the paper's Table 3 rows, LUFS adherence, AV-Align, prompt fidelity and T_LUFS.

Rows (prompts given to the model; every row generates each clip once with the same seed):
- ``T``: text only (the prompt-accuracy target);
- ``V``: video only; ``V+T``; ``V+T+A`` (the clip's own audio as reference, the paper's ground-truth e_A);
- ``V+T+pred``: with T_LUFS's predicted curves; ``V+T+GT``: with the ground-truth curves.

LUFS adherence: MAE (LU) per channel between the conditioning curve and the 6 Hz curve measured on the output,
over frames where the target is above -60 LUFS, raw and after ``audio.conform``. Rows without a curve are
compared with the ground-truth curve for reference only. AV-Align compares output onsets with the clip's
optical-flow peaks, against the ground-truth audio's score. Nothing here is tuned on the held-out set.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.training.eval.results import (
    ROWS,
    ChannelMAE,
    EvalReport,
    Reference,
    RowResult,
    compute_targets,
    lufs_mode_comparison,
    to_markdown,
)

__all__ = [
    "ROWS",
    "Clip",
    "EvalReport",
    "curve_mae",
    "evaluate",
    "evaluate_and_record",
    "evaluate_model_dir",
    "generate_one",
    "load_clips",
    "to_markdown",
]

AUDIBLE = -60.0
SR = 44100


@dataclass
class Clip:
    meta: dict[str, Any]
    gt_audio: np.ndarray
    gt_curves: np.ndarray  # [2, F] LUFS
    video_peaks: np.ndarray
    fps: float


def curve_mae(target: np.ndarray, measured: np.ndarray) -> np.ndarray | None:
    """Per-channel MAE (LU) over frames where the target is audible; None when no frame is."""
    n = min(target.shape[1], measured.shape[1])
    t, m = target[:, :n], measured[:, :n]
    out = []
    for ch in range(2):
        sel = t[ch] > AUDIBLE
        out.append(float(np.abs(t[ch, sel] - m[ch, sel]).mean()) if sel.any() else np.nan)
    return None if np.all(np.isnan(out)) else np.array(out)


def mono_floor(target: np.ndarray) -> float | None:
    """The least raw error (``curve_mae``, averaged over the channels) of any take whose left and right are
    equally loud in every curve frame: where both targets are audible the best such level lies between them
    and each channel is off by half their difference; where one is, it matches that one."""
    t = np.asarray(target, dtype=np.float64)
    aud = t > AUDIBLE
    level = np.where(aud.all(0), t.mean(0), np.where(aud[0], t[0], t[1]))
    e = curve_mae(t, np.stack([level, level]))
    return None if e is None else float(np.nanmean(e))


def load_clips(heldout_dir: Path, n: int) -> list[Clip]:
    import soundfile as sf

    from triergon_studio.training.corpus.heldout import load_heldout, write_heldout
    from triergon_studio.training.eval.av_align import flow_trajectory, read_video_frames, video_peaks

    if not (heldout_dir / "heldout.json").exists():
        write_heldout(heldout_dir, n)
    clips: list[Clip] = []
    entries: list[dict[str, Any]] = list(load_heldout(heldout_dir)[:n])
    for meta in entries:
        audio, sr = sf.read(meta["video"].replace(".mp4", ".wav"), dtype="float32")
        cache = Path(meta["video"]).with_suffix(".peaks.json")
        if cache.exists():
            vp_info = json.loads(cache.read_text())
        else:
            frames, fps = read_video_frames(meta["video"])
            vp_info = {"peaks": video_peaks(flow_trajectory(frames), fps).tolist(), "fps": fps}
            cache.write_text(json.dumps(vp_info))
        curves = np.array([meta["curves"]["left"], meta["curves"]["right"]], dtype=np.float64)
        clips.append(Clip(meta, audio, curves, np.array(vp_info["peaks"]), float(vp_info["fps"])))
    return clips


def generate_one(model: Any, clip: Clip, row: str, steps: int | None, seed: int) -> np.ndarray:
    """Run the one use case (in memory) for one clip and one row; returns the audio [N, 2]."""
    from triergon_studio.core.curves import CurveSource, LoudnessCurve
    from triergon_studio.core.take_spec import AudioClip, TakeSpec, TimeSpan, VideoSource
    from triergon_studio.takes import generate_takes, run_to_end
    from triergon_studio.video.probe import probe

    parts = row.split("+")
    video = VideoSource.from_probe(probe(clip.meta["video"]))
    curves = None
    if row == "V+T+GT":
        curves = LoudnessCurve(
            clip.gt_curves[0], clip.gt_curves[1], video.duration_s, source=CurveSource.MEASURED
        )
    spec = TakeSpec(
        span=TimeSpan(0.0, video.duration_s),
        video=video,
        use_video=row.startswith("V"),
        text=str(clip.meta["caption"]) if "T" in parts else "",
        reference=AudioClip(clip.meta["video"].replace(".mp4", ".wav")) if row == "V+T+A" else None,
        curves=curves,
        curve_method="t_lufs" if row == "V+T+pred" else None,
        steps=steps,
        seed=seed,
    )
    (take,) = run_to_end(generate_takes(spec, _as_family(model)))
    return np.asarray(take.audio, dtype=np.float32)


def _as_family(model: Any) -> Any:
    """A bare ``TriErgon`` network (training code) behind the family protocol."""
    from triergon_studio.engine.families.triergon import TriErgonModel

    return model if hasattr(model, "info") else TriErgonModel(model)


def predicted_curves(model: Any, clip: Clip) -> np.ndarray:
    """The model's T_LUFS curves [2, F] for the clip's video, read as the app reads them."""
    return video_curves(model.lufs_predictor, clip.meta["video"])


def video_curves(predictor: Any, video: str | Path) -> np.ndarray:
    """T_LUFS's [2, F] curves for a video file through the app's own path (``predict_curves_for_video``:
    frames decoded straight to the predictor's input size). Decoding to 224 px and letting the predictor scale
    them down again, as the evaluation did until session 30, measured 5.78 LU on 36 dev clips against 5.58
    for the app's path (rendered frames: 5.56)."""
    from triergon_studio.engine.models.lufs_predictor import predict_curves_for_video

    curve = predict_curves_for_video(video, predictor)
    return np.stack([np.asarray(curve.left, np.float64), np.asarray(curve.right, np.float64)])


def evaluate(
    model: Any,
    clips: list[Clip],
    classifier: Any,
    rows: tuple[str, ...] = ROWS,
    steps: int | None = None,
    seed: int = 1234,
) -> EvalReport:
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.core.curves import CurveSource, LoudnessCurve
    from triergon_studio.training.corpus import CLASS_NAMES
    from triergon_studio.training.eval.av_align import av_align
    from triergon_studio.training.eval.classifier import kl_divergence, predict_proba

    labels = np.array([CLASS_NAMES.index(c.meta["label"]) for c in clips])
    held = np.array([bool(c.meta["caption_heldout"]) for c in clips])
    gt_av = np.array([av_align(c.gt_audio, SR, c.video_peaks, c.fps).score for c in clips])
    p_ref = predict_proba(classifier, [c.gt_audio for c in clips])
    report = EvalReport(
        len(clips),
        Reference(
            av_align_gt=round(float(gt_av.mean()), 4),
            classifier_acc_on_gt_audio=round(float((p_ref.argmax(1) == labels).mean()), 4),
        ),
    )
    pred_curves = {i: predicted_curves(model, c) for i, c in enumerate(clips)} if model.lufs_predictor else {}
    if pred_curves:
        maes = [curve_mae(c.gt_curves, pred_curves[i]) for i, c in enumerate(clips)]
        errs = [e for e in maes if e is not None]
        report.t_lufs_mae = round(float(np.nanmean(np.stack(errs))), 3)
    for row in rows:
        t0 = time.perf_counter()
        outs, raw_err, conf_err, gt_err, av = [], [], [], [], []
        for i, c in enumerate(clips):
            if row == "V+T+pred" and model.lufs_predictor is None:
                break
            audio = generate_one(model, c, row, steps, seed + i)
            # the pipeline predicts exactly these curves (same frames, same network)
            cond_curve = c.gt_curves if row == "V+T+GT" else pred_curves.get(i) if row == "V+T+pred" else None
            outs.append(audio)
            measured = np.asarray(channel_curves(audio, SR))
            av.append(av_align(audio, SR, c.video_peaks, c.fps).score)
            e = curve_mae(c.gt_curves, measured)
            if e is not None:
                gt_err.append(e)
            if cond_curve is not None:
                e = curve_mae(cond_curve, measured)
                if e is not None:
                    raw_err.append(e)
                target = LoudnessCurve(cond_curve[0], cond_curve[1], len(audio) / SR, 6.0, CurveSource.DRAWN)
                conformed = conform_to_curve(audio, SR, target).audio
                e2 = curve_mae(cond_curve, np.asarray(channel_curves(conformed, SR)))
                if e2 is not None:
                    conf_err.append(e2)
        if not outs:
            continue
        p_gen = predict_proba(classifier, outs)
        hit = p_gen.argmax(1) == labels[: len(outs)]
        report.rows[row] = RowResult(
            class_acc=round(float(hit.mean()), 4),
            class_acc_train_captions=round(float(hit[~held[: len(outs)]].mean()), 4),
            class_acc_heldout_captions=round(float(hit[held[: len(outs)]].mean()), 4),
            kl_ref_gen=round(float(kl_divergence(p_ref[: len(outs)], p_gen).mean()), 4),
            av_align=round(float(np.mean(av)), 4),
            av_align_ratio=round(float(np.mean(av) / max(gt_av.mean(), 1e-9)), 4),
            lufs_mae_vs_gt=_lr(gt_err),
            seconds=round(time.perf_counter() - t0, 1),
            lufs_mae_raw=_lr(raw_err) if raw_err else None,
            lufs_mae_conform=_lr(conf_err) if raw_err else None,
        )
    report.targets = compute_targets(report)
    return report


def _lr(errs: list[np.ndarray]) -> ChannelMAE:
    arr = np.stack(errs)
    left, right = np.nanmean(arr[:, 0]), np.nanmean(arr[:, 1])
    return ChannelMAE(round(float(left), 3), round(float(right), 3), round(float((left + right) / 2), 3))


def bundled_classifier(model_dir: Path) -> Path:
    """The classifier a model folder carries, which its manifest must cover like every other file."""
    from triergon_studio.engine.checkpoint_io import verify_sha256
    from triergon_studio.engine.weights import MANIFEST_FILE, read_manifest
    from triergon_studio.errors import StudioError

    for name in ("eval_classifier.safetensors", "eval_classifier.pt"):
        path = Path(model_dir) / name
        if path.exists():
            if not (Path(model_dir) / MANIFEST_FILE).exists():
                return path
            entry = (read_manifest(model_dir).get("files") or {}).get(name)
            if not isinstance(entry, dict) or "sha256" not in entry:
                raise StudioError(
                    "is not covered by the model folder's manifest (no checksum); refusing it", path
                )
            verify_sha256(path, str(entry["sha256"]))
            return path
    return Path(model_dir) / "eval_classifier.safetensors"


def evaluate_model_dir(
    model_dir: str | Path,
    *,
    heldout_dir: str | Path,
    classifier_path: str | Path,
    n_clips: int = 36,
    steps: int | None = None,
    rows: list[str] | None = None,
) -> EvalReport:
    """Evaluate a model folder. ``heldout_dir``: the held-out set (written there first if the folder has none);
    ``classifier_path``: the evaluation classifier (``reproduce --steps pool,classifier`` makes one)."""
    import torch

    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.classifier import load_classifier

    bad = [r for r in (rows or []) if r not in ROWS]
    if bad:
        raise StudioError(f"unknown Table 3 row(s) {bad}; choose from {', '.join(ROWS)}")
    if not Path(model_dir).is_dir():
        raise StudioError("model folder not found", model_dir)
    clf_path = Path(classifier_path)
    if not clf_path.is_file():
        raise StudioError(
            "no evaluation classifier here (eval --classifier FILE; `python -m triergon_studio."
            "training.reproduce --steps pool,classifier` writes WORK/classifier.safetensors)",
            clf_path,
        )
    model = load_model_dir(Path(model_dir))
    classifier, _ = load_classifier(clf_path)
    with torch.inference_mode():
        return evaluate(
            model, load_clips(Path(heldout_dir), n_clips), classifier, tuple(rows) if rows else ROWS, steps
        )


def compare_lufs_paths(
    report: EvalReport,
    model_dir: Path,
    mode: str,
    other_dir: Path,
    other_mode: str,
    heldout_dir: Path,
    n_clips: int,
    classifier_path: Path,
) -> None:
    """Adherence with ground-truth curves of a second model that differs only in its DiT's LUFS path."""
    other = evaluate_model_dir(
        other_dir, heldout_dir=heldout_dir, n_clips=n_clips, rows=["V+T+GT"], classifier_path=classifier_path
    )
    report.lufs_mode_comparison = lufs_mode_comparison(
        _gt_row(report, model_dir), mode, model_dir, _gt_row(other, other_dir), other_mode, other_dir
    )


def _gt_row(report: EvalReport, model_dir: Path) -> RowResult:
    from triergon_studio.errors import StudioError

    row = report.row("V+T+GT")
    if row is None:
        raise StudioError("the evaluation has no V+T+GT row to compare", model_dir)
    return row


def evaluate_and_record(
    model_dir: Path, work: Path, heldout_dir: Path, n_clips: int, compare: Path | None = None, jobs: int = 1
) -> dict[str, Any]:
    """Evaluate the bundled model and write the figures into its manifest (rewritten atomically).
    ``jobs`` > 1 splits the rows over that many one-thread processes (same figures, less wall time)."""
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.eval.classifier import work_classifier
    from triergon_studio.training.fileio import atomic_write_json, atomic_write_text

    if jobs > 1:
        from triergon_studio.training.eval.parallel import evaluate_parallel

        report = evaluate_parallel(model_dir, work, heldout_dir, n_clips, jobs, compare)
        compare = None  # compared above
    else:
        report = evaluate_model_dir(
            model_dir, heldout_dir=heldout_dir, n_clips=n_clips, classifier_path=work_classifier(work)
        )
    if compare is not None:
        mode = ModelConfig.from_json(model_dir / "config.json").dit.lufs_mode
        other_mode = ModelConfig.from_json(compare / "config.json").dit.lufs_mode
        compare_lufs_paths(
            report, model_dir, mode, compare, other_mode, heldout_dir, n_clips, work_classifier(work)
        )
    data = report.to_dict()
    atomic_write_json(work / "eval.json", data)
    atomic_write_text(work / "eval.md", to_markdown(report) + "\n")
    man_path = model_dir / "manifest.json"
    manifest = json.loads(man_path.read_text())
    manifest["eval"] = data
    atomic_write_json(man_path, manifest)
    return {"eval": str(work / "eval.json"), "targets": data["targets"]}
