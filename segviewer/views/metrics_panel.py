"""Metrics panel: the current labels against a reference mask the user loads.

Load a reference label map (resampled onto the image grid by physical position when it
lies on another grid); the table shows per label and merged Dice, IoU, sensitivity,
precision, volume difference, HD95 and ASSD in mm (``segviewer.evaluation.metrics``). With
"Live" on, it refreshes a moment after each label edit. The computation runs on a worker
thread with copies of the arrays (latest wins), so editing never waits for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segviewer.evaluation.metrics import Evaluation, evaluate
from segviewer.views import background

#: (attribute, header, format) of the table's columns.
COLUMNS = (
    ("dice", "Dice", ".3f"),
    ("iou", "IoU", ".3f"),
    ("sensitivity", "Sens.", ".3f"),
    ("precision", "Prec.", ".3f"),
    ("volume_diff_ml", "ΔVol mL", "+.2f"),
    ("volume_diff_percent", "ΔVol %", "+.1f"),
    ("hd95_mm", "HD95 mm", ".2f"),
    ("assd_mm", "ASSD mm", ".2f"),
    ("hausdorff_mm", "HD mm", ".2f"),
)

DEBOUNCE_MS = 400


class MetricsPanel(QWidget):
    """Dock widget comparing the session's labels with a loaded reference."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.reference: np.ndarray | None = None
        self.reference_name = ""
        self.result: Evaluation | None = None
        self._generation = 0
        self._busy = False

        self.load_button = QPushButton("Load reference…")
        self.load_button.setToolTip("A label map to compare the current labels with")
        self.load_button.clicked.connect(self.choose_reference)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear_reference)
        self.update_button = QPushButton("Update")
        self.update_button.clicked.connect(self.refresh)
        self.live = QCheckBox("Live")
        self.live.setChecked(True)
        self.live.setToolTip("Recompute a moment after each label change")
        self.copy_button = QPushButton("Copy JSON")
        self.copy_button.setToolTip("Copy every metric as JSON to the clipboard")
        self.copy_button.clicked.connect(self.copy_json)

        buttons = QHBoxLayout()
        for widget in (self.load_button, self.clear_button, self.update_button, self.live, self.copy_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)

        self.status = QLabel("No reference loaded.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for _, title, _ in COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

        self._timer = background.single_shot_timer(self, DEBOUNCE_MS, self.refresh)
        controller.session_changed.connect(self._on_session)
        controller.labels_changed.connect(self._on_labels)
        self._update_enabled()

    # -- reference ---------------------------------------------------------------------
    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference label map", "",
                                              "Label maps (*.nii *.nii.gz *.nrrd *.mha *.mhd);;All files (*)")
        if path:
            self.load_reference(path)

    def load_reference(self, path: str | Path) -> bool:
        """Read a reference label map onto the image grid; False (and a message) on failure."""
        session = self.controller.session
        if session is None:
            return False
        from segviewer.errors import SegviewerError
        from segviewer.evaluation.cases import read_label_array

        try:
            array, _ = read_label_array(path, reference=session.image.geometry)
        except SegviewerError as error:
            self.status.setText(f"Reference not loaded: {error}")
            return False
        self.set_reference(array, Path(path).name)
        return True

    def set_reference(self, array: np.ndarray, name: str = "reference") -> None:
        """Compare against ``array`` (on the image grid) from now on."""
        session = self.controller.session
        if session is None or tuple(array.shape) != tuple(session.image.array.shape):
            raise ValueError("the reference must be on the image grid")
        self.reference = np.asarray(array)
        self.reference_name = name
        self._update_enabled()
        self.refresh()

    def clear_reference(self) -> None:
        self.reference = None
        self.reference_name = ""
        self.result = None
        self._generation += 1
        self.table.setRowCount(0)
        self.status.setText("No reference loaded.")
        self._update_enabled()

    # -- computing ---------------------------------------------------------------------
    def _on_session(self, session) -> None:
        self.clear_reference()

    def _on_labels(self, box) -> None:
        if self.reference is not None and self.live.isChecked():
            self._timer.start()

    def refresh(self) -> None:
        """Recompute on a worker thread (latest request wins)."""
        session = self.controller.session
        if session is None or self.reference is None:
            return
        self._generation += 1
        generation = self._generation
        labels = session.labels.array.copy()  # the worker gets its own copy (GUI thread edits)
        reference = self.reference
        geometry = session.image.geometry
        values = sorted(set(int(v) for v in np.unique(reference) if v != 0)
                        | set(int(v) for v in np.unique(labels) if v != 0))
        self._busy = True
        self.status.setText(f"Comparing with {self.reference_name}…")
        background.run_in_thread(lambda: evaluate(labels, reference, geometry, labels=values),
                                 lambda result: self._show(generation, result),
                                 lambda error, text: self._failed(generation, error),
                                 name="segviewer-metrics")

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self._busy = False
            self.status.setText(f"Metrics failed: {error}")

    def _show(self, generation: int, result: Evaluation) -> None:
        if generation != self._generation:  # a newer request is on its way
            return
        self._busy = False
        self.result = result
        session = self.controller.session
        names = []
        for value in result.per_label:
            name = session.label_table.name_of(value) if session is not None else str(value)
            names.append(f"{value} {name}".strip() if name and name != str(value) else str(value))
        records = list(result.per_label.values()) + [result.merged]
        names.append("merged")
        self.table.setRowCount(len(records))
        self.table.setVerticalHeaderLabels(names)
        for row, record in enumerate(records):
            for column, (key, _, fmt) in enumerate(COLUMNS):
                value = getattr(record, key)
                text = "n/a" if value is None else format(value, fmt)
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if record.empty:
                    item.setToolTip(f"{record.empty} mask empty (see the metric conventions)")
                self.table.setItem(row, column, item)
        self.status.setText(f"Against {self.reference_name}: merged Dice {result.merged.dice:.3f}, "
                            f"HD95 {result.merged.hd95_mm:.2f} mm")
        self._update_enabled()

    @property
    def busy(self) -> bool:
        return self._busy

    def copy_json(self) -> None:
        if self.result is not None:
            data = self.result.to_dict()
            data["reference"] = self.reference_name
            QApplication.clipboard().setText(json.dumps(data, indent=2))

    def _update_enabled(self) -> None:
        has_reference = self.reference is not None
        self.clear_button.setEnabled(has_reference)
        self.update_button.setEnabled(has_reference)
        self.copy_button.setEnabled(self.result is not None)
