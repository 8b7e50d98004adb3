"""Curve-following methods on the held-out set (issue 13: ``eval --methods none,shape,guide,guide+conform``).

Every take goes through the one use case (``takes.generate_takes``) with the clip's video, caption and
ground-truth curves (the V+T+GT row of Table 3), varying only ``follow_curves``:

- ``none``: the model's own conditioning (``follow_curves="off"``); ``shape``; ``guide``; ``shape+guide``;
- ``guide+conform`` (and ``none+conform``, ``shape+conform`` ...): the same take, then the exact conform (the
  last stage); AV-Align and class accuracy judge the conformed audio, which is what the user gets.
  ``none+conform`` shows what following the curve by gain alone costs in prompt accuracy.

Model variants of one model folder: ``frame`` (as loaded: the bundled model's frame-aligned LUFS path),
``nolufs`` (the same network sampled with its LUFS input dropped: what a model without loudness conditioning
does), and ``tokens`` (a tokens-only model folder, when given). Reported per variant and method: raw
adherence (LU, before conform), adherence after conform, AV-Align ratio against the ground-truth audio,
prompt-class accuracy (when an evaluation classifier exists), and wall time as a multiple of ``none``.

Motion curves are compared with T_LUFS's on the same clips: LU error against the ground-truth curves, and
the AV-Align of audio generated from each (the bundled model on its loudness input; the no-LUFS variant
guided).
Nothing here is tuned on the held-out set.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from triergon_studio.errors import StudioError

METHODS = (
    "none",
    "shape",
    "guide",
    "shape+guide",
    "none+conform",
    "guide+conform",
    "shape+conform",
    "shape+guide+conform",
)
VARIANTS = ("frame", "tokens", "nolufs")
SR = 44100
TARGETS = {
    "nolufs_guide_raw_lu": 2.0,
    "nolufs_guide_conform_lu": 0.3,
    "guide_time_ratio": 2.0,
    "prompt_acc_drop_points": 5.0,
}


class NoLufs:
    """A model whose LUFS input is dropped: conditioning sees no curves; everything else is the model's."""

    def __init__(self, model: Any) -> None:
        self._m = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)

    def condition(self, inputs: Any, settings: Any) -> Any:
        return self._m.condition(dataclasses.replace(inputs, curves=None), settings)


def _follow(method: str) -> str:
    core = method.replace("+conform", "")
    return "off" if core == "none" else core


def _spec(
    clip: Any,
    follow: str,
    seed: int,
    steps: int | None,
    extra: dict[str, float],
    curves: np.ndarray | None = None,
) -> Any:
    from fractions import Fraction

    from triergon_studio.core.curves import CurveSource, LoudnessCurve
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan, VideoSource
    from triergon_studio.video.probe import probe

    info = probe(clip.meta["video"])
    fps = Fraction(info.fps)
    dur = float(clip.meta["duration_s"])
    lr = clip.gt_curves if curves is None else curves
    source = CurveSource.MEASURED if curves is None else CurveSource.PREDICTED
    curve = LoudnessCurve(lr[0], lr[1], dur, 6.0, source)
    return TakeSpec(
        span=TimeSpan(0.0, min(dur, info.frame_count / float(fps))),
        video=VideoSource(clip.meta["video"], info.frame_count, fps.numerator, fps.denominator),
        text=str(clip.meta["caption"]),
        curves=curve,
        follow_curves=follow,
        seed=seed,
        steps=steps,
        extra=dict(extra),
    )


def _generate(model: Any, spec: Any) -> tuple[np.ndarray, float]:
    from triergon_studio.takes import generate_takes, run_to_end

    t0 = time.perf_counter()
    (take,) = run_to_end(generate_takes(spec, model))
    return np.asarray(take.audio, np.float32), time.perf_counter() - t0


def _conformed(audio: np.ndarray, target: np.ndarray) -> np.ndarray:
    from triergon_studio.audio.conform import conform_to_curve
    from triergon_studio.core.curves import CurveSource, LoudnessCurve

    curve = LoudnessCurve(target[0], target[1], len(audio) / SR, 6.0, CurveSource.DRAWN)
    return np.asarray(conform_to_curve(audio, SR, curve).audio)


def _mae(audio: np.ndarray, target: np.ndarray) -> float | None:
    from triergon_studio.audio.loudness import channel_curves
    from triergon_studio.training.eval.report import curve_mae

    e = curve_mae(target, np.asarray(channel_curves(audio, SR)))
    return None if e is None else float(np.nanmean(e))


def evaluate_methods(
    model: Any,
    clips: list[Any],
    methods: tuple[str, ...],
    variants: dict[str, Any],
    *,
    classifier: Any = None,
    steps: int | None = None,
    seed: int = 1234,
    extra: dict[str, float] | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """``variants`` maps a variant name to its model; returns the report (see ``methods_markdown``)."""
    from triergon_studio.training.eval.av_align import av_align

    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise StudioError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    gt_av = float(np.mean([av_align(c.gt_audio, SR, c.video_peaks, c.fps).score for c in clips]))
    labels = None
    if classifier is not None:
        from triergon_studio.training.corpus import CLASS_NAMES

        labels = np.array([CLASS_NAMES.index(c.meta["label"]) for c in clips])
    follows = sorted(
        {_follow(m) for m in methods}, key=lambda f: ("off", "shape", "guide", "shape+guide").index(f)
    )
    report: dict[str, Any] = {
        "clips": len(clips),
        "av_align_gt": round(gt_av, 4),
        "extra": dict(extra or {}),
        "variants": {},
    }
    for vname, vmodel in variants.items():
        takes: dict[str, list[np.ndarray]] = {}
        secs: dict[str, list[float]] = {}
        # clip by clip, every method in turn: a busy machine slows all methods alike, so the time ratios hold
        for i, c in enumerate(clips):
            for follow in follows:
                audio, dt = _generate(vmodel, _spec(c, follow, seed + i, steps, extra or {}))
                takes.setdefault(follow, []).append(audio)
                secs.setdefault(follow, []).append(dt)
                if log is not None:
                    log(f"{vname} {follow} clip {i}: {dt:.1f} s")
        rows: dict[str, Any] = {}
        conformed: dict[str, list[np.ndarray]] = {}
        for m in methods:
            follow = _follow(m)
            outs = takes[follow]
            if follow not in conformed:
                conformed[follow] = [_conformed(a, c.gt_curves) for a, c in zip(outs, clips, strict=True)]
            # a "+conform" method hands the user the conformed audio: that is what AV-Align and the class judge
            judged = conformed[follow] if m.endswith("+conform") else outs
            raw = [_mae(a, c.gt_curves) for a, c in zip(outs, clips, strict=True)]
            conf = [_mae(a, c.gt_curves) for a, c in zip(conformed[follow], clips, strict=True)]
            av = [av_align(a, SR, c.video_peaks, c.fps).score for a, c in zip(judged, clips, strict=True)]
            r: dict[str, Any] = {
                "raw_lu": round(float(np.nanmean([e for e in raw if e is not None])), 3),
                "conform_lu": round(float(np.nanmean([e for e in conf if e is not None])), 3),
                "av_align_ratio": round(float(np.mean(av)) / max(gt_av, 1e-9), 3),
                "seconds_mean": round(float(np.mean(secs[follow])), 2),
                "time_ratio": round(float(np.sum(secs[follow]) / max(np.sum(secs["off"]), 1e-9)), 2)
                if "off" in secs
                else None,
            }
            if classifier is not None and labels is not None:
                from triergon_studio.training.eval.classifier import predict_proba

                r["class_acc"] = round(
                    float((predict_proba(classifier, judged).argmax(1) == labels).mean()), 4
                )
            # "+conform" is the exact last stage: its adherence is the conformed one
            r["adherence_lu"] = r["conform_lu"] if m.endswith("+conform") else r["raw_lu"]
            rows[m] = r
        report["variants"][vname] = rows
    report["targets"] = _targets(report)
    return report


def adherence_floors(model: Any, clips: list[Any]) -> dict[str, Any]:
    """What raw adherence the set and the model's autoencoder allow: ``mono_lu``, the least error of a take
    whose L and R are equally loud (``report.mono_floor``), and ``autoencoder_lu``, the ground-truth audio
    through the model's own encoder and decoder (None for a model without an encoder). Guidance moves the
    latent, so it cannot do better than the decoder can make; a decoder that drops the L/R balance sits at the
    mono floor. ``autoencoder_av_align_ratio``: that round trip's AV-Align over the ground truth's, what the
    decoder keeps of the onsets (a reference, not a bound: a generated take can have cleaner onsets than a
    reconstruction; None without an encoder or when the ground truth scores 0)."""
    import torch

    from triergon_studio.training.eval.av_align import av_align
    from triergon_studio.training.eval.report import mono_floor

    mono = [mono_floor(c.gt_curves) for c in clips]
    out: dict[str, Any] = {"mono_lu": round(float(np.mean([e for e in mono if e is not None])), 3)}
    encode = getattr(model, "encode", None)
    if not callable(encode):
        out["autoencoder_lu"] = out["autoencoder_av_align_ratio"] = None
        return out
    errs, av_trip, av_gt = [], [], []
    for c in clips:
        x = torch.from_numpy(np.ascontiguousarray(c.gt_audio.T, dtype=np.float32))[None]
        x = x.to(getattr(model, "device", "cpu"))
        y = model.decode(encode(x))[0].float().cpu().numpy().T[: len(c.gt_audio)]
        errs.append(_mae(y, c.gt_curves))
        av_trip.append(av_align(y, SR, c.video_peaks, c.fps).score)
        av_gt.append(av_align(c.gt_audio, SR, c.video_peaks, c.fps).score)
    out["autoencoder_lu"] = round(float(np.nanmean([e for e in errs if e is not None])), 3)
    gt = float(np.mean(av_gt))
    out["autoencoder_av_align_ratio"] = round(float(np.mean(av_trip)) / gt, 3) if gt > 0 else None
    return out


# audio generated from predicted curves: the bundled model on its own loudness input, and a model without one
# steered by guidance (how a text-to-audio model becomes video-to-audio)
GENERATE_FROM_CURVES = (("frame", "off"), ("nolufs", "guide"))


def motion_vs_t_lufs(
    model: Any,
    clips: list[Any],
    variants: dict[str, Any] | None = None,
    *,
    seed: int = 1234,
    steps: int | None = None,
    extra: dict[str, float] | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """LU error against the ground-truth curves of the motion curves and of T_LUFS's prediction; with
    ``variants`` (as ``evaluate_methods``), also the AV-Align ratio of audio generated from each."""
    from triergon_studio.training.eval.av_align import av_align
    from triergon_studio.training.eval.report import curve_mae
    from triergon_studio.video.motion import analyse_motion

    has_t_lufs = bool(getattr(model.info.capabilities, "lufs_predictor", False))
    runs = [(v, f) for v, f in GENERATE_FROM_CURVES if variants and v in variants]
    errors: dict[str, list[float]] = {"motion": [], "t_lufs": []}
    av: dict[str, list[float]] = {}
    gt_av: list[float] = []
    for i, c in enumerate(clips):
        m = analyse_motion(c.meta["video"]).curve
        predicted = {"motion": np.stack([m.left, m.right])}
        if has_t_lufs:
            p = model.predict_curves(c.meta["video"])
            predicted["t_lufs"] = np.stack([p.left, p.right])
        for name, curve in predicted.items():
            e = curve_mae(c.gt_curves, curve)
            if e is not None:
                errors[name].append(float(np.nanmean(e)))
        if not runs:
            continue
        gt_av.append(av_align(c.gt_audio, SR, c.video_peaks, c.fps).score)
        for v, follow in runs:
            assert variants is not None
            for name, curve in predicted.items():
                audio, dt = _generate(variants[v], _spec(c, follow, seed + i, steps, extra or {}, curve))
                av.setdefault(f"{v}/{follow}/{name}", []).append(
                    av_align(audio, SR, c.video_peaks, c.fps).score
                )
                if log is not None:
                    log(f"{v} {follow} from {name} curves, clip {i}: {dt:.1f} s")
    out: dict[str, Any] = {
        "motion_lu": round(float(np.mean(errors["motion"])), 3) if errors["motion"] else None,
        "t_lufs_lu": round(float(np.mean(errors["t_lufs"])), 3) if errors["t_lufs"] else None,
        "clips": len(clips),
    }
    if av:
        ref = max(float(np.mean(gt_av)), 1e-9)
        out["av_align_ratio"] = {k: round(float(np.mean(x)) / ref, 3) for k, x in av.items()}
    return out


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nl = report["variants"].get("nolufs", {})

    def put(name: str, value: float | None, goal: float) -> None:
        out[name] = {"target": goal, "measured": value, "met": None if value is None else bool(value <= goal)}

    put("nolufs_guide_raw_lu", nl.get("guide", {}).get("raw_lu"), TARGETS["nolufs_guide_raw_lu"])
    put(
        "nolufs_guide_conform_lu",
        nl.get("guide+conform", nl.get("guide", {})).get("conform_lu"),
        TARGETS["nolufs_guide_conform_lu"],
    )
    ratios = [
        rows["guide"]["time_ratio"]
        for rows in report["variants"].values()
        if "guide" in rows and rows["guide"].get("time_ratio") is not None
    ]
    put("guide_time_ratio", max(ratios) if ratios else None, TARGETS["guide_time_ratio"])
    drops = [
        100 * (rows["none"]["class_acc"] - rows["guide"]["class_acc"])
        for rows in report["variants"].values()
        if "class_acc" in rows.get("none", {}) and "class_acc" in rows.get("guide", {})
    ]
    put("prompt_acc_drop_points", round(max(drops), 1) if drops else None, TARGETS["prompt_acc_drop_points"])
    return out


MANIFEST_ROW_KEYS = ("raw_lu", "conform_lu", "av_align_ratio", "class_acc", "time_ratio")


def manifest_rows(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """A methods report's rows as a bundle's manifest records them: ``variant/method`` -> its figures."""
    return {
        f"{v}/{m}": {k: r[k] for k in MANIFEST_ROW_KEYS if k in r}
        for v, rows in report["variants"].items()
        for m, r in rows.items()
    }


def methods_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Held-out clips: {report['clips']} (first {report['clips']} of the set); ground-truth AV-Align "
        f"{report['av_align_gt']}; guidance settings {report.get('extra') or 'defaults'}"
        + "".join(f"; {v}'s own {g}" for v, g in report.get("model_guide", {}).items() if g),
        "",
        "| model | method | raw LU | after conform LU | AV-Align ratio | class acc | time vs none |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for v, rows in report["variants"].items():
        for m, r in rows.items():
            acc = f"{r['class_acc']:.1%}" if "class_acc" in r else "n/a"
            tr = f"{r['time_ratio']:.2f}x" if r.get("time_ratio") is not None else "-"
            lines.append(
                f"| {v} | {m} | {r['raw_lu']:.2f} | {r['conform_lu']:.2f} | {r['av_align_ratio']:.2f} | "
                f"{acc} | {tr} |"
            )
    if "floors" in report:
        fl = report["floors"]
        lines += [
            "",
            f"Floors of raw adherence on these clips: a take with L and R equally loud {fl['mono_lu']} LU; "
            f"the ground truth through the model's autoencoder {fl['autoencoder_lu']} LU "
            f"(its AV-Align ratio {fl.get('autoencoder_av_align_ratio')})",
        ]
    if "motion" in report:
        mv = report["motion"]
        lines += [
            "",
            f"Curves vs ground truth ({mv['clips']} clips): motion {mv['motion_lu']} LU, "
            f"T_LUFS {mv['t_lufs_lu']} LU",
        ]
        for key, ratio in mv.get("av_align_ratio", {}).items():
            v, follow, source = key.split("/")
            lines.append(f"AV-Align ratio of {v} ({follow}) generated from {source} curves: {ratio}")
    for what, why in report.get("not_measured", {}).items():
        lines.append(f"Not measured: {what}: {why}")
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, t in report.get("targets", {}).items():
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "NO")
        lines.append(f"| {name} | <= {t['target']} | {t['measured']} | {met} |")
    return "\n".join(lines)


def run_methods_eval(
    model_dir: str,
    *,
    heldout_dir: str,
    n_clips: int,
    methods: list[str],
    variants: list[str],
    steps: int | None,
    tokens_model: str | None = None,
    classifier_path: str | None = None,
    extra: dict[str, float] | None = None,
    motion: bool = True,
    log: Any = None,
) -> dict[str, Any]:
    """The ``eval --methods`` entry point: load, build the variants, evaluate, compare motion curves."""
    import torch

    from triergon_studio.takes import load_model
    from triergon_studio.training.eval.report import load_clips

    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise StudioError(f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    model = load_model(model_dir)
    models: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for v in variants:
        if v == "frame":
            models[v] = model
        elif v == "nolufs":
            models[v] = NoLufs(model)
        elif tokens_model:
            models[v] = load_model(tokens_model)
        else:
            missing[v] = "no tokens-only model folder given (--tokens-model); none is bundled"
    classifier = None
    if classifier_path and Path(classifier_path).exists():
        from triergon_studio.training.eval.classifier import load_classifier

        classifier = load_classifier(Path(classifier_path))[0]
    clips = load_clips(Path(heldout_dir), n_clips)
    with torch.inference_mode():
        report = evaluate_methods(
            model, clips, tuple(methods), models, classifier=classifier, steps=steps, extra=extra, log=log
        )
        report["floors"] = adherence_floors(model, clips)
        # each model's own guidance knobs (config sampling.guide), under ``extra``
        report["model_guide"] = {v: dict(m.info.defaults.guide) for v, m in models.items()}
        if motion:
            report["motion"] = motion_vs_t_lufs(model, clips, models, steps=steps, extra=extra, log=log)
    report["not_measured"] = missing | (
        {}
        if classifier is not None
        else {
            "class_acc": "no evaluation classifier (the model folder's eval_classifier.safetensors or "
            "--classifier; `reproduce --steps pool,classifier` builds one)"
        }
    )
    return report
