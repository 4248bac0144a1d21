"""One form builder for every ``Parameters`` dataclass: a method's settings in the Segment
dock and a tool's settings in the Tool options dock are the same generated form.

The editors come from :func:`~segviewer.model.parameters.parameter_specs`: booleans become
check boxes, choices combo boxes (showing the declared choice texts), numbers spin boxes
with the declared range and step, "auto" numbers (NaN defaults) line edits whose empty
text means automatic, anything else a line edit. Each row is labelled with the field's
label (else its name) and carries its help as tooltip; a field declared
``enabled_when=(other, value)`` is editable only while ``other`` has that value.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox,
                               QWidget)

from segviewer.model.parameters import ParameterError, ParameterSpec, is_auto, parameter_specs, validate_parameter


class ParameterForm(QWidget):
    """Editors for one parameters dataclass, generated from its field metadata.

    ``values`` (an instance of the dataclass) fills the editors; else they show the
    defaults. ``changed`` is emitted after the user edits any value.
    """

    changed = Signal()

    def __init__(self, parameters_class: type, values: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameters_class = parameters_class
        self.specs: list[ParameterSpec] = parameter_specs(parameters_class)
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for spec in self.specs:
            editor = self._editor(spec)
            editor.setToolTip(spec.help)
            editor.setObjectName(f"param_{spec.name}")
            self.editors[spec.name] = editor
            label = QLabel(spec.title)
            label.setToolTip(spec.help)
            layout.addRow(label, self.row_widget(spec, editor))
        if values is not None:
            self.set_values(values)
        self.changed.connect(self._update_enabled)
        self._update_enabled()

    def row_widget(self, spec: ParameterSpec, editor: QWidget) -> QWidget:
        """What the form shows beside ``spec``'s label: the editor itself (subclasses may
        add buttons around it)."""
        return editor

    def _editor(self, spec: ParameterSpec) -> QWidget:
        if spec.type is bool:
            box = QCheckBox()
            box.setChecked(bool(spec.default))
            box.toggled.connect(self.changed)
            return box
        if spec.choices is not None:
            combo = QComboBox()
            texts = spec.choice_labels or tuple(str(choice) for choice in spec.choices)
            for choice, text in zip(spec.choices, texts):
                combo.addItem(text, choice)
            combo.setCurrentIndex(list(spec.choices).index(spec.default))
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if spec.type is int:
            spin = QSpinBox()
            spin.setRange(int(spec.minimum if spec.minimum is not None else -10 ** 9),
                          int(spec.maximum if spec.maximum is not None else 10 ** 9))
            spin.setValue(int(spec.default))
            spin.valueChanged.connect(self.changed)
            return spin
        if spec.type is float and not is_auto(spec):
            spin = QDoubleSpinBox()
            step = spec.step or 0.1
            spin.setDecimals(max(2, -int(math.floor(math.log10(step))) + 1) if step < 1 else 2)
            spin.setRange(float(spec.minimum if spec.minimum is not None else -1e9),
                          float(spec.maximum if spec.maximum is not None else 1e9))
            spin.setSingleStep(step)
            spin.setValue(float(spec.default))
            spin.valueChanged.connect(self.changed)
            return spin
        edit = QLineEdit()
        if spec.type is float:  # NaN default: empty means automatic
            edit.setPlaceholderText("auto")
            edit.setValidator(QDoubleValidator())
        else:
            edit.setText(str(spec.default))
        edit.editingFinished.connect(self.changed)
        return edit

    def _update_enabled(self) -> None:
        for spec in self.specs:
            if spec.enabled_when is not None:
                other, wanted = spec.enabled_when
                self.editors[spec.name].setEnabled(self.value(other) == wanted)

    def value(self, name: str) -> Any:
        spec = next(s for s in self.specs if s.name == name)
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.value()
        text = editor.text().strip()
        if spec.type is float:
            if not text:
                return math.nan
            try:
                return float(text.replace(",", "."))
            except ValueError:
                raise ParameterError(f"{name}: {text!r} is not a number") from None
        return text

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` in ``name``'s editor without emitting ``changed``."""
        editor = self.editors[name]
        blocked = editor.blockSignals(True)
        try:
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentIndex(max(0, editor.findData(value)))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
            else:
                is_nan = isinstance(value, float) and math.isnan(value)
                editor.setText("" if is_nan else (f"{value:g}" if isinstance(value, float) else str(value)))
        finally:
            editor.blockSignals(blocked)
        self._update_enabled()

    def set_values(self, values: Any) -> None:
        """Show every field of ``values`` (an instance of the parameters dataclass)."""
        for spec in self.specs:
            self.set_value(spec.name, getattr(values, spec.name))

    def parameters(self):
        """The parameters dataclass instance for the current values (validated)."""
        values = {spec.name: validate_parameter(spec, self.value(spec.name)) for spec in self.specs}
        return self.parameters_class(**values)
