"""The evaluation report as typed objects: per-row results, the targets (goal, measured figure, met) and the
LUFS-path comparison, with the JSON form that ``eval --json`` prints and the model manifest keeps.

Plain Python (no torch, no numpy), imported by ``report.py`` (which measures) and ``parallel.py`` (which
merges the parts of a split run); neither imports the other's results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triergon_studio.errors import StudioError

ROWS = ("T", "V", "V+T", "V+T+A", "V+T+pred", "V+T+GT")
TARGETS = {  # the held-out targets of the bundled model v2 (issue 17); v1's were 1.5, 0.5, 0.8, 0.8, 3.0
    "lufs_mae_raw_gt": 2.0,
    "lufs_mae_conform_gt": 0.3,
    "class_acc_text": 0.7,
    "av_align_ratio": 0.9,
    "t_lufs_mae": 4.0,
}

Source = str | Path | None


def _fields(
    data: Any, what: str, required: tuple[str, ...], optional: tuple[str, ...], source: Source
) -> None:
    if not isinstance(data, dict):
        raise StudioError(f"evaluation report: {what} must be an object", source)
    missing = [k for k in required if k not in data]
    unknown = sorted(set(data) - set(required) - set(optional))
    if missing or unknown:
        raise StudioError(
            f"evaluation report: {what} has missing {missing} / unknown {unknown} fields", source
        )


def _num(value: Any, what: str, source: Source) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StudioError(f"evaluation report: {what} must be a number, got {value!r}", source)
    return float(value)


@dataclass(frozen=True)
class ChannelMAE:
    """A LUFS mean absolute error (LU) per channel and their mean."""

    left: float
    right: float
    mean: float

    def to_dict(self) -> dict[str, float]:
        return {"left": self.left, "right": self.right, "mean": self.mean}

    @classmethod
    def from_dict(cls, data: Any, what: str, source: Source = None) -> ChannelMAE:
        _fields(data, what, ("left", "right", "mean"), (), source)
        return cls(*(_num(data[k], f"{what}.{k}", source) for k in ("left", "right", "mean")))


@dataclass(frozen=True)
class RowResult:
    """One Table 3 row over all clips. ``lufs_mae_raw`` / ``lufs_mae_conform``: only for rows with a curve."""

    class_acc: float
    class_acc_train_captions: float
    class_acc_heldout_captions: float
    kl_ref_gen: float
    av_align: float
    av_align_ratio: float
    lufs_mae_vs_gt: ChannelMAE
    seconds: float
    lufs_mae_raw: ChannelMAE | None = None
    lufs_mae_conform: ChannelMAE | None = None

    _SCALARS = (
        "class_acc",
        "class_acc_train_captions",
        "class_acc_heldout_captions",
        "kl_ref_gen",
        "av_align",
        "av_align_ratio",
    )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self._SCALARS}
        out["lufs_mae_vs_gt"] = self.lufs_mae_vs_gt.to_dict()
        out["seconds"] = self.seconds
        if self.lufs_mae_raw is not None:
            out["lufs_mae_raw"] = self.lufs_mae_raw.to_dict()
        if self.lufs_mae_conform is not None:
            out["lufs_mae_conform"] = self.lufs_mae_conform.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, what: str, source: Source = None) -> RowResult:
        _fields(
            data,
            what,
            (*cls._SCALARS, "lufs_mae_vs_gt", "seconds"),
            ("lufs_mae_raw", "lufs_mae_conform"),
            source,
        )

        def num(key: str) -> float:
            return _num(data[key], f"{what}.{key}", source)

        def pair(key: str) -> ChannelMAE | None:
            return None if data.get(key) is None else ChannelMAE.from_dict(data[key], f"{what}.{key}", source)

        vs_gt = pair("lufs_mae_vs_gt")
        assert vs_gt is not None  # required above
        return cls(
            class_acc=num("class_acc"),
            class_acc_train_captions=num("class_acc_train_captions"),
            class_acc_heldout_captions=num("class_acc_heldout_captions"),
            kl_ref_gen=num("kl_ref_gen"),
            av_align=num("av_align"),
            av_align_ratio=num("av_align_ratio"),
            lufs_mae_vs_gt=vs_gt,
            seconds=num("seconds"),
            lufs_mae_raw=pair("lufs_mae_raw"),
            lufs_mae_conform=pair("lufs_mae_conform"),
        )


@dataclass(frozen=True)
class Reference:
    """The same measures on the ground-truth audio (what the generated rows are compared with)."""

    av_align_gt: float
    classifier_acc_on_gt_audio: float

    def to_dict(self) -> dict[str, float]:
        return {
            "av_align_gt": self.av_align_gt,
            "classifier_acc_on_gt_audio": self.classifier_acc_on_gt_audio,
        }

    @classmethod
    def from_dict(cls, data: Any, source: Source = None) -> Reference:
        keys = ("av_align_gt", "classifier_acc_on_gt_audio")
        _fields(data, "reference", keys, (), source)
        return cls(*(_num(data[k], f"reference.{k}", source) for k in keys))


@dataclass(frozen=True)
class Target:
    """A goal, the figure measured for it (None: not measured) and whether it is met."""

    target: float
    measured: float | None
    met: bool
    note: str | None = None

    @classmethod
    def check(cls, value: float | None, goal: float, higher: bool) -> Target:
        if value is None:
            return cls(goal, None, False, "not measured")
        return cls(goal, value, bool(value >= goal if higher else value <= goal))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "measured": self.measured, "met": self.met}
        if self.note is not None:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: Any, what: str, source: Source = None) -> Target:
        _fields(data, what, ("target", "measured", "met"), ("note",), source)
        measured = None if data["measured"] is None else _num(data["measured"], f"{what}.measured", source)
        if not isinstance(data["met"], bool):
            raise StudioError(f"evaluation report: {what}.met must be true or false", source)
        note = data.get("note")
        return cls(
            _num(data["target"], f"{what}.target", source),
            measured,
            data["met"],
            None if note is None else str(note),
        )


@dataclass(frozen=True)
class ModeResult:
    """One model's V+T+GT adherence in the LUFS-path comparison."""

    raw: float
    conform: float
    class_acc: float
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "conform": self.conform, "class_acc": self.class_acc, "model": self.model}

    @classmethod
    def from_row(cls, row: RowResult, model: str | Path, what: str = "V+T+GT") -> ModeResult:
        if row.lufs_mae_raw is None or row.lufs_mae_conform is None:
            raise StudioError(f"the {what} row has no LUFS adherence figures to compare")
        return cls(row.lufs_mae_raw.mean, row.lufs_mae_conform.mean, row.class_acc, str(model))

    @classmethod
    def from_dict(cls, data: Any, what: str, source: Source = None) -> ModeResult:
        _fields(data, what, ("raw", "conform", "class_acc", "model"), (), source)
        raw, conform, acc = (_num(data[k], f"{what}.{k}", source) for k in ("raw", "conform", "class_acc"))
        return cls(raw, conform, acc, str(data["model"]))


@dataclass
class EvalReport:
    """The whole evaluation. ``rows`` keeps Table 3 order; ``targets`` is derived (``compute_targets``)."""

    clips: int
    reference: Reference
    rows: dict[str, RowResult] = field(default_factory=dict)
    t_lufs_mae: float | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    lufs_mode_comparison: dict[str, ModeResult] | None = None

    def row(self, name: str) -> RowResult | None:
        return self.rows.get(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clips": self.clips,
            "reference": self.reference.to_dict(),
            "rows": {k: r.to_dict() for k, r in self.rows.items()},
        }
        if self.t_lufs_mae is not None:
            out["t_lufs_mae"] = self.t_lufs_mae
        out["targets"] = {k: t.to_dict() for k, t in self.targets.items()}
        if self.lufs_mode_comparison is not None:
            out["lufs_mode_comparison"] = {k: m.to_dict() for k, m in self.lufs_mode_comparison.items()}
        return out

    @classmethod
    def from_dict(cls, data: Any, source: Source = None) -> EvalReport:
        """Read ``to_dict``'s output (an ``eval --json`` file, or a model manifest's ``eval``)."""
        _fields(
            data,
            "the report",
            ("clips", "reference", "rows"),
            ("t_lufs_mae", "targets", "lufs_mode_comparison"),
            source,
        )
        if not isinstance(data["clips"], int) or isinstance(data["clips"], bool):
            raise StudioError(
                f"evaluation report: clips must be a whole number, got {data['clips']!r}", source
            )
        rows, targets, comparison = data["rows"], data.get("targets") or {}, data.get("lufs_mode_comparison")
        for name, obj in (("rows", rows), ("targets", targets), ("lufs_mode_comparison", comparison or {})):
            if not isinstance(obj, dict):
                raise StudioError(f"evaluation report: {name} must be an object", source)
        bad = [r for r in rows if r not in ROWS]
        if bad:
            raise StudioError(f"evaluation report: unknown Table 3 row(s) {bad}", source)
        t_lufs = data.get("t_lufs_mae")
        return cls(
            clips=data["clips"],
            reference=Reference.from_dict(data["reference"], source),
            rows={k: RowResult.from_dict(v, f"rows.{k}", source) for k, v in rows.items()},
            t_lufs_mae=None if t_lufs is None else _num(t_lufs, "t_lufs_mae", source),
            targets={k: Target.from_dict(v, f"targets.{k}", source) for k, v in targets.items()},
            lufs_mode_comparison=None
            if comparison is None
            else {
                k: ModeResult.from_dict(v, f"lufs_mode_comparison.{k}", source) for k, v in comparison.items()
            },
        )


def compute_targets(report: EvalReport) -> dict[str, Target]:
    """The targets set by the training issue, from the measured rows."""
    gt, text = report.row("V+T+GT"), report.row("T")
    best_av = max((r.av_align_ratio for k, r in report.rows.items() if k.startswith("V")), default=None)
    return {
        "lufs_mae_raw_gt": Target.check(
            gt.lufs_mae_raw.mean if gt and gt.lufs_mae_raw else None, TARGETS["lufs_mae_raw_gt"], higher=False
        ),
        "lufs_mae_conform_gt": Target.check(
            gt.lufs_mae_conform.mean if gt and gt.lufs_mae_conform else None,
            TARGETS["lufs_mae_conform_gt"],
            higher=False,
        ),
        "class_acc_text": Target.check(
            text.class_acc if text else None, TARGETS["class_acc_text"], higher=True
        ),
        "class_acc_text_heldout_captions": Target.check(
            text.class_acc_heldout_captions if text else None, TARGETS["class_acc_text"], higher=True
        ),
        "av_align_ratio": Target.check(
            gt.av_align_ratio if gt else best_av, TARGETS["av_align_ratio"], higher=True
        ),
        "t_lufs_mae": Target.check(report.t_lufs_mae, TARGETS["t_lufs_mae"], higher=False),
    }


def lufs_mode_comparison(
    mine: RowResult,
    mode: str,
    model_dir: str | Path,
    theirs: RowResult,
    other_mode: str,
    other_dir: str | Path,
) -> dict[str, ModeResult]:
    """The two models' V+T+GT rows side by side (they differ only in the DiT's LUFS path)."""
    return {mode: ModeResult.from_row(mine, model_dir), other_mode: ModeResult.from_row(theirs, other_dir)}


def merge_reports(parts: list[EvalReport], order: tuple[str, ...] = ROWS) -> EvalReport:
    """One report from the parts of a run split by rows (they must have measured the same clips)."""
    if not parts:
        raise StudioError("no evaluation parts to merge")
    rep = EvalReport(parts[0].clips, parts[0].reference)
    rows: dict[str, RowResult] = {}
    for p in parts:
        if p.clips != rep.clips or p.reference != rep.reference:
            raise StudioError("evaluation parts disagree on the clips they measured")
        rows.update(p.rows)
        if p.t_lufs_mae is not None:
            rep.t_lufs_mae = p.t_lufs_mae
    rep.rows = {r: rows[r] for r in order if r in rows}
    rep.targets = compute_targets(rep)
    return rep


def _pair(v: ChannelMAE | None) -> str:
    return f"{v.left:.2f} / {v.right:.2f}" if v else "-"


def to_markdown(report: EvalReport) -> str:
    ref = report.reference
    lines = [
        f"Held-out clips: {report.clips}; ground-truth AV-Align {ref.av_align_gt}; "
        f"classifier on ground-truth audio {ref.classifier_acc_on_gt_audio:.1%}",
        "",
    ]
    lines.append(
        "| row | class acc | acc (held-out captions) | KL(ref||gen) | AV-Align | AV ratio | "
        "LUFS MAE raw L/R | after conform L/R | vs GT curve |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, r in report.rows.items():
        lines.append(
            f"| {name} | {r.class_acc:.1%} | {r.class_acc_heldout_captions:.1%} | {r.kl_ref_gen:.3f} | "
            f"{r.av_align:.3f} | {r.av_align_ratio:.2f} | {_pair(r.lufs_mae_raw)} | {_pair(r.lufs_mae_conform)} | "
            f"{r.lufs_mae_vs_gt.mean:.2f} |"
        )
    if report.t_lufs_mae is not None:
        lines += ["", f"T_LUFS error on held-out videos: {report.t_lufs_mae:.2f} LU (frames above -60 LUFS)"]
    if report.lufs_mode_comparison is not None:
        lines += ["", "| LUFS path | MAE raw (GT curves) | after conform |", "|---|---|---|"]
        for mode, m in report.lufs_mode_comparison.items():
            lines.append(f"| {mode} | {m.raw:.2f} | {m.conform:.2f} |")
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, t in report.targets.items():
        lines.append(f"| {name} | {t.target} | {t.measured} | {'yes' if t.met else 'NO'} |")
    return "\n".join(lines)
