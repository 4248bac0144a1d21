"""Statistics dock: per-label volume, intensity and connected components, kept up to date.

A moment after the last label edit (debounced), the statistics are computed on a worker
thread from a copy of the labels (the image is only read), so painting never waits; a newer
request supersedes an older one (latest wins). "Copy" puts the table on the clipboard as
tab-separated text, "Copy JSON" as JSON — the same fields as ``segviewer stats --json``.
"""

from __future__ import annotations

import json

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QApplication, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from segviewer.tools.statistics import LabelStatistics, label_statistics
from segviewer.views import background

DEBOUNCE_MS = 500

#: (header, function of a row -> text)
COLUMNS = (
    ("Label", lambda r: f"{r.value} {r.name}"),
    ("Voxels", lambda r: f"{r.voxel_count}"),
    ("Volume mL", lambda r: f"{r.volume_ml:.3f}"),
    ("Mean", lambda r: _number(r.mean)),
    ("Std", lambda r: _number(r.std)),
    ("Min", lambda r: _number(r.minimum)),
    ("Max", lambda r: _number(r.maximum)),
    ("Median", lambda r: _number(r.median)),
    ("Parts", lambda r: f"{r.component_count}"),
    ("Box (mm)", lambda r: " × ".join(f"{hi - lo:.1f}" for lo, hi in zip(r.bbox_mm_min, r.bbox_mm_max))),
)


def _number(value) -> str:
    return "–" if value is None else f"{value:.1f}"


class StatisticsPanel(QWidget):
    """Dock widget with the label statistics table (see the module docstring)."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.rows: list[LabelStatistics] = []
        self._generation = 0
        self._busy = False
        self._cancel_generation = 0

        self.live = QCheckBox("Live")
        self.live.setChecked(True)
        self.live.setToolTip("Recompute a moment after each label change")
        self.live.toggled.connect(lambda on: on and self.schedule())
        self.full_connectivity = QCheckBox("26-connected parts")
        self.full_connectivity.setToolTip("Count voxels touching at edges or corners as one part "
                                          "(default: faces only)")
        self.full_connectivity.toggled.connect(lambda _on: self.schedule())
        self.update_button = QPushButton("Update")
        self.update_button.clicked.connect(self.refresh)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the table as tab-separated text")
        self.copy_button.clicked.connect(self.copy_text)
        self.json_button = QPushButton("Copy JSON")
        self.json_button.clicked.connect(self.copy_json)
        buttons = QHBoxLayout()
        for widget in (self.live, self.full_connectivity, self.update_button, self.copy_button,
                       self.json_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)

        self.status = QLabel("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _ in COLUMNS])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

        self._timer = background.single_shot_timer(self, DEBOUNCE_MS, self.refresh)
        controller.session_changed.connect(self._on_session)
        controller.labels_changed.connect(lambda _box: self._on_change())
        controller.label_table_changed.connect(self._rename_rows)
        self._on_session(controller.session)

    # -- scheduling -----------------------------------------------------------------------
    def _on_session(self, session) -> None:
        self._generation += 1
        self.rows = []
        self.table.setRowCount(0)
        self.status.setText("" if session is None else "Computing…")
        if session is not None:
            self.schedule()

    def _on_change(self) -> None:
        if self.live.isChecked():
            self.schedule()

    def schedule(self) -> None:
        """Recompute a moment from now (restarts the timer: bursts of edits coalesce)."""
        if self.controller.session is not None:
            self._timer.start()

    @property
    def busy(self) -> bool:
        return self._busy or self._timer.isActive()

    def refresh(self) -> None:
        """Compute now on a worker thread (latest request wins)."""
        session = self.controller.session
        if session is None:
            return
        self._timer.stop()
        self._generation += 1
        generation = self._generation
        labels = session.labels.array.copy()  # the GUI thread keeps editing the original
        image = session.image.array
        geometry = session.geometry
        names = {entry.value: entry.name for entry in session.label_table}
        full = self.full_connectivity.isChecked()
        self._busy = True

        def compute():
            return label_statistics(image, labels, geometry,
                                    names=lambda v: names.get(v, f"Label {v}"),
                                    full_connectivity=full,
                                    cancelled=lambda: generation != self._generation)

        background.run_in_thread(compute, lambda rows: self._show(generation, rows),
                                 lambda error, _text: self._failed(generation, error),
                                 name="segviewer-statistics")

    def _failed(self, generation: int, error) -> None:
        if generation == self._generation and shiboken6.isValid(self):
            self._busy = False
            self.status.setText(f"Statistics failed: {error}")

    def _show(self, generation: int, rows: list[LabelStatistics]) -> None:
        if generation != self._generation or not shiboken6.isValid(self):
            return  # superseded, or the window closed meanwhile
        self._busy = False
        self.rows = rows
        self.table.setRowCount(len(rows))
        for row_index, row in enumerate(rows):
            for column, (_, text_of) in enumerate(COLUMNS):
                item = QTableWidgetItem(text_of(row))
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column == 8 and row.component_count > 1:
                    volumes = ", ".join(f"{v:.3f}" for v in row.component_volumes_ml[:20])
                    more = " …" if len(row.component_volumes_ml) > 20 else ""
                    item.setToolTip(f"Part volumes (mL), largest first: {volumes}{more}")
                self.table.setItem(row_index, column, item)
        total = sum(r.volume_ml for r in rows)
        self.status.setText(f"{len(rows)} labels, {total:.2f} mL in all" if rows else "No labelled voxels.")

    def _rename_rows(self) -> None:
        session = self.controller.session
        if session is None:
            return
        for row_index, row in enumerate(self.rows):
            row.name = session.label_table.name_of(row.value)
            item = self.table.item(row_index, 0)
            if item is not None:
                item.setText(COLUMNS[0][1](row))

    # -- export ------------------------------------------------------------------------------
    def as_text(self) -> str:
        lines = ["\t".join(title for title, _ in COLUMNS)]
        lines += ["\t".join(text_of(row) for _, text_of in COLUMNS) for row in self.rows]
        return "\n".join(lines)

    def copy_text(self) -> None:
        QApplication.clipboard().setText(self.as_text())

    def copy_json(self) -> None:
        QApplication.clipboard().setText(json.dumps([r.to_dict() for r in self.rows], indent=2))
