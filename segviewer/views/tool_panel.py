"""Tool options dock: the active tool's settings, and operations on the active label.

The upper part shows the help and the settings of the tool chosen in the Tools menu/toolbar
(brush size in mm, 2D disc or 3D sphere, paint-over policy, scribble class, fill tolerance,
…): the form generated from the tool's ``Parameters`` (the same builder as the method
panel's), each edit replacing ``tool.params`` at once. The lower part runs clean-up
operations on the active label (islands, holes, smoothing, margins, logical operations,
clear) and fill between slices (shown as a preview first; Ctrl+Return applies it as one
undo step). Clean-ups run on a worker thread with a copy of the labels and are applied on
the GUI thread as ONE undo step, so a long one never freezes the window.
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from segviewer.errors import SegviewerError
from segviewer.model.labels import LabelMap
from segviewer.tools import cleanup
from segviewer.tools.interpolate import interpolate_between_slices
from segviewer.views import background
from segviewer.views.parameter_form import ParameterForm

NAVIGATE_HINT = "Left click/drag moves the crosshair. Choose a tool in the Tools menu."

CLEANUPS = (
    ("largest", "Keep largest island"),
    ("small", "Remove islands smaller than…"),
    ("split", "Split islands into new labels"),
    ("holes", "Fill holes (3D)"),
    ("holes2d", "Fill holes (each axial slice)"),
    ("smooth", "Smooth"),
    ("margin", "Grow / shrink by margin"),
    ("logical", "Logical operation with label…"),
    ("clear", "Clear label"),
)


class _PlanningSession:
    """Stands in for the session on a worker thread: a copy of the labels, and every write
    recorded instead of applied (the GUI thread applies them as one undo step)."""

    def __init__(self, session) -> None:
        self.image = session.image
        self.geometry = session.geometry
        self.active_label = session.active_label
        self.labels = LabelMap(session.labels.array.copy(), session.geometry, session.label_table.copy())
        self.writes: list[tuple] = []

    @property
    def label_table(self):
        return self.labels.table

    def apply_layer_crop(self, layer, box, new_values, description, where=None):
        new_values = np.asarray(new_values)
        self.writes.append((layer, box, new_values.copy(), description,
                            None if where is None else np.asarray(where).copy()))
        return True


class ToolPanel(QWidget):
    """Dock widget: active tool options + label operations (see the module docstring)."""

    message = Signal(str)
    #: Emitted after a label operation has been applied (or found nothing to do).
    operation_finished = Signal(str)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._busy = False
        self._edits = 0

        self.tool_title = QLabel("Navigate")
        font = self.tool_title.font()
        font.setBold(True)
        self.tool_title.setFont(font)
        self.hint = QLabel(NAVIGATE_HINT)
        self.hint.setWordWrap(True)
        self.options_box = QGroupBox("Tool options")
        self.options_layout = QVBoxLayout(self.options_box)
        self.form: ParameterForm | None = None

        # -- operations on the active label ------------------------------------------------
        self.operations_box = QGroupBox("Active label operations")
        form = QFormLayout(self.operations_box)
        self.operation = QComboBox()
        for key, text in CLEANUPS:
            self.operation.addItem(text, key)
        self.amount = QDoubleSpinBox()
        self.amount.setRange(-100.0, 1e7)
        self.amount.setDecimals(1)
        self.amount.setValue(2.0)
        self.amount.setToolTip("Margin / radius in mm (negative margins shrink), or volume in mm³")
        self.smoothing = QComboBox()
        for method in cleanup.SMOOTHING_METHODS:
            self.smoothing.addItem(method.replace("_", " + "), method)
        self.logical = QComboBox()
        for name in ("union", "copy", "subtract", "intersect"):
            self.logical.addItem(name, name)
        self.modifier = QSpinBox()
        self.modifier.setRange(1, 65534)
        self.modifier.setToolTip("The other label of a logical operation")
        self.run_button = QPushButton("Apply to active label")
        self.run_button.clicked.connect(self.run_selected_operation)
        form.addRow("Operation", self.operation)
        form.addRow("mm / mm³", self.amount)
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Logical", self.logical)
        form.addRow("Other label", self.modifier)
        form.addRow(self.run_button)

        self.interpolate_box = QGroupBox("Fill between slices")
        row = QHBoxLayout(self.interpolate_box)
        self.interpolate_axis = QComboBox()
        for text, axis in (("Axial", 0), ("Coronal", 1), ("Sagittal", 2)):
            self.interpolate_axis.addItem(text, axis)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Interpolate the active label between the slices that hold it "
                                       "(Ctrl+Return applies, Ctrl+Backspace discards)")
        self.preview_button.clicked.connect(self.preview_interpolation)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self.controller.apply_preview)
        row.addWidget(self.interpolate_axis)
        row.addWidget(self.preview_button)
        row.addWidget(self.apply_button)

        self.status = QLabel("")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tool_title)
        layout.addWidget(self.hint)
        layout.addWidget(self.options_box)
        layout.addWidget(self.operations_box)
        layout.addWidget(self.interpolate_box)
        layout.addWidget(self.status)
        layout.addStretch(1)

        controller.tool_changed.connect(self.show_tool)
        controller.session_changed.connect(self._on_session)
        controller.labels_changed.connect(self._count_edit)
        self.show_tool(controller.tool)
        self._on_session(controller.session)

    # == tool options ====================================================================
    def show_tool(self, tool) -> None:
        """Show ``tool``'s help and the form generated from its ``Parameters`` (None: Navigate)."""
        if self.form is not None:
            self.options_layout.removeWidget(self.form)
            self.form.hide()  # deleted later, when control is back in the event loop
            self.form.deleteLater()
            self.form = None
        if tool is None:
            self.tool_title.setText("Navigate")
            self.hint.setText(NAVIGATE_HINT)
            self.options_box.setVisible(False)
            return
        self.tool_title.setText(tool.title + (f"  ({tool.shortcut})" if tool.shortcut else ""))
        self.hint.setText(tool.help)
        self.form = ParameterForm(type(tool.params), tool.params)
        self.form.changed.connect(lambda: self._apply_options(tool))
        self.options_layout.addWidget(self.form)
        self.options_box.setVisible(bool(self.form.specs))

    def _apply_options(self, tool) -> None:
        """The user edited an option: the tool takes the form's (validated) values."""
        try:
            tool.params = self.form.parameters()
        except SegviewerError as error:
            self.message.emit(str(error))

    def option_widget(self, name: str) -> QWidget | None:
        """The editor of the active tool's setting ``name`` (None when it has none)."""
        return None if self.form is None else self.form.editors.get(name)

    def refresh_options(self) -> None:
        """Show the tool's current values again (after a shortcut changed one)."""
        if self.form is not None and self.controller.tool is not None:
            self.form.set_values(self.controller.tool.params)

    # == label operations ================================================================
    def _on_session(self, session) -> None:
        for box in (self.operations_box, self.interpolate_box):
            box.setEnabled(session is not None)
        self.status.setText("")

    def _count_edit(self, _box) -> None:
        self._edits += 1

    @property
    def busy(self) -> bool:
        return self._busy

    def operation_call(self, key: str):
        """``f(session) -> step | (step, values)`` for an operation on the active label."""
        amount = float(self.amount.value())
        method = self.smoothing.currentData()
        logical = self.logical.currentData()
        modifier = int(self.modifier.value())

        def call(session):
            value = int(session.active_label)
            if key == "largest":
                return cleanup.keep_largest_island(session, value)
            if key == "small":
                return cleanup.remove_small_islands(session, value, abs(amount))
            if key == "split":
                return cleanup.split_islands(session, value)
            if key == "holes":
                return cleanup.fill_holes(session, value)
            if key == "holes2d":
                return cleanup.fill_holes(session, value, axis=0)
            if key == "smooth":
                return cleanup.smooth(session, value, abs(amount) or 1.0, method)
            if key == "margin":
                return cleanup.grow_or_shrink(session, value, amount)
            if key == "logical":
                return cleanup.logical_operation(session, value, logical, modifier)
            if key == "clear":
                return cleanup.clear_label(session, value)
            raise ValueError(key)

        return call

    def run_selected_operation(self) -> None:
        self.run_operation(self.operation.currentData())

    def run_operation(self, key: str, block: bool = False) -> None:
        """Run a clean-up on the active label: on a worker thread with a copy of the labels,
        applied on the GUI thread as ONE undo step (``block=True``: right here)."""
        session = self.controller.session
        if session is None or self._busy:
            return
        call = self.operation_call(key)
        text = dict(CLEANUPS)[key]
        if block:
            self._finish(text, call(session))
            return
        planning = _PlanningSession(session)
        edits = self._edits
        self._busy = True
        self.run_button.setEnabled(False)
        self.status.setText(f"{text}…")
        self.controller.report_progress(-1, f"{text}…")

        def done(result):
            if not shiboken6.isValid(self):
                return  # the window closed meanwhile
            self._busy = False
            self.run_button.setEnabled(True)
            self.controller.finish_progress("")
            if self.controller.session is not session:
                return
            if self._edits != edits:  # labels changed meanwhile: redo it on the current labels
                self._finish(text, call(session))
                return
            self._apply_plan(session, planning, text)

        def failed(error, _text):
            if not shiboken6.isValid(self):
                return
            self._busy = False
            self.run_button.setEnabled(True)
            self.controller.finish_progress("")
            self.status.setText(f"{text} failed: {error}")
            self.operation_finished.emit(text)

        background.run_in_thread(lambda: call(planning), done, failed, name="segviewer-cleanup")

    def _apply_plan(self, session, planning: _PlanningSession, text: str) -> None:
        step = None
        for layer, box, values, description, where in planning.writes:
            step = session.apply_layer_crop(layer, box, values, description, where=where) or step
        # Rows the operation added (split islands) got default rows when written: give them
        # the names the operation chose.
        for entry in planning.label_table:
            current = session.label_table.get(entry.value)
            if current is None:
                session.label_table.add(entry.value, entry.name, entry.colour)
            elif current.name == f"Label {entry.value}" and entry.name != current.name:
                session.label_table.update(entry.value, name=entry.name)
        self._finish(text, step)

    def _finish(self, text: str, result) -> None:
        step = result[0] if isinstance(result, tuple) else result
        self.status.setText(f"{text}: done (Ctrl+Z undoes it)" if step else f"{text}: nothing to change")
        self.message.emit(self.status.text())
        self.operation_finished.emit(text)

    def preview_interpolation(self) -> bool:
        """Show fill-between-slices of the active label as a preview; True when one is shown."""
        session = self.controller.session
        if session is None:
            return False
        axis = int(self.interpolate_axis.currentData())
        preview = interpolate_between_slices(session, axis=axis)
        if preview is None:
            self.status.setText("Fill between slices: draw the active label on at least two "
                                "slices with empty slices between them")
            return False
        dtype = np.uint16 if preview.value > 255 else np.uint8
        labels = np.where(preview.mask, preview.value, 0).astype(dtype)
        self.controller.set_preview(labels, preview.box, preview.mask, preview.description)
        self.status.setText(f"Preview: {len(preview.filled_slices)} slices between key slices "
                            f"{preview.key_slices} (Ctrl+Return applies)")
        return True
