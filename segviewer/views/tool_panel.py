"""Tool options dock: the active tool's settings, and operations on the active label.

The upper part shows the settings of the tool chosen in the Tools menu/toolbar (brush size
in mm, 2D disc or 3D sphere, paint-over policy, scribble class, fill tolerance, …); each
widget writes straight into the tool object's attribute. The lower part runs clean-up
operations on the active label (islands, holes, smoothing, margins, logical operations,
clear) and fill between slices (shown as a preview first; Ctrl+Return applies it as one
undo step). Clean-ups run on a worker thread with a copy of the labels and are applied on
the GUI thread as ONE undo step, so a long one never freezes the window.
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from segviewer.model.labels import LabelMap
from segviewer.tools import cleanup
from segviewer.tools.brush import PAINT_OVER_ALL, PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL
from segviewer.tools.interpolate import interpolate_between_slices
from segviewer.views import background

POLICY_TEXT = {PAINT_OVER_ALL: "All labels", PAINT_OVER_BACKGROUND: "Background only",
               PAINT_OVER_LABEL: "Only inside label…"}

#: Tool attribute -> (kind, label, options) of the widget that edits it.
OPTION_WIDGETS = {
    "size_mm": ("float", "Size (mm)", dict(minimum=0.1, maximum=200.0, step=0.5, decimals=1)),
    "sphere": ("bool", "3D sphere (else a disc in the slice)", {}),
    "paint_over": ("policy", "Paint over", {}),
    "over_label": ("int", "… label", dict(minimum=0, maximum=65534)),
    "scribble_class": ("choice", "Class", dict(choices=(("foreground", "Foreground (active label)"),
                                                        ("background", "Background")))),
    "tolerance": ("float", "Tolerance (intensity)", dict(minimum=0.0, maximum=1e6, step=5.0, decimals=1)),
    "three_d": ("bool", "3D (else the slice)", {}),
    "source": ("choice", "Region from", dict(choices=(("image", "Image intensity"),
                                                      ("labels", "Same label")))),
    "pick_radius_mm": ("float", "Pick radius (mm)", dict(minimum=0.5, maximum=100.0, step=1.0, decimals=1)),
    "remove": ("bool", "Remove points (eraser)", {}),
}

TOOL_HINTS = {
    "brush": "Left drag paints the active label; Shift+drag erases. +/− change the size.",
    "eraser": "Left drag erases; Shift+drag paints.",
    "scribble": "Left drag: selected class; Ctrl+drag: the other class; Shift+drag erases scribbles.",
    "scribble_eraser": "Left drag erases scribbles.",
    "points": "Click: positive point; Shift+click: negative; Ctrl+click removes the nearest.",
    "polygon": "Drag a lasso, or click vertices and close near the first one (or Enter); "
               "Shift starts a cut; Esc drops it.",
    "fill": "Click fills the connected region within the tolerance; Shift+click fills with 0.",
}

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
        self._option_widgets: dict[str, QWidget] = {}
        self._busy = False
        self._edits = 0

        self.tool_title = QLabel("Navigate")
        font = self.tool_title.font()
        font.setBold(True)
        self.tool_title.setFont(font)
        self.hint = QLabel("Left click/drag moves the crosshair. Choose a tool in the Tools menu.")
        self.hint.setWordWrap(True)
        self.options_box = QGroupBox("Tool options")
        self.options_form = QFormLayout(self.options_box)

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
        """Rebuild the option widgets for ``tool`` (None: Navigate)."""
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._option_widgets.clear()
        if tool is None:
            self.tool_title.setText("Navigate")
            self.hint.setText("Left click/drag moves the crosshair. Choose a tool in the Tools menu.")
            self.options_box.setVisible(False)
            return
        self.tool_title.setText(tool.title + (f"  ({tool.shortcut})" if tool.shortcut else ""))
        self.hint.setText(TOOL_HINTS.get(tool.name, ""))
        for attribute, (kind, label, options) in OPTION_WIDGETS.items():
            if not hasattr(tool, attribute):
                continue
            widget = self._make_widget(tool, attribute, kind, options)
            self._option_widgets[attribute] = widget
            self.options_form.addRow(label, widget)
        self.options_box.setVisible(bool(self._option_widgets))
        self._sync_over_label()

    def _make_widget(self, tool, attribute: str, kind: str, options: dict) -> QWidget:
        value = getattr(tool, attribute)
        if kind == "float":
            widget = QDoubleSpinBox()
            widget.setRange(options["minimum"], options["maximum"])
            widget.setDecimals(options["decimals"])
            widget.setSingleStep(options["step"])
            widget.setValue(float(value))
            widget.valueChanged.connect(lambda v, a=attribute: setattr(tool, a, float(v)))
        elif kind == "int":
            widget = QSpinBox()
            widget.setRange(options["minimum"], options["maximum"])
            widget.setValue(int(value))
            widget.valueChanged.connect(lambda v, a=attribute: setattr(tool, a, int(v)))
        elif kind == "bool":
            widget = QCheckBox()
            widget.setChecked(bool(value))
            widget.toggled.connect(lambda v, a=attribute: setattr(tool, a, bool(v)))
        elif kind == "policy":
            widget = QComboBox()
            for key, text in POLICY_TEXT.items():
                widget.addItem(text, key)
            widget.setCurrentIndex(max(0, widget.findData(value)))

            def changed(_index, w=widget, a=attribute):
                setattr(tool, a, w.currentData())
                self._sync_over_label()

            widget.currentIndexChanged.connect(changed)
        else:  # choice
            widget = QComboBox()
            for key, text in options["choices"]:
                widget.addItem(text, key)
            widget.setCurrentIndex(max(0, widget.findData(value)))
            widget.currentIndexChanged.connect(
                lambda _i, w=widget, a=attribute: setattr(tool, a, w.currentData()))
        return widget

    def _sync_over_label(self) -> None:
        policy = self._option_widgets.get("paint_over")
        over = self._option_widgets.get("over_label")
        if policy is not None and over is not None:
            over.setEnabled(policy.currentData() == PAINT_OVER_LABEL)

    def option_widget(self, attribute: str) -> QWidget | None:
        return self._option_widgets.get(attribute)

    def refresh_options(self) -> None:
        """Show the tool's current values again (after a shortcut changed one)."""
        tool = self.controller.tool
        for attribute, widget in self._option_widgets.items():
            value = getattr(tool, attribute)
            widget.blockSignals(True)
            if isinstance(widget, QDoubleSpinBox):
                widget.setValue(float(value))
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentIndex(max(0, widget.findData(value)))
            widget.blockSignals(False)

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
