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

ROWS = ("T", "V", "V+T", "V+T+A", "V+T+pred", "V+T+GT")
TARGETS = {"lufs_mae_raw_gt": 1.5, "lufs_mae_conform_gt": 0.5, "class_acc_text": 0.8, "av_align_ratio": 0.8,
           "t_lufs_mae": 3.0}
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


def load_clips(heldout_dir: Path, n: int) -> list[Clip]:
    import soundfile as sf

    from triergon_studio.training.corpus.heldout import load_heldout, write_heldout
    from triergon_studio.training.eval.av_align import flow_trajectory, read_video_frames, video_peaks

    if not (heldout_dir / "heldout.json").exists():
        write_heldout(heldout_dir, n)
    clips: list[Clip] = []
    for meta in load_heldout(heldout_dir)[:n]:
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
        curves = LoudnessCurve(clip.gt_curves[0], clip.gt_curves[1], video.duration_s, source=CurveSource.MEASURED)
    spec = TakeSpec(
        span=TimeSpan(0.0, video.duration_s), video=video, use_video=row.startswith("V"),
        text=str(clip.meta["caption"]) if "T" in parts else "",
        reference=AudioClip(clip.meta["video"].replace(".mp4", ".wav")) if row == "V+T+A" else None,
        curves=curves, curve_method="t_lufs" if row == "V+T+pred" else None, steps=steps, seed=seed,
    )
    (take,) = run_to_end(generate_takes(spec, _as_family(model)))
    return np.asarray(take.audio, dtype=np.float32)


def _as_family(model: Any) -> Any:
    """A bare ``TriErgon`` network (training code) behind the family protocol."""
    from triergon_studio.engine.families.triergon import TriErgonModel

    return model if hasattr(model, "info") else TriErgonModel(model)


def predicted_curves(model: Any, clip: Clip) -> np.ndarray:
    from triergon_studio.video.sampling import sample_frames_6fps

    frames = sample_frames_6fps(clip.meta["video"], size=(224, 224))
    return np.asarray(model.lufs_predictor.predict_curves(frames).double().cpu())


def evaluate(model: Any, clips: list[Clip], classifier: Any, rows: tuple[str, ...] = ROWS, steps: int | None = None,
             seed: int = 1234) -> dict[str, Any]:
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
    report: dict[str, Any] = {"clips": len(clips), "rows": {}, "reference": {
        "av_align_gt": round(float(gt_av.mean()), 4),
        "classifier_acc_on_gt_audio": round(float((p_ref.argmax(1) == labels).mean()), 4)}}
    pred_curves = {i: predicted_curves(model, c) for i, c in enumerate(clips)} if model.lufs_predictor else {}
    if pred_curves:
        errs = [curve_mae(c.gt_curves, pred_curves[i]) for i, c in enumerate(clips)]
        errs = [e for e in errs if e is not None]
        report["t_lufs_mae"] = round(float(np.nanmean(np.stack(errs))), 3)
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
        r: dict[str, Any] = {
            "class_acc": round(float(hit.mean()), 4),
            "class_acc_train_captions": round(float(hit[~held[: len(outs)]].mean()), 4),
            "class_acc_heldout_captions": round(float(hit[held[: len(outs)]].mean()), 4),
            "kl_ref_gen": round(float(kl_divergence(p_ref[: len(outs)], p_gen).mean()), 4),
            "av_align": round(float(np.mean(av)), 4),
            "av_align_ratio": round(float(np.mean(av) / max(gt_av.mean(), 1e-9)), 4),
            "lufs_mae_vs_gt": _lr(gt_err),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if raw_err:
            r["lufs_mae_raw"] = _lr(raw_err)
            r["lufs_mae_conform"] = _lr(conf_err)
        report["rows"][row] = r
    report["targets"] = targets(report)
    return report


def _lr(errs: list[np.ndarray]) -> dict[str, float]:
    arr = np.stack(errs)
    left, right = np.nanmean(arr[:, 0]), np.nanmean(arr[:, 1])
    return {"left": round(float(left), 3), "right": round(float(right), 3), "mean": round(float((left + right) / 2), 3)}


def targets(report: dict[str, Any]) -> dict[str, Any]:
    rows = report["rows"]
    out: dict[str, Any] = {}

    def check(name: str, value: float | None, goal: float, higher: bool) -> None:
        if value is None:
            out[name] = {"target": goal, "measured": None, "met": False, "note": "not measured"}
            return
        met = value >= goal if higher else value <= goal
        out[name] = {"target": goal, "measured": value, "met": bool(met)}

    gt = rows.get("V+T+GT", {})
    check("lufs_mae_raw_gt", gt.get("lufs_mae_raw", {}).get("mean"), TARGETS["lufs_mae_raw_gt"], False)
    check("lufs_mae_conform_gt", gt.get("lufs_mae_conform", {}).get("mean"), TARGETS["lufs_mae_conform_gt"], False)
    t = rows.get("T", {})
    check("class_acc_text", t.get("class_acc"), TARGETS["class_acc_text"], True)
    check("class_acc_text_heldout_captions", t.get("class_acc_heldout_captions"), TARGETS["class_acc_text"], True)
    best_av = max((r.get("av_align_ratio", 0.0) for k, r in rows.items() if k.startswith("V")), default=None)
    check("av_align_ratio", gt.get("av_align_ratio", best_av), TARGETS["av_align_ratio"], True)
    check("t_lufs_mae", report.get("t_lufs_mae"), TARGETS["t_lufs_mae"], False)
    return out


def _pair(v: dict[str, float] | None) -> str:
    return f"{v['left']:.2f} / {v['right']:.2f}" if v else "-"


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"Held-out clips: {report['clips']}; ground-truth AV-Align {report['reference']['av_align_gt']}; "
             f"classifier on ground-truth audio {report['reference']['classifier_acc_on_gt_audio']:.1%}", ""]
    lines.append("| row | class acc | acc (held-out captions) | KL(ref||gen) | AV-Align | AV ratio | "
                 "LUFS MAE raw L/R | after conform L/R | vs GT curve |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for row, r in report["rows"].items():
        raw, conf = _pair(r.get("lufs_mae_raw")), _pair(r.get("lufs_mae_conform"))
        lines.append(
            f"| {row} | {r['class_acc']:.1%} | {r['class_acc_heldout_captions']:.1%} | {r['kl_ref_gen']:.3f} | "
            f"{r['av_align']:.3f} | {r['av_align_ratio']:.2f} | {raw} | {conf} | {r['lufs_mae_vs_gt']['mean']:.2f} |")
    if "t_lufs_mae" in report:
        lines += ["", f"T_LUFS error on held-out videos: {report['t_lufs_mae']:.2f} LU (frames above -60 LUFS)"]
    if "lufs_mode_comparison" in report:
        lines += ["", "| LUFS path | MAE raw (GT curves) | after conform |", "|---|---|---|"]
        for mode, v in report["lufs_mode_comparison"].items():
            lines.append(f"| {mode} | {v['raw']:.2f} | {v['conform']:.2f} |")
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, t in report.get("targets", {}).items():
        lines.append(f"| {name} | {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


def evaluate_model_dir(model_dir: str | Path, *, heldout_dir: str | Path | None = None, n_clips: int = 36,
                       steps: int | None = None, rows: list[str] | None = None,
                       classifier_path: str | Path | None = None) -> dict[str, Any]:
    import torch

    from triergon_studio.engine.weights import load_model_dir
    from triergon_studio.errors import StudioError
    from triergon_studio.training.eval.classifier import load_classifier, train_classifier

    model_dir = Path(model_dir)
    model = load_model_dir(model_dir)
    model = model[0] if isinstance(model, tuple) else model
    hd = Path(heldout_dir) if heldout_dir else Path("runs/heldout")
    clf_path = Path(classifier_path) if classifier_path else model_dir / "eval_classifier.pt"
    if not clf_path.exists():
        fallback = Path("runs/compact/classifier.pt")
        if fallback.exists():
            clf_path = fallback
        else:
            raise StudioError("no evaluation classifier: run `python -m triergon_studio.training.reproduce "
                              "--steps pool,classifier`", clf_path)
    del train_classifier
    classifier, _ = load_classifier(clf_path)
    bad = [r for r in (rows or []) if r not in ROWS]
    if bad:
        raise StudioError(f"unknown Table 3 row(s) {bad}; choose from {', '.join(ROWS)}")
    with torch.inference_mode():
        return evaluate(model, load_clips(hd, n_clips), classifier, tuple(rows) if rows else ROWS, steps)


def lufs_mode_comparison(mine: dict[str, Any], mode: str, model_dir: Path, theirs: dict[str, Any], other_mode: str,
                         other_dir: Path) -> dict[str, Any]:
    """The two models' V+T+GT rows side by side (they differ only in the DiT's LUFS path)."""
    return {
        mode: {"raw": mine["lufs_mae_raw"]["mean"], "conform": mine["lufs_mae_conform"]["mean"],
               "class_acc": mine["class_acc"], "model": str(model_dir)},
        other_mode: {"raw": theirs["lufs_mae_raw"]["mean"], "conform": theirs["lufs_mae_conform"]["mean"],
                     "class_acc": theirs["class_acc"], "model": str(other_dir)},
    }


def compare_lufs_paths(report: dict[str, Any], model_dir: Path, mode: str, other_dir: Path, other_mode: str,
                       heldout_dir: Path, n_clips: int, classifier_path: Path) -> None:
    """Adherence with ground-truth curves of a second model that differs only in its DiT's LUFS path."""
    other = evaluate_model_dir(other_dir, heldout_dir=heldout_dir, n_clips=n_clips, rows=["V+T+GT"],
                               classifier_path=classifier_path)
    report["lufs_mode_comparison"] = lufs_mode_comparison(report["rows"]["V+T+GT"], mode, model_dir,
                                                          other["rows"]["V+T+GT"], other_mode, other_dir)


def evaluate_and_record(model_dir: Path, work: Path, heldout_dir: Path, n_clips: int,
                        compare: Path | None = None, jobs: int = 1) -> dict[str, Any]:
    """Evaluate the bundled model and write the figures into its manifest (rewritten atomically).
    ``jobs`` > 1 splits the rows over that many one-thread processes (same figures, less wall time)."""
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.fileio import atomic_write_json, atomic_write_text

    if jobs > 1:
        from triergon_studio.training.eval.parallel import evaluate_parallel

        report = evaluate_parallel(model_dir, work, heldout_dir, n_clips, jobs, compare)
        compare = None  # compared above
    else:
        report = evaluate_model_dir(model_dir, heldout_dir=heldout_dir, n_clips=n_clips,
                                    classifier_path=work / "classifier.pt")
    if compare is not None:
        mode = ModelConfig.from_json(model_dir / "config.json").dit.lufs_mode
        other_mode = ModelConfig.from_json(compare / "config.json").dit.lufs_mode
        compare_lufs_paths(report, model_dir, mode, compare, other_mode, heldout_dir, n_clips,
                           work / "classifier.pt")
    atomic_write_json(work / "eval.json", report)
    atomic_write_text(work / "eval.md", to_markdown(report) + "\n")
    man_path = model_dir / "manifest.json"
    manifest = json.loads(man_path.read_text())
    manifest["eval"] = report
    atomic_write_json(man_path, manifest)
    return {"eval": str(work / "eval.json"), "targets": report["targets"]}
