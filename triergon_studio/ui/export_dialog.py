"""Export dialog: stems + mix (BWF), sample rate and bit depth, delivery loudness target, muxed review video,
REAPER project; progress, cancel, and a confirmation before replacing files. The work is
``audio.export.export_project`` on the job thread."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from triergon_studio.ui.jobs import JobProgress
from triergon_studio.ui.worker import Job, JobQueue

TARGET_LABELS = {
    "none": "None (as mixed)",
    "r128": "EBU R128 (-23 LUFS, -1 dBTP)",
    "a85": "ATSC A/85 (-24 LKFS, -2 dBTP)",
    "stream": "Streaming (-14 LUFS, -1 dBTP)",
    "apple": "Apple (-16 LUFS, -1 dBTP)",
    "custom": "Custom",
}


def export_job(project: Any, out_dir: Path, settings: Any) -> Any:
    """A generator job around ``export_project``; progress arrives from its callback via a small queue."""

    def run(cancel: threading.Event) -> Generator[JobProgress, None, Any]:
        import queue

        from triergon_studio.audio.export import export_project

        q: queue.Queue[tuple[str, float]] = queue.Queue()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = export_project(
                    project, out_dir, settings, progress=lambda m, f: q.put((m, f)), cancel=cancel
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised on the job thread below
                box["error"] = exc
            q.put(("", -1.0))

        t = threading.Thread(target=work, name="export", daemon=True)
        t.start()
        while True:
            message, fraction = q.get()
            if fraction < 0:
                break
            yield JobProgress(int(fraction * 100), 100, message, "export")
        t.join()
        if "error" in box:
            raise box["error"]
        return box["result"]

    return run


class ExportDialog(QDialog):
    def __init__(self, project: Any, parent: QWidget | None = None, jobs: JobQueue | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self.project = project
        self.jobs = jobs or JobQueue(self)
        self.result_files: list[Path] = []
        self.error = ""
        form = QFormLayout()
        default_dir = Path(project.folder) / "export" if project.path is not None else Path.cwd()
        self.folder = QLineEdit(str(default_dir))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        lanes = ", ".join(lane.name for lane in project.lanes)
        form.addRow("Stems", QLabel(f"One BWF per lane ({lanes}) + the mix, picture-exact length"))
        self.sample_rate = QComboBox()
        self.sample_rate.addItem("48 kHz", 48000)
        self.sample_rate.addItem("44.1 kHz", 44100)
        form.addRow("Sample rate", self.sample_rate)
        self.bits = QComboBox()
        self.bits.addItem("24-bit PCM", "24")
        self.bits.addItem("32-bit float", "32f")
        form.addRow("Format", self.bits)
        self.target = QComboBox()
        for key, label in TARGET_LABELS.items():
            self.target.addItem(label, key)
        form.addRow("Delivery target", self.target)
        self.custom_lufs = QDoubleSpinBox()
        self.custom_lufs.setRange(-40.0, -5.0)
        self.custom_lufs.setValue(-23.0)
        self.custom_lufs.setSuffix(" LUFS")
        self.custom_tp = QDoubleSpinBox()
        self.custom_tp.setRange(-10.0, 0.0)
        self.custom_tp.setValue(-1.0)
        self.custom_tp.setSuffix(" dBTP")
        custom = QHBoxLayout()
        custom.addWidget(self.custom_lufs)
        custom.addWidget(self.custom_tp)
        form.addRow("Custom target", custom)
        self.mux = QComboBox()
        self.mux.addItem("None", "none")
        self.mux.addItem("MP4 (AAC)", "mp4")
        self.mux.addItem("MOV (PCM)", "mov")
        form.addRow("Review video", self.mux)
        self.reaper = QCheckBox("REAPER project (.rpp) with the stems on tracks")
        form.addRow("", self.reaper)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self._cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def settings(self, force: bool = False) -> Any:
        from triergon_studio.audio.export import ExportSettings

        target = self.target.currentData()
        return ExportSettings(
            sample_rate=int(self.sample_rate.currentData()),
            bits=self.bits.currentData(),
            target=target,
            target_lufs=self.custom_lufs.value() if target == "custom" else None,
            true_peak_dbtp=self.custom_tp.value() if target == "custom" else None,
            mux=self.mux.currentData(),
            reaper=self.reaper.isChecked(),
            force=force,
        )

    def start(self, force: bool = False) -> None:
        """Export; ``audio.export`` refuses to replace files, and the dialog then asks (see ``_failed``)."""
        self.error = ""
        self.export_button.setEnabled(False)
        job = Job(
            "Export",
            export_job(self.project, Path(self.folder.text()), self.settings(force)),
            on_yield=self._progress,
            on_return=self._done,
            on_error=self._failed,
            on_abort=self._aborted,
            kind="export",
        )
        self.jobs.submit(job)

    def confirm_overwrite(self, message: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Replace files?",
            f"{message}.\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _progress(self, p: JobProgress) -> None:
        self.progress.setValue(int(round(100 * p.fraction)))
        self.status.setText(p.message)

    def _done(self, result: Any) -> None:
        self.result_files = [f.path for f in result.files]
        self.progress.setValue(100)
        self.status.setText(f"Exported {len(self.result_files)} files to {result.out_dir}")
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def _failed(self, message: str) -> None:
        if "would overwrite" in message:
            question = message.split("; use --force")[0]  # the CLI's hint means nothing in a window
            if self.confirm_overwrite(question):
                self.start(force=True)
                return
            message = f"{question}. Nothing was exported; choose another folder or allow replacing the files."
        self.error = message
        self.status.setText(message)
        self.export_button.setEnabled(True)

    def _aborted(self) -> None:
        self.status.setText("Export cancelled; no partial files were left")
        self.export_button.setEnabled(True)

    def _cancel(self) -> None:
        if self.jobs.is_busy():
            self.jobs.cancel_current()
        else:
            self.reject()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def closeEvent(self, ev: Any) -> None:  # noqa: N802
        self.jobs.cancel_current()
        self.jobs.wait(10000)
        super().closeEvent(ev)
