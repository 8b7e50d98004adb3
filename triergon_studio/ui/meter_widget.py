"""Live EBU R128 meter: momentary, short-term, integrated and true peak.

The numbers come from ``audio.meter.StreamingMeter``, fed from the UI timer with the samples the audio
clock has passed since the previous tick (never from the audio callback).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

SCALE_MIN = -60.0
SCALE_MAX = 0.0


def _fmt(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return f"-inf {unit}"
    return f"{value:5.1f} {unit}"


class LoudnessMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loudnessMeter")
        self.setMinimumSize(180, 120)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._meter: Any | None = None
        self._sr = 48000
        self.momentary: float | None = None
        self.short_term: float | None = None
        self.integrated: float | None = None
        self.true_peak: float | None = None
        self.target_lufs = -23.0

    def reset(self, sample_rate: int | None = None, channels: int = 2) -> None:
        from triergon_studio.audio.meter import StreamingMeter

        if sample_rate:
            self._sr = int(sample_rate)
        self._meter = StreamingMeter(self._sr, channels)
        self.momentary = self.short_term = self.integrated = self.true_peak = None
        self.update()

    def push(self, block: np.ndarray) -> None:
        if block.size == 0:
            return
        if self._meter is None:
            self.reset(self._sr)
        assert self._meter is not None
        self._meter.push(np.ascontiguousarray(block, dtype=np.float32))
        self.momentary = _finite(self._meter.momentary)
        self.short_term = _finite(self._meter.short_term)
        self.integrated = _finite(self._meter.integrated)
        self.true_peak = _finite(self._meter.true_peak)
        self.update()

    def readings(self) -> dict[str, float | None]:
        return {
            "momentary": self.momentary,
            "short_term": self.short_term,
            "integrated": self.integrated,
            "true_peak": self.true_peak,
        }

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#17181a"))
        font = QFont()
        font.setPointSize(9)
        p.setFont(font)
        bars = (("M", self.momentary), ("S", self.short_term), ("I", self.integrated), ("TP", self.true_peak))
        text_h = 64
        bar_h = max(20, self.height() - text_h - 10)
        bar_w = max(10, (self.width() - 20) // 4 - 8)
        for k, (label, value) in enumerate(bars):
            x = 10 + k * (bar_w + 8)
            frame = QRectF(x, 6, bar_w, bar_h)
            p.fillRect(frame, QColor("#26282c"))
            if value is not None:
                frac = (min(max(value, SCALE_MIN), SCALE_MAX) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN)
                h = frac * bar_h
                limit = -1.0 if label == "TP" else self.target_lufs
                colour = QColor("#e57373") if value > limit else QColor("#81c784")
                p.fillRect(QRectF(x, 6 + bar_h - h, bar_w, h), colour)
            ty = 6 + bar_h - (self.target_lufs - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * bar_h
            p.setPen(QColor("#ffd54f"))
            p.drawLine(int(x), int(ty), int(x + bar_w), int(ty))
            p.setPen(QColor("#c8cbd0"))
            p.drawText(QRectF(x, 8 + bar_h, bar_w, 14), Qt.AlignmentFlag.AlignCenter, label)
        lines = (
            f"M  {_fmt(self.momentary, 'LUFS')}   S  {_fmt(self.short_term, 'LUFS')}",
            f"I  {_fmt(self.integrated, 'LUFS')}   TP {_fmt(self.true_peak, 'dBTP')}",
        )
        for k, line in enumerate(lines):
            p.drawText(
                QRectF(8, self.height() - 40 + k * 18, self.width() - 16, 16),
                Qt.AlignmentFlag.AlignLeft,
                line,
            )
        p.end()


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
