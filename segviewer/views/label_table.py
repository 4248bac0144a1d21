"""Label table dock: add, remove, rename, recolour, show/hide and lock labels; pick the
active label; import and export the table (ITK-SNAP label description or JSON).

The table edits ``session.label_table`` (the model emits ``changed``; every view follows).
Selecting a row makes that label the active one (what brushes paint). Keys 1–9 pick a label
(the label with that value, else the n-th row), "," and "." the previous / next one
(ITK-SNAP's keys) — the main window installs them through :meth:`LabelTablePanel.actions_for`.
Removing a label that still has voxels clears them as ONE undo step.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (QColorDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from segviewer.errors import SegviewerError
from segviewer.tools.cleanup import clear_label

#: Columns: colour swatch, value, name, visible, locked.
COLOUR, VALUE, NAME, VISIBLE, LOCKED = range(5)
HEADERS = ("", "Value", "Name", "Show", "Lock")
TABLE_FILTER = "ITK-SNAP label descriptions (*.label *.txt);;segviewer JSON (*.json);;All files (*)"


class LabelTablePanel(QWidget):
    """Dock widget listing the session's labels (see the module docstring)."""

    #: Emitted with a short message for the status bar.
    message = Signal(str)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._updating = False
        self._table_connected = None

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for column in (COLOUR, VALUE, VISIBLE, LOCKED):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.DoubleClicked
                                   | QTableWidget.EditTrigger.EditKeyPressed)
        self.table.setToolTip("Double-click a name to rename, the swatch to recolour; "
                              "the selected row is the active label")
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(self._on_double_click)

        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a label with the next free value")
        self.add_button.clicked.connect(lambda: self.add_label())
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected label (its voxels are cleared; undoable)")
        self.remove_button.clicked.connect(self._remove_selected)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Read a label table (ITK-SNAP .label/.txt or JSON)")
        self.import_button.clicked.connect(self.import_dialog)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the label table (ITK-SNAP .label/.txt or JSON)")
        self.export_button.clicked.connect(self.export_dialog)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.import_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.active_label = QLabel("")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.active_label)

        controller.session_changed.connect(self._on_session)
        controller.label_table_changed.connect(self.refresh)
        controller.active_label_changed.connect(lambda _value: self._select_active())
        controller.labels_changed.connect(self._on_labels_changed)
        self._on_session(controller.session)

    # == model -> table ======================================================================
    @property
    def session(self):
        return self.controller.session

    def _on_session(self, session) -> None:
        enabled = session is not None
        for widget in (self.add_button, self.remove_button, self.import_button, self.export_button,
                       self.table):
            widget.setEnabled(enabled)
        self.refresh()

    def _on_labels_changed(self, _box) -> None:
        # A tool may have added a row for a new value (the table emits changed then); a
        # value widening nothing else needs no refresh here.
        if self.session is not None and self.table.rowCount() != len(self.session.label_table):
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows from the session's label table."""
        self._updating = True
        try:
            session = self.session
            entries = list(session.label_table) if session is not None else []
            self.table.setRowCount(len(entries))
            for row, entry in enumerate(entries):
                swatch = QTableWidgetItem("")
                swatch.setBackground(QBrush(QColor(*entry.colour)))
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                swatch.setToolTip("Double-click to change the colour")
                value = QTableWidgetItem(str(entry.value))
                value.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                value.setData(Qt.ItemDataRole.UserRole, entry.value)
                value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                name = QTableWidgetItem(entry.name)
                name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsEditable)
                visible = QTableWidgetItem("")
                visible.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                                 | Qt.ItemFlag.ItemIsSelectable)
                visible.setCheckState(Qt.CheckState.Checked if entry.visible else Qt.CheckState.Unchecked)
                visible.setToolTip("Show or hide this label in every view")
                locked = QTableWidgetItem("")
                locked.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                                | Qt.ItemFlag.ItemIsSelectable)
                locked.setCheckState(Qt.CheckState.Checked if entry.locked else Qt.CheckState.Unchecked)
                locked.setToolTip("Locked labels are never painted over, erased or cleaned up")
                for column, item in ((COLOUR, swatch), (VALUE, value), (NAME, name),
                                     (VISIBLE, visible), (LOCKED, locked)):
                    self.table.setItem(row, column, item)
            self._select_active()
        finally:
            self._updating = False

    def _select_active(self) -> None:
        session = self.session
        if session is None:
            self.active_label.setText("")
            return
        active = int(session.active_label)
        row = self.row_of(active)
        was = self._updating
        self._updating = True
        try:
            if row is not None:
                self.table.selectRow(row)
            else:
                self.table.clearSelection()
        finally:
            self._updating = was
        self.active_label.setText(f"Active label: {active} {session.label_table.name_of(active)}")

    def row_of(self, value: int) -> int | None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, VALUE)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == value:
                return row
        return None

    def value_at(self, row: int) -> int | None:
        item = self.table.item(row, VALUE)
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    # == table -> model ======================================================================
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or self.session is None:
            return
        value = self.value_at(item.row())
        if value is None or value not in self.session.label_table:
            return
        column = item.column()
        if column == NAME:
            name = item.text().strip() or f"Label {value}"
            self.rename(value, name)
        elif column == VISIBLE:
            self.set_visible(value, item.checkState() == Qt.CheckState.Checked)
        elif column == LOCKED:
            self.set_locked(value, item.checkState() == Qt.CheckState.Checked)

    def _on_selection(self) -> None:
        if self._updating:
            return
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if len(rows) == 1:
            value = self.value_at(rows.pop())
            if value is not None:
                self.controller.set_active_label(value)
                self._select_active()

    def _on_double_click(self, row: int, column: int) -> None:
        if column == COLOUR:
            value = self.value_at(row)
            if value is not None:
                self.choose_colour(value)

    # == operations (also called by tests and shortcuts) ======================================
    def add_label(self, name: str | None = None, colour=None) -> int | None:
        """Add a label with the next free value and make it active; returns its value."""
        session = self.session
        if session is None:
            return None
        value = max(session.label_table.max_value, int(session.labels.array.max(initial=0))) + 1
        entry = session.label_table.add(value, name, colour)
        self.controller.set_active_label(entry.value)
        self._select_active()
        return entry.value

    def rename(self, value: int, name: str) -> None:
        self.session.label_table.update(value, name=name)

    def recolour(self, value: int, colour) -> None:
        self.session.label_table.update(value, colour=tuple(int(c) for c in colour))

    def set_visible(self, value: int, visible: bool) -> None:
        self.session.label_table.update(value, visible=bool(visible))

    def set_locked(self, value: int, locked: bool) -> None:
        self.session.label_table.update(value, locked=bool(locked))

    def choose_colour(self, value: int) -> None:
        current = QColor(*self.session.label_table.colour_of(value))
        colour = QColorDialog.getColor(current, self, f"Colour of label {value}")
        if colour.isValid():
            self.recolour(value, (colour.red(), colour.green(), colour.blue()))

    def _remove_selected(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if len(rows) == 1:
            value = self.value_at(rows.pop())
            if value is not None:
                self.remove_label(value)

    def remove_label(self, value: int) -> bool:
        """Remove ``value`` from the table; its voxels are cleared first (one undo step).

        A locked label is refused (unlock it first)."""
        session = self.session
        if session is None or value not in session.label_table:
            return False
        if session.label_table[value].locked:
            self.message.emit(f"Label {value} is locked: unlock it to remove it")
            return False
        if (session.labels.array == value).any():
            clear_label(session, value)
        session.label_table.remove(value)
        if session.active_label == value:
            values = session.label_table.values
            if values:
                self.controller.set_active_label(values[0])
        self.message.emit(f"Removed label {value}")
        return True

    def pick_number(self, number: int) -> None:
        """Keys 1–9: the label with that value, else the n-th row."""
        session = self.session
        if session is None:
            return
        values = session.label_table.values
        if number in values:
            self.controller.set_active_label(number)
        elif 1 <= number <= len(values):
            self.controller.set_active_label(values[number - 1])

    def step_active(self, delta: int) -> None:
        """"," / ".": the previous / next label of the table."""
        session = self.session
        if session is None or not len(session.label_table):
            return
        values = session.label_table.values
        active = session.active_label
        if active in values:
            index = (values.index(active) + delta) % len(values)
        else:
            index = 0
        self.controller.set_active_label(values[index])

    # == import / export ======================================================================
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import label table", "", TABLE_FILTER)
        if path:
            self.import_table(path)

    def import_table(self, path: str | Path) -> bool:
        """Replace the table's rows by those of a file (labels absent from it keep default rows)."""
        from segviewer.io.label_table import read_label_table

        session = self.session
        if session is None:
            return False
        try:
            table = read_label_table(path)
        except SegviewerError as error:
            self._warn("Could not import the label table", str(error))
            return False
        session.label_table.replace_all(list(table))
        session.label_table.ensure(session.labels.present_values())
        self.message.emit(f"Imported {len(table)} labels from {Path(path).name}")
        return True

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export label table", "labels.label", TABLE_FILTER)
        if path:
            self.export_table(path)

    def export_table(self, path: str | Path) -> bool:
        """Write the table: JSON for ``.json``, ITK-SNAP's format otherwise."""
        from segviewer.io.label_table import write_label_table
        from segviewer.views.files import session_guard

        if self.session is None:
            return False
        try:  # never over the image or a layer's file (a .nii.gz picked by mistake)
            write_label_table(path, self.session.label_table, guard=session_guard(self.session))
        except (SegviewerError, OSError) as error:
            self._warn("Could not export the label table", str(error))
            return False
        self.message.emit(f"Exported the label table to {Path(path).name}")
        return True

    def _warn(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        from PySide6.QtWidgets import QApplication

        if QApplication.platformName() != "offscreen" and not getattr(self.window(), "_quiet_errors", False):
            QMessageBox.warning(self, title, text)

    # == shortcuts ================================================================================
    def actions_for(self, owner: QWidget) -> list[tuple[QAction, str, str]]:
        """Window-wide actions: keys 1–9, "," and "." (returned with key text and description)."""
        result = []
        for number in range(1, 10):
            action = QAction(f"Label {number}", owner)
            action.setShortcut(QKeySequence(str(number)))
            action.triggered.connect(lambda _=False, n=number: self.pick_number(n))
            result.append((action, str(number), f"Active label {number} (else the {number}th row)"))
        for key, delta, text in ((",", -1, "Previous label"), (".", 1, "Next label")):
            action = QAction(text, owner)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(lambda _=False, d=delta: self.step_active(d))
            result.append((action, key, text))
        return result
