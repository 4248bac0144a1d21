"""Measurements dock: the case's rulers, angles, regions and structure measurements.

- Ruler / Angle make the ruler or angle tool active (a drag or clicks in any slice view, also
  across slices); each finished measurement lands in the list.
- Sphere / Ellipse at the crosshair: intensity statistics of a region of the given radius
  (the ellipse on the axial slice through the crosshair).
- Distance (between label A and B, and where), Diameters (RECIST long and short axis of label
  A on its widest axial slice) and Thickness (local thickness of label A, shown as a heat map
  in the slice views and on its 3D surface with a colour bar) run on a worker thread with
  progress and Cancel.
- The measurements are drawn on the slice views (solid on their slice, dashed where a ruler
  crosses it), with the points of a ruler or angle being placed.
- Remove, Undo, Redo change the list (its own history); Export CSV… writes the table; Save
  writes ``<image>.measurements.json`` (mm, LPS) beside the image, which is read back when
  that image is opened again. Double-clicking a row moves the crosshair to its first point.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from segviewer.errors import SegviewerError
from segviewer.measure import records
from segviewer.measure.records import MeasurementList, measurements_path
from segviewer.tools.ruler import AngleTool, RulerTool
from segviewer.views.job_runner import JobRunner
from segviewer.views.measurement_overlay import MeasurementOverlay
from segviewer.views.slice_view import SliceView
from segviewer.views.thickness_3d import ThicknessOn3D, surface_values
from segviewer.views.view3d import View3D

COLUMNS = ("#", "Name", "Value", "Unit", "Details")


def _details(measurement) -> str:
    d = measurement.details
    if measurement.kind == "region":
        return f"{d['voxel_count']} voxels, sd {d['std']:.1f}, min {d['minimum']:.0f}, max {d['maximum']:.0f}"
    if measurement.kind == "distance":
        return "labels {} and {}".format(*d["labels"])
    if measurement.kind == "diameters":
        return f"label {d['label']}: short axis {d['short_axis_mm']:.1f} mm, slice {d['slice']}"
    if measurement.kind == "thickness":
        return (f"label {d['label']}: median {d['median_mm']:.1f}, sd {d['sd_mm']:.1f}, "
                f"max {d['maximum_mm']:.1f} mm")
    return ""


class MeasurementsDock(QWidget):
    """The measurement list of the open case and the buttons that add to it.

    ``views``: the window's views (the slice views among them show the measurements); ``add_tool``: the window's
    ``add_tool``, so the ruler and angle tools are in the Tools menu and toolbar too."""

    #: The list changed (added, removed, undone, another case).
    changed = Signal()

    def __init__(self, controller, views=(), add_tool=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.measurements = MeasurementList()
        self.ruler_tool, self.angle_tool = RulerTool(), AngleTool()
        for tool in (self.ruler_tool, self.angle_tool):
            tool.measured.connect(self.add)
        self.jobs = JobRunner(controller, self)
        self.jobs.finished.connect(self._job_done)
        self.jobs.failed.connect(self._show_error)
        self.jobs.busy_changed.connect(self._update_buttons)
        self._build()
        controller.session_changed.connect(self._on_session)
        self._on_session()  # a case may be open already
        views = list(views)
        self.overlays = [MeasurementOverlay(view, self) for view in views if isinstance(view, SliceView)]
        self.thickness_3d = next((ThicknessOn3D(view) for view in views
                                  if isinstance(view, View3D) and view.scene is not None), None)
        for tool in (self.ruler_tool, self.angle_tool) if add_tool is not None else ():
            add_tool(tool)

    # == layout =====================================================================================
    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        self.ruler_button = self._button("Ruler", RulerTool.help, lambda: self.controller.set_tool(self.ruler_tool))
        self.angle_button = self._button("Angle", AngleTool.help, lambda: self.controller.set_tool(self.angle_tool))
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0.5, 200.0)
        self.radius.setValue(10.0)
        self.radius.setSuffix(" mm")
        self.radius.setToolTip("Radius of the sphere or ellipse at the crosshair")
        self.sphere_button = self._button("Sphere", "Intensity statistics in a sphere at the crosshair",
                                          lambda: self.add_region(flat=False))
        self.ellipse_button = self._button("Ellipse", "Intensity statistics in a circle on the axial slice "
                                           "through the crosshair", lambda: self.add_region(flat=True))
        self.label_a, self.label_b = QSpinBox(), QSpinBox()
        for box, value in ((self.label_a, 1), (self.label_b, 2)):
            box.setRange(1, 65534)
            box.setValue(value)
        self.label_a.setToolTip("Label A: diameters and thickness are of it; distance is from it")
        self.label_b.setToolTip("Label B: the distance is to it")
        self.distance_button = self._button("Distance A–B", "Minimum distance between labels A and B, and where",
                                            self.add_distance)
        self.diameters_button = self._button("Diameters A", "RECIST: longest axial diameter of label A and the "
                                             "perpendicular short axis", self.add_diameters)
        self.thickness_button = self._button("Thickness A", "Local thickness of label A (from its medial axis), "
                                             "shown as a heat map", self.add_thickness)
        self.cancel_button = self._button("Cancel", "Stop the running measurement", self.jobs.cancel)
        for row, widgets in enumerate(((self.ruler_button, self.angle_button, self.radius),
                                       (self.sphere_button, self.ellipse_button, None),
                                       (QLabel("A"), self.label_a, self.distance_button),
                                       (QLabel("B"), self.label_b, self.diameters_button),
                                       (self.cancel_button, None, self.thickness_button))):
            for column, widget in enumerate(widgets):
                if widget is not None:
                    grid.addWidget(widget, row, column)
        layout.addLayout(grid)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(self._go_to)
        layout.addWidget(self.table, 1)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        self.remove_button = self._button("Remove", "Remove the selected measurement", self.remove_selected)
        self.undo_button = self._button("Undo", "Undo the last change of the list", self.undo)
        self.redo_button = self._button("Redo", "Redo", self.redo)
        self.export_button = self._button("Export CSV…", "Write the table as CSV", self.export_csv_dialog)
        self.save_button = self._button("Save", "Save beside the image as <image>.measurements.json (mm)", self.save)
        for button in (self.remove_button, self.undo_button, self.redo_button, self.export_button, self.save_button):
            row.addWidget(button)
        layout.addLayout(row)
        for keys, slot in ((QKeySequence.StandardKey.Undo, self.undo), (QKeySequence.StandardKey.Redo, self.redo),
                           (QKeySequence.StandardKey.Delete, self.remove_selected)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # == the list ===================================================================================
    def add(self, measurement) -> None:
        added = self.measurements.add(measurement)
        self._refresh()
        self.table.selectRow(self.table.rowCount() - 1)
        self.note.setText(added.label())

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        for row in reversed(rows):
            self.measurements.remove(int(self.table.item(row, 0).text()))
        self._refresh()

    def undo(self) -> None:
        self.measurements.undo()
        self._refresh()

    def redo(self) -> None:
        self.measurements.redo()
        self._refresh()

    def _refresh(self) -> None:
        items = list(self.measurements)
        self.table.setRowCount(len(items))
        for row, m in enumerate(items):
            for column, text in enumerate((str(m.id), m.name or m.quantity, f"{m.value:.4g}", m.unit, _details(m))):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self._update_buttons()
        self.changed.emit()

    def _update_buttons(self, *_args) -> None:
        has_session = self.controller.session is not None
        busy = self.jobs.busy
        for button in (self.ruler_button, self.angle_button, self.sphere_button, self.ellipse_button,
                       self.distance_button, self.diameters_button, self.thickness_button):
            button.setEnabled(has_session and not busy)
        self.cancel_button.setEnabled(busy)
        self.undo_button.setEnabled(self.measurements.can_undo)
        self.redo_button.setEnabled(self.measurements.can_redo)
        self.remove_button.setEnabled(len(self.measurements) > 0)
        self.export_button.setEnabled(len(self.measurements) > 0)
        self.save_button.setEnabled(has_session and self.controller.session.image.path is not None)

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    # == making measurements ========================================================================
    def add_region(self, flat: bool) -> None:
        session = self.controller.session
        radius = float(self.radius.value())
        geometry = session.geometry
        centre = geometry.index_to_physical(session.cursor)
        # radii along the index axes (i, j, k); an ellipse keeps the slice through the crosshair
        radii = (radius, radius, 0.0 if flat else radius)
        try:
            self.add(records.region(session.image.array, geometry, centre, radii,
                                    f"{'Ellipse' if flat else 'Sphere'} r {radius:g} mm"))
        except SegviewerError as error:
            self._show_error(str(error))

    def _structure_job(self, title: str, make) -> None:
        session = self.controller.session
        labels = session.labels.array.copy()  # the worker reads a copy: painting may go on
        geometry = session.geometry
        self.jobs.run(lambda progress, cancel: make(labels, geometry, cancel), title)

    def add_distance(self) -> None:
        a, b = self.label_a.value(), self.label_b.value()
        self._structure_job(f"Distance {a}–{b}",
                            lambda labels, geometry, cancel: records.label_distance(labels, geometry, a, b))

    def add_diameters(self) -> None:
        a = self.label_a.value()
        self._structure_job(f"Diameters {a}", lambda labels, geometry, cancel: records.diameters(labels, geometry, a))

    def add_thickness(self) -> None:
        a = self.label_a.value()

        def work(labels, geometry, cancel):
            measurement, thickness_map = records.thickness(labels, geometry, a, cancel=cancel)
            return measurement, thickness_map, surface_values(thickness_map)

        self._structure_job(f"Thickness {a}", work)

    def _job_done(self, result) -> None:
        if isinstance(result, tuple):  # thickness: the measurement, its map, its surface values
            measurement, thickness_map, on_surface = result
            high = float(thickness_map.max()) or 1.0
            self.controller.set_heatmap(thickness_map, None, 0.0, high, "inferno", "thickness")
            if self.thickness_3d is not None:
                self.thickness_3d.show(measurement.details["label"], on_surface, high)
            self.add(measurement)
            self.note.setText(f"{measurement.label()} — slice heat map and 3D surface: 0 (dark) to "
                              f"{high:.1f} mm (bright)")
        else:
            self.add(result)

    def _show_error(self, message: str) -> None:
        self.note.setText(f"<span style='color:#c03030'>{html.escape(message)}</span>")

    def _go_to(self, row: int, _column: int) -> None:
        measurement = self.measurements.get(int(self.table.item(row, 0).text()))
        if measurement.points_mm and self.controller.session is not None:
            index = self.controller.session.geometry.physical_to_index(measurement.points_mm[0])
            self.controller.set_cursor(tuple(int(v) for v in np.rint(index)))

    # == files ======================================================================================
    def _case_file(self):
        session = self.controller.session
        path = session.image.path if session is not None else None
        return measurements_path(path) if path is not None else None

    def save(self) -> None:
        target = self._case_file()
        if target is None:
            return
        try:
            self.measurements.save(target)
            self.note.setText(f"saved {target.name}")
        except SegviewerError as error:
            self._show_error(str(error))

    def export_csv(self, path) -> None:
        self.measurements.export_csv(path)

    def export_csv_dialog(self) -> None:
        case = self._case_file()
        suggestion = str(case.with_suffix("").with_suffix(".csv")) if case else "measurements.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export measurements", suggestion, "CSV tables (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except SegviewerError as error:
                self._show_error(str(error))

    def _on_session(self, *_args) -> None:
        """A new case: its saved measurements, if any, else an empty list."""
        self.jobs.cancel()
        self.measurements = MeasurementList()
        case = self._case_file()
        if case is not None and case.is_file():
            try:
                self.measurements = MeasurementList.load(case)
                self.note.setText(f"read {len(self.measurements)} measurements from {case.name}")
            except SegviewerError as error:
                self._show_error(str(error))
        self._refresh()

    def closeEvent(self, event) -> None:
        self.jobs.shutdown()
        super().closeEvent(event)
