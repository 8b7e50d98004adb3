"""Prompt and settings panel: text prompt, reference audio, "use picture", the task id in words, the
generation settings, and the Generate / Cancel / progress controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from triergon_studio.ui.timeline import waveform_envelope

SAMPLERS = ("dpmpp-3m-sde", "dpmpp-2m", "ddim", "euler")  # shown until the chosen model says what it offers
MODEL_DEFAULT = "model default"
CFG_DEFAULT_VALUE = -0.5
#: "Follow curves" choices after "model default" (None in the project); the engine's FOLLOW_MODES
FOLLOW_CHOICES = ("off", "shape", "guide", "shape+guide")


def task_words(text: bool, audio: bool, video: bool) -> str:
    """The paper's task id (4*text + 2*audio + 1*video) and what it means."""
    task = 4 * int(text) + 2 * int(audio) + int(video)
    parts = [name for on, name in ((text, "text"), (audio, "reference audio"), (video, "picture")) if on]
    return f"Task {task}: " + (" + ".join(parts) if parts else "no prompt (loudness curve only)")


class ReferenceAudioWidget(QWidget):
    """Open or drop a reference sound, see its waveform, choose a region, play it."""

    file_chosen = Signal(str)
    region_changed = Signal(float, float)
    play_requested = Signal()
    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("referenceAudio")
        self.setAcceptDrops(True)
        self.path: str | None = None
        self.duration_s = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.label = QLabel("No reference audio: open a file or drop one here")
        self.label.setWordWrap(True)
        self.open_button = QPushButton("Open…")
        self.play_button = QPushButton("Play")
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("Measure from reference audio: seed the L/R curves from this region")
        self.clear_button = QPushButton("Clear")
        for b in (self.play_button, self.measure_button, self.clear_button):
            b.setEnabled(False)
        for b in (self.open_button, self.play_button, self.measure_button, self.clear_button):
            b.setStyleSheet("padding: 4px 6px;")  # four buttons in a laptop-width panel
        row.addWidget(self.open_button)
        row.addWidget(self.play_button)
        row.addWidget(self.measure_button)
        row.addWidget(self.clear_button)
        layout.addWidget(self.label)
        layout.addLayout(row)
        self.plot = pg.PlotWidget(background="#17181a")
        self.plot.setFixedHeight(46)
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.wave = pg.PlotDataItem(connect="pairs", pen=pg.mkPen("#9ccc65"))
        self.plot.addItem(self.wave)
        self.region = pg.LinearRegionItem((0.0, 1.0), brush=pg.mkBrush(255, 213, 79, 40))
        self.region.setVisible(False)
        self.region.sigRegionChangeFinished.connect(self._emit_region)
        self.plot.addItem(self.region)
        layout.addWidget(self.plot)
        self.open_button.clicked.connect(self._open_dialog)
        self.play_button.clicked.connect(self.play_requested)
        self.clear_button.clicked.connect(self.cleared)

    def show_audio(
        self, path: str, audio: np.ndarray, sr: int, in_s: float = 0.0, out_s: float | None = None
    ) -> None:
        self.path = path
        self.duration_s = audio.shape[0] / float(sr)
        x, y = waveform_envelope(audio, sr, points_per_s=max(20.0, 2000.0 / max(self.duration_s, 0.1)))
        self.wave.setData(x, y)
        self.plot.setXRange(0, self.duration_s, padding=0)
        self.plot.setYRange(-1, 1, padding=0.05)
        self.region.blockSignals(True)
        self.region.setBounds((0, self.duration_s))
        self.region.setRegion((in_s, self.duration_s if out_s is None else out_s))
        self.region.blockSignals(False)
        self.region.setVisible(True)
        self.label.setText(f"{Path(path).name}  ({self.duration_s:.2f} s)")
        for b in (self.play_button, self.measure_button, self.clear_button):
            b.setEnabled(True)

    def clear(self) -> None:
        self.path = None
        self.wave.setData([], [])
        self.region.setVisible(False)
        self.label.setText("No reference audio: open a file or drop one here")
        for b in (self.play_button, self.measure_button, self.clear_button):
            b.setEnabled(False)

    def show_error(self, message: str) -> None:
        self.label.setText(message)

    def selected_region(self) -> tuple[float, float]:
        lo, hi = self.region.getRegion()
        return float(lo), float(hi)

    def _emit_region(self) -> None:
        lo, hi = self.selected_region()
        self.region_changed.emit(lo, hi)

    def _open_dialog(self) -> None:
        from triergon_studio.ui.project_files import AUDIO_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Reference audio", "", AUDIO_FILTER)
        if path:
            self.file_chosen.emit(path)

    def dragEnterEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: Any) -> None:  # noqa: N802
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                self.file_chosen.emit(url.toLocalFile())
                ev.acceptProposedAction()
                return


class PromptPanel(QWidget):
    """Edits are pushed to the project (as undoable commands) shortly after the user stops typing."""

    generate_requested = Signal()
    cancel_requested = Signal()
    predict_requested = Signal()
    regenerate_region_requested = Signal()
    prompts_edited = Signal()
    settings_edited = Signal()
    add_model_requested = Signal(str)  # a model folder the user chose
    init_audio_cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptPanel")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        # Prompts and settings scroll; the run box below them never does (Generate is always in sight).
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("promptContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 4, 0)
        self.scroll_area.setWidget(content)
        outer.addWidget(self.scroll_area, 1)
        prompt_box = QGroupBox("Prompts")
        pl = QVBoxLayout(prompt_box)
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setObjectName("promptText")
        self.prompt_text.setPlaceholderText("Describe the sound, e.g. 'footsteps on gravel, close'")
        self.prompt_text.setFixedHeight(56)
        self.prompt_text.setTabChangesFocus(True)  # Tab moves on; it never types a tab into the prompt
        self.prompt_text.setToolTip("Text prompt (Ctrl+T). Esc leaves the box; Space then plays again.")
        pl.addWidget(self.prompt_text)
        self.negative_text = QLineEdit()
        self.negative_text.setObjectName("negativeText")
        self.negative_text.setPlaceholderText("Negative prompt: what to avoid, e.g. 'music, speech'")
        self.negative_text.setToolTip("Negative prompt (only for models that take one)")
        self.negative_text.setEnabled(False)  # until the chosen model says it takes one
        pl.addWidget(self.negative_text)
        self.reference = ReferenceAudioWidget()
        pl.addWidget(self.reference)
        # "Vary this take" sets an init audio; it stays in the prompts (and every take) until cleared here.
        self.init_row = QWidget()
        self.init_row.setObjectName("initAudioRow")
        init_layout = QHBoxLayout(self.init_row)
        init_layout.setContentsMargins(0, 0, 0, 0)
        self.init_label = QLabel("")
        self.init_label.setWordWrap(True)
        self.init_clear = QPushButton("Clear")
        self.init_clear.setToolTip("Stop starting from this take: generate from noise again")
        self.init_clear.clicked.connect(self.init_audio_cleared)
        init_layout.addWidget(self.init_label, 1)
        init_layout.addWidget(self.init_clear)
        self.init_row.setVisible(False)
        pl.addWidget(self.init_row)
        self.use_picture = QCheckBox("Use picture (video prompt)")
        self.use_picture.setChecked(True)
        pl.addWidget(self.use_picture)
        self.task_label = QLabel(task_words(False, False, True))
        self.task_label.setObjectName("taskLabel")
        pl.addWidget(self.task_label)
        self.predict_button = QPushButton("Predict curves from video")
        self.predict_button.setObjectName("predictButton")
        pl.addWidget(self.predict_button)
        # Tab from the prompt reaches a button first (Space there plays, as the keyboard habits expect); the
        # negative prompt comes after the prompt box's buttons.
        QWidget.setTabOrder(self.predict_button, self.negative_text)
        layout.addWidget(prompt_box)

        self.settings_toggle = QToolButton()
        self.settings_toggle.setObjectName("settingsToggle")
        self.settings_toggle.setText("Settings")
        self.settings_toggle.setCheckable(True)
        self.settings_toggle.setChecked(True)
        self.settings_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.settings_toggle.setArrowType(Qt.ArrowType.DownArrow)
        settings_head = QHBoxLayout()
        settings_head.addWidget(self.settings_toggle)
        settings_head.addStretch(1)
        layout.addLayout(settings_head)
        settings_box = QGroupBox("")
        settings_box.setObjectName("settingsBox")
        self.settings_box = settings_box
        self.settings_toggle.toggled.connect(self._toggle_settings)
        form = QFormLayout(settings_box)
        self.model = QComboBox()
        self.model.setEditable(True)
        # The lowest value / first item means "the model's own default" (stored as None in the project).
        self.steps = QSpinBox()
        self.steps.setRange(0, 500)
        self.steps.setSpecialValueText(MODEL_DEFAULT)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(CFG_DEFAULT_VALUE, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setSpecialValueText(MODEL_DEFAULT)
        self.sampler = QComboBox()
        self.sampler.addItem(MODEL_DEFAULT)
        self.sampler.addItems(SAMPLERS)
        seed_row = QHBoxLayout()
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed_locked = QCheckBox("Lock")
        self.seed_locked.setToolTip(
            "Locked: every generation uses this seed. Unlocked: a new random seed each time."
        )
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_locked)
        self.variations = QSpinBox()
        self.variations.setRange(1, 16)
        self.span = QComboBox()
        self.span.addItems(["Whole video", "Selected region"])
        self.conform = QCheckBox("Conform to curve after generation")
        self.follow_curves = QComboBox()
        self.follow_curves.setObjectName("followCurves")
        self.follow_curves.addItem(MODEL_DEFAULT)
        self.follow_curves.addItems(FOLLOW_CHOICES)
        self.follow_curves.setToolTip(
            "How the take follows the loudness curves: shape the start noise, guide each step, both, or off"
        )
        self.add_model_button = QPushButton("Add model folder…")
        self.add_model_button.setObjectName("addModelButton")
        self.add_model_button.setToolTip("Use a model folder (ours, or a Stable Audio Open download)")
        self.add_model_button.clicked.connect(self.choose_model_folder)
        settings_head.addWidget(self.add_model_button)
        form.addRow("Model", self.model)
        self.model_note = QLabel("")
        self.model_note.setObjectName("modelNote")
        self.model_note.setWordWrap(True)
        form.addRow(self.model_note)
        form.addRow("Steps", self.steps)
        form.addRow("CFG", self.cfg)
        form.addRow("Sampler", self.sampler)
        form.addRow("Seed", seed_row)
        form.addRow("Variations", self.variations)
        form.addRow("Span", self.span)
        form.addRow("Follow curves", self.follow_curves)
        form.addRow(self.conform)
        layout.addWidget(settings_box)
        layout.addStretch(1)

        run_box = QWidget()
        run_box.setObjectName("runBox")
        outer.addWidget(run_box)
        layout = QVBoxLayout(run_box)
        layout.setContentsMargins(0, 4, 0, 0)
        run_row = QHBoxLayout()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate takes (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.regen_button = QPushButton("Regenerate region")
        self.regen_button.setObjectName("regenerateButton")
        self.regen_button.setToolTip("Regenerate the selected region of the selected take (Ctrl+Shift+Enter)")
        run_row.addWidget(self.generate_button, 2)
        run_row.addWidget(self.cancel_button, 1)
        run_row.addWidget(self.regen_button, 2)
        layout.addLayout(run_row)
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)
        self.job_label = QLabel("")
        self.job_label.setWordWrap(True)
        self.job_label.setObjectName("jobLabel")
        layout.addWidget(self.job_label)
        self._has_reference = False

        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(700)
        self._commit_timer.timeout.connect(self.prompts_edited)
        self.prompt_text.textChanged.connect(self._commit_timer.start)
        self.prompt_text.textChanged.connect(self.refresh_task)
        self.negative_text.textChanged.connect(self._commit_timer.start)
        self.use_picture.toggled.connect(self._use_picture_toggled)
        for w in (self.steps, self.seed, self.variations):
            w.valueChanged.connect(lambda *_: self.settings_edited.emit())
        self.cfg.valueChanged.connect(lambda *_: self.settings_edited.emit())
        for c in (self.model, self.sampler, self.span, self.follow_curves):
            c.currentTextChanged.connect(lambda *_: self.settings_edited.emit())
        for cb in (self.seed_locked, self.conform):
            cb.toggled.connect(lambda *_: self.settings_edited.emit())
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.predict_button.clicked.connect(self.predict_requested)
        self.regen_button.clicked.connect(self.regenerate_region_requested)

    def _use_picture_toggled(self, *_: object) -> None:
        self.refresh_task()
        self.prompts_edited.emit()

    def flush(self) -> None:
        """Push a pending text edit now (before generating or saving)."""
        if self._commit_timer.isActive():
            self._commit_timer.stop()
            self.prompts_edited.emit()

    def _toggle_settings(self, shown: bool) -> None:
        self.settings_box.setVisible(shown)
        self.settings_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def refresh_task(self) -> None:
        has_text = bool(self.prompt_text.toPlainText().strip())
        # The project's references count even while the file is still being read.
        has_audio = self.reference.path is not None or self._has_reference
        self.task_label.setText(task_words(has_text, has_audio, self.use_picture.isChecked()))

    def set_models(self, names: list[str]) -> None:
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(names)
        if current:
            self.model.setCurrentText(current)
        self.model.blockSignals(False)

    def show_model(self, info: Any | None, problem: str = "") -> None:
        """What the chosen model can do (``engine.families`` ``ModelInfo``, read without torch): the prompt boxes
        it takes are enabled, its samplers are offered, and its defaults are what "model default" means."""
        if info is None:
            self.model_note.setText(problem)
            return
        caps, d = info.capabilities, info.defaults
        self.prompt_text.setEnabled(caps.text)
        self.negative_text.setEnabled(caps.negative_text)
        self.reference.setEnabled(caps.reference_audio)
        self.use_picture.setEnabled(caps.video)
        self.predict_button.setEnabled(caps.lufs_predictor)
        self.predict_button.setToolTip(
            "" if caps.lufs_predictor else "This model has no T_LUFS curve predictor"
        )
        current = self.sampler.currentText()
        self.sampler.blockSignals(True)
        self.sampler.clear()
        self.sampler.addItem(MODEL_DEFAULT)
        self.sampler.addItems(list(caps.samplers) or list(SAMPLERS))
        if self.sampler.findText(current) < 0:
            self.sampler.addItem(current)  # a project's choice stays visible even if this model lacks it
        self.sampler.setCurrentText(current)
        self.sampler.blockSignals(False)
        self.steps.setSpecialValueText(f"{MODEL_DEFAULT} ({d.steps})")
        self.cfg.setSpecialValueText(f"{MODEL_DEFAULT} ({d.cfg:g})")
        self.sampler.setItemText(0, MODEL_DEFAULT)
        self.sampler.setItemData(0, f"{d.sampler}", Qt.ItemDataRole.ToolTipRole)
        takes = [
            w
            for on, w in (
                (caps.text, "text"),
                (caps.reference_audio, "reference audio"),
                (caps.video, "picture"),
            )
            if on
        ]
        summary = (
            f"{info.family}: takes {', '.join(takes) or 'no prompt'}; defaults {d.steps} steps, "
            f"CFG {d.cfg:g}, {d.sampler}"
        )
        self.model.setToolTip(summary)
        # Only what the disabled boxes cannot say takes a row in the panel (it must fit a laptop screen).
        self.model_note.setText("\n".join(caps.notes))
        self.model_note.setVisible(bool(caps.notes))
        self.model_note.setToolTip(summary)

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.add_model_requested.emit(folder)

    def add_model(self, name: str) -> None:
        if self.model.findText(name) < 0:
            self.model.addItem(name)
        self.model.setCurrentText(name)

    def show_settings(self, s: Any) -> None:
        widgets = (
            self.model,
            self.steps,
            self.cfg,
            self.sampler,
            self.seed,
            self.seed_locked,
            self.variations,
            self.span,
            self.conform,
            self.follow_curves,
        )
        for w in widgets:
            w.blockSignals(True)
        self.model.setCurrentText(s.model)
        self.steps.setValue(0 if s.steps is None else int(s.steps))
        self.cfg.setValue(CFG_DEFAULT_VALUE if s.cfg is None else float(s.cfg))
        sampler = MODEL_DEFAULT if s.sampler is None else str(s.sampler).replace("_", "-")
        if self.sampler.findText(sampler) < 0:
            self.sampler.addItem(sampler)
        self.sampler.setCurrentText(sampler)
        self.seed.setValue(int(s.seed))
        self.seed_locked.setChecked(bool(s.seed_locked))
        self.variations.setValue(int(s.variations))
        self.span.setCurrentIndex(0 if s.span is None else 1)
        self.conform.setChecked(bool(s.conform))
        follow = MODEL_DEFAULT if s.follow_curves is None else str(s.follow_curves)
        if self.follow_curves.findText(follow) < 0:
            self.follow_curves.addItem(follow)  # a project's value stays visible as it is
        self.follow_curves.setCurrentText(follow)
        for w in widgets:
            w.blockSignals(False)

    def chosen_settings(self) -> dict[str, Any]:
        """steps, cfg and sampler as the project stores them: None for "the model's default"."""
        cfg = float(self.cfg.value())
        sampler = self.sampler.currentText()
        follow = self.follow_curves.currentText()
        return {
            "steps": self.steps.value() or None,
            "cfg": None if cfg <= CFG_DEFAULT_VALUE else cfg,
            "sampler": None if sampler == MODEL_DEFAULT else sampler,
            "follow_curves": None if follow == MODEL_DEFAULT else follow,
        }

    def show_prompts(self, prompts: Any) -> None:
        self._has_reference = bool(prompts.references)
        if self.prompt_text.toPlainText().strip() != prompts.text:
            self.prompt_text.blockSignals(True)
            self.prompt_text.setPlainText(prompts.text)
            self.prompt_text.blockSignals(False)
        if self.negative_text.text().strip() != prompts.negative_text:
            self.negative_text.blockSignals(True)
            self.negative_text.setText(prompts.negative_text)
            self.negative_text.blockSignals(False)
        init = prompts.init_audio
        self.init_label.setText(f"Varying: {Path(init.path).name}" if init is not None else "")
        self.init_row.setVisible(init is not None)
        self.use_picture.blockSignals(True)
        self.use_picture.setChecked(bool(prompts.use_video))
        self.use_picture.blockSignals(False)
        self.refresh_task()

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        if not running:
            self.progress.setRange(0, 100)
            self.progress.setValue(0)
            self.progress.setFormat("idle")

    def keyPressEvent(self, ev: Any) -> None:  # noqa: N802
        if (
            ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and ev.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.generate_requested.emit()
            return
        super().keyPressEvent(ev)
