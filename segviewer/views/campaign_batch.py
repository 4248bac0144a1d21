"""From the campaign dock: run a method (or the campaign's model through the U-Net) on the
campaign's unfinished cases with the batch engine (:mod:`segviewer.batch`).

:class:`CampaignBatchDialog` asks for the method, the output folder and the workers;
:class:`CampaignBatch` builds the batch from the campaign (each case's image, and the
annotator's scribbles and points where the method uses them) and runs it on its own worker
thread (:class:`~segviewer.views.job_runner.JobRunner`): progress (cases done, rate, ETA) in
the window's progress area, Cancel stops the cases not started, and the summary in the
status bar. The outputs are the command line's: ``OUT/CASE.nii.gz`` and ``OUT/batch_results.csv``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLineEdit, QMessageBox, QPushButton, QSpinBox, QWidget)

from segviewer.batch.api import RESULTS_NAME, campaign_cases, check_outputs, run_batch, segment_jobs, warm_worker
from segviewer.batch.engine import BatchResult, batch_job
from segviewer.batch.report import counted, summary_table
from segviewer.errors import SegviewerError
from segviewer.methods.registry import get_method, registered_methods
from segviewer.views.job_runner import JobRunner


@dataclass(frozen=True)
class BatchChoice:
    """What the user asked for: the method, the output folder, the workers (None = one per
    core) and whether only the cases nobody finished run."""

    method: str
    out: Path
    workers: int | None = None
    unfinished_only: bool = True


class CampaignBatchDialog(QDialog):
    """Method, output folder, workers, unfinished only."""

    def __init__(self, parent: QWidget | None, campaign_root: Path) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run a method on the campaign's cases")
        self.method = QComboBox()
        for name, method_class in registered_methods().items():
            self.method.addItem(method_class.title or name, name)
        self.out = QLineEdit(str(Path(campaign_root).parent / f"{Path(campaign_root).name}_batch"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder = QHBoxLayout()
        folder.addWidget(self.out, 1)
        folder.addWidget(browse)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, len(os.sched_getaffinity(0))))
        self.workers.setValue(self.workers.maximum())
        self.unfinished = QCheckBox("Only the cases nobody has finished")
        self.unfinished.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Method", self.method)
        form.addRow("Output folder", folder)
        form.addRow("Worker processes", self.workers)
        form.addRow(self.unfinished)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out.text())
        if folder:
            self.out.setText(folder)

    def choice(self) -> BatchChoice:
        return BatchChoice(self.method.currentData(), Path(self.out.text()).expanduser(), self.workers.value(),
                           self.unfinished.isChecked())


class CampaignBatch(QObject):
    """One campaign batch at a time for a :class:`~segviewer.views.campaign_dock.CampaignDock`.
    Emits ``done(result)`` when the batch ends (failed cases included: they are in its rows)."""

    done = Signal(object)

    def __init__(self, dock, scheduler: str | None = None) -> None:
        super().__init__(dock)
        self.dock = dock
        self.scheduler = scheduler
        self.jobs = JobRunner(dock.window.controller, self)
        self.jobs.finished.connect(self._finished)
        self.jobs.failed.connect(lambda message: self._tell(f"Batch failed: {message}", error=True))

    def ask_and_start(self) -> None:
        """The dialog, then :meth:`start`; a mistake (no campaign, an output over an input)
        is a message, never a traceback."""
        navigator = self.dock.navigator
        if navigator is None:
            self._tell("Open a campaign first.", error=True)
            return
        dialog = CampaignBatchDialog(self.dock, navigator.campaign.root)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            self.start(dialog.choice())
        except SegviewerError as error:
            self._tell(str(error), error=True)

    def start(self, choice: BatchChoice) -> int:
        """Start the batch on the open campaign; the number of cases it runs."""
        navigator = self.dock.navigator
        method = get_method(choice.method)
        params = method.Parameters()
        cases = campaign_cases(navigator.campaign.root, unfinished_only=choice.unfinished_only,
                               annotator=navigator.annotator)
        jobs = segment_jobs(cases, method, params, choice.out.resolve())
        check_outputs(jobs)
        choice.out.mkdir(parents=True, exist_ok=True)
        run = partial(run_batch, jobs, setup=warm_worker(method, params), scheduler=self.scheduler,
                      workers=choice.workers, results=choice.out / f"{RESULTS_NAME}.csv", dashboard=False)
        self.jobs.run(batch_job(run), title=f"{method.title or method.name} on {counted(len(jobs), 'case')}")
        return len(jobs)

    def cancel(self) -> None:
        self.jobs.cancel()

    def _finished(self, result: BatchResult) -> None:
        self._tell(summary_table(result).splitlines()[0])
        self.done.emit(result)

    def _tell(self, text: str, error: bool = False) -> None:
        if error:
            QMessageBox.warning(self.dock, "Batch", text)
        else:
            self.dock.window.statusBar().showMessage(text, 15000)
