"""The case navigator dock: a campaign's cases with their state, annotators and time; filter
and sort; Previous / Next / Next unfinished (with shortcuts); Done and Needs review; a progress
bar for the whole campaign.

The work is :class:`segviewer.app.campaign.CampaignNavigator` (no Qt): it saves the open case
when switching and opens the next on the window's file workflow. This dock adds what a window
has: the list, a prompt before breaking someone's lock, a timer that keeps the case's lock
alive, and the view state carried from case to case (window/level; layout, tool and label
table stay as they are).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QDockWidget, QFileDialog, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from segviewer.app.campaign import (DONE, FINISHED_STATES, NEEDS_REVIEW, STATES, Campaign, CampaignNavigator,
                                    CaseRow, LockInfo, default_annotator)
from segviewer.app.campaign.prelabel import CampaignPrelabel, model_defaults
from segviewer.app.campaign.records import ANNOTATOR_SETTING, check_annotator
from segviewer.app.campaign.retrain import AutoRetrain, retrain_every
from segviewer.errors import SegviewerError
from segviewer.views import background

COLUMNS = ("#", "Case", "State", "Annotators", "Time", "Note")
#: The filter's choices besides the states themselves.
ALL, UNFINISHED = "All cases", "Unfinished"
#: How often the open case's lock is refreshed and the list re-read (others' progress), ms.
TICK_MS = 60_000
#: (name, text, shortcut, what it calls on the dock).
DOCK_ACTIONS = (
    ("previous", "Previous case", "Ctrl+Alt+Left", "previous_case"),
    ("next", "Next case", "Ctrl+Alt+Right", "next_case"),
    ("next_unfinished", "Next unfinished case", "Ctrl+Alt+N", "next_unfinished"),
    ("done", "Done, next unfinished", "Ctrl+Alt+D", "mark_done"),
    ("needs_review", "Needs review", None, "mark_needs_review"),
    ("batch", "Run a method on the cases…", None, "run_batch"),
)


def format_minutes(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}" if seconds else ""


class CaseTableModel(QAbstractTableModel):
    """The case rows (:class:`CaseRow`) as a table; sorting keys are the raw values."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[CaseRow] = []
        self.current: str | None = None

    def set_rows(self, rows: list[CaseRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def update_row(self, row: CaseRow) -> None:
        if 0 <= row.index < len(self.rows):
            self.rows[row.index] = row
            self.dataChanged.emit(self.index(row.index, 0), self.index(row.index, len(COLUMNS) - 1))

    def set_current(self, case_id: str | None) -> None:
        self.current = case_id
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(row.index + 1), row.id, row.state, ", ".join(row.annotators),
                    format_minutes(row.seconds), self._note(row))[column]
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return (row.index, row.id, STATES.index(row.state), len(row.finished_by), row.seconds,
                    self._note(row))[column]
        if role == Qt.ItemDataRole.FontRole and row.id == self.current:
            font = QApplication.font()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._note(row) or None
        return None

    @staticmethod
    def _note(row: CaseRow) -> str:
        return f"being edited by {row.locked_by}" if row.locked_by else row.comment


class CaseFilter(QSortFilterProxyModel):
    """Rows of one state (or unfinished ones) whose id contains a text."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.state = ALL
        self.text = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_filter(self, state: str, text: str) -> None:
        self.beginFilterChange()
        self.state, self.text = state, text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802 - Qt's name
        row = self.sourceModel().rows[source_row]
        if self.text and self.text not in row.id.lower():
            return False
        if self.state == UNFINISHED:
            return row.state not in FINISHED_STATES
        return self.state == ALL or row.state == self.state


class CampaignDock(QWidget):
    """The case navigator for ``window`` (a :class:`~segviewer.views.main_window.MainWindow`);
    empty until a campaign is opened (:meth:`open_campaign`)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.navigator: CampaignNavigator | None = None
        self.prelabel: CampaignPrelabel | None = None  # the campaign model's preview of each opened case
        self.retrain: AutoRetrain | None = None
        self._carried_window: tuple[float, float] | None = None
        self._rows_thread = None
        self.batch = None  # the campaign batch (views.campaign_batch), made when first asked for

        self.title = QLabel("No campaign open.")
        self.title.setWordWrap(True)
        self.open_button = QPushButton("Open campaign…")
        self.open_button.clicked.connect(self.open_campaign_dialog)
        self.state_filter = QComboBox()
        self.state_filter.addItems([ALL, UNFINISHED, *STATES])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by case id")
        self.search.setClearButtonEnabled(True)
        self.model = CaseTableModel(self)
        self.proxy = CaseFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.activated.connect(self._on_activated)  # double click or Enter
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m cases finished")

        self.actions_by_name: dict[str, QAction] = {}
        buttons = QHBoxLayout()
        states = QHBoxLayout()
        for name, text, keys, slot in DOCK_ACTIONS:
            action = QAction(text, self)
            if keys:
                action.setShortcut(QKeySequence(keys))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                action.setToolTip(f"{text} ({keys})")
                window.register_shortcut(keys, text, "Campaign")  # listed in Help > Shortcuts
            action.triggered.connect(getattr(self, slot))
            window.addAction(action)  # the shortcut works wherever the focus is
            self.actions_by_name[name] = action
            button = QToolButton()
            button.setDefaultAction(action)
            (buttons if name in ("previous", "next", "next_unfinished") else states).addWidget(button)

        filters = QHBoxLayout()
        filters.addWidget(self.state_filter)
        filters.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.open_button)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addLayout(states)
        layout.addWidget(self.progress)
        self.state_filter.currentTextChanged.connect(self._on_filter)
        self.search.textChanged.connect(self._on_filter)
        self.proxy.layoutChanged.connect(self._follow_visible_order)
        self.proxy.rowsInserted.connect(self._follow_visible_order)
        self.proxy.rowsRemoved.connect(self._follow_visible_order)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        window.installEventFilter(self)  # save the case before the window closes
        self._set_enabled(False)

    # == opening a campaign =========================================================================
    def open_campaign_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open campaign folder", str(Path.home()))
        if not folder:
            return
        name, accepted = QInputDialog.getText(self, "Annotator", "Your name (recorded with every save):",
                                              text=default_annotator(self.window.settings))
        if not accepted:
            return
        try:
            self.open_campaign(Campaign.open(folder), check_annotator(name))
        except SegviewerError as error:
            self.window.show_error("Could not open the campaign", str(error))

    def open_campaign(self, campaign: Campaign, annotator: str, case_id: str | None = None, *,
                      order: str = "in-order", seed: int = 0) -> CampaignNavigator:
        """Show ``campaign`` for ``annotator`` (remembered in the settings) and open ``case_id``,
        else the next unfinished case in ``order`` (a next-case strategy, app/campaign/strategies.py)."""
        if self.navigator is not None:
            self.window.controller.session_changed.disconnect(self.navigator.session_replaced)
            self.navigator.close()
        self.window.settings.setValue(ANNOTATOR_SETTING, annotator)
        store = getattr(getattr(self.window, "editing", None), "store", None)
        navigator = CampaignNavigator(campaign, annotator, self.window.documents, recovery=store,
                                      ask_break_lock=self.ask_break_lock)
        self.navigator = navigator
        navigator.set_strategy(order, seed)
        self.retrain = AutoRetrain(navigator) if retrain_every(campaign) else None  # campaign.json retrain_every
        panel = getattr(self.window, "method_panel", None)
        if panel is not None:  # the campaign model pre-labels each case and is the methods' starting model
            self.prelabel = CampaignPrelabel(navigator, panel.compute)
            navigator.events.case_opened.connect(lambda _case: panel.set_parameter_defaults(model_defaults(campaign)))
        navigator.events.rows_changed.connect(self._on_rows_changed)
        navigator.events.saved.connect(self._refresh_row)
        navigator.events.case_opened.connect(self._on_case_opened)
        self.window.controller.session_changed.connect(navigator.session_replaced)
        holder = self.parentWidget()
        if isinstance(holder, QDockWidget):  # hidden until a campaign is open
            holder.show()
            holder.raise_()
        self.title.setText(f"<b>{campaign.name}</b> — {annotator}")
        self.open_button.hide()
        self.model.set_rows(navigator.rows())
        self._follow_visible_order()
        self._update_progress()
        self._set_enabled(True)
        self.timer.start()
        target = case_id or navigator.next_unfinished() or (campaign.case_ids() or [None])[0]
        if target is not None:
            self.open_case(target)
        return navigator

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.state_filter, self.search, self.table, self.progress):
            widget.setEnabled(enabled)
        for action in self.actions_by_name.values():
            action.setEnabled(enabled)

    # == moving =====================================================================================
    def open_case(self, case_id: str) -> bool:
        """Save the open case and open ``case_id`` with the same view state."""
        if self.navigator is None:
            return False
        self._remember_view_state()
        try:
            return self.navigator.open_case(case_id)
        except SegviewerError as error:
            self.window.show_error("Could not open the case", str(error))
            return False

    def previous_case(self) -> bool:
        return self._move(self.navigator.neighbour(-1) if self.navigator else None, "This is the first case.")

    def next_case(self) -> bool:
        return self._move(self.navigator.neighbour(+1) if self.navigator else None, "This is the last case.")

    def next_unfinished(self) -> bool:
        return self._move(self.navigator.next_unfinished() if self.navigator else None,
                          "Every case is finished.")

    def _move(self, case_id: str | None, otherwise: str) -> bool:
        if case_id is None:
            self.window.statusBar().showMessage(otherwise, 4000)
            return False
        return self.open_case(case_id)

    def mark_done(self) -> bool:
        """Mark the open case done and go on to the next unfinished one."""
        return self._set_state(DONE) and (self.next_unfinished() or True)

    def mark_needs_review(self) -> bool:
        return self._set_state(NEEDS_REVIEW)

    def _set_state(self, state: str) -> bool:
        if self.navigator is None or self.navigator.current is None:
            return False
        try:
            self.navigator.set_state(state)
        except SegviewerError as error:
            self.window.show_error("Could not set the state", str(error))
            return False
        return True

    def run_batch(self) -> None:
        """Ask for a method and run it on the campaign's cases (the batch engine, in the
        background; see :mod:`segviewer.views.campaign_batch`)."""
        if self.batch is None:
            from segviewer.views.campaign_batch import CampaignBatch  # noqa: PLC0415 - Dask only when asked

            self.batch = CampaignBatch(self)
        self.batch.ask_and_start()

    def ask_break_lock(self, case_id: str, info: LockInfo) -> bool:
        """Whether to break someone's live lock (a separate method so tests can answer it)."""
        answer = QMessageBox.question(
            self, "Case being edited",
            f"Case {case_id} is being edited by {info.describe()}.\n\nBreak the lock and open it anyway? "
            "Their unsaved work would then not be saved into the campaign.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # == view state carried from case to case =======================================================
    def _remember_view_state(self) -> None:
        """The window/level to carry over: only one the user chose (a default one is recomputed
        for the next image)."""
        controller = self.window.controller
        if controller.session is None:
            return
        window = tuple(controller.window)
        self._carried_window = None if window == tuple(controller.default_window()) else window

    def _on_case_opened(self, case_id: str) -> None:
        if self._carried_window is not None:
            self.window.controller.set_window_level(*self._carried_window)
        self.model.set_current(case_id)
        self._select(case_id)
        self.window.statusBar().showMessage(f"Case {case_id} ({self.navigator.record.state})", 4000)

    def _select(self, case_id: str) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 1)
            if index.data() == case_id:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return

    # == the list ===================================================================================
    def _on_activated(self, index) -> None:
        self.open_case(self.proxy.index(index.row(), 1).data())

    def _on_filter(self, *_args) -> None:
        self.proxy.set_filter(self.state_filter.currentText(), self.search.text())
        self._follow_visible_order()

    def _follow_visible_order(self, *_args) -> None:
        """Next / Previous follow the list as shown (filtered and sorted)."""
        if self.navigator is not None:
            ids = [self.proxy.index(row, 1).data() for row in range(self.proxy.rowCount())]
            self.navigator.set_order(ids)

    def _on_rows_changed(self) -> None:
        if self.navigator is not None and self.navigator.current is not None:
            self._refresh_row(self.navigator.current)

    def _refresh_row(self, case_id: str) -> None:
        if self.navigator is not None:
            self.model.update_row(self.navigator.row(case_id))
            self._update_progress()

    def _update_progress(self) -> None:
        rows = self.model.rows
        self.progress.setRange(0, max(1, len(rows)))
        self.progress.setValue(sum(1 for row in rows if row.finished_by or row.state in FINISHED_STATES))

    def _tick(self) -> None:
        """Keep the lock alive and re-read everyone's progress (in the background)."""
        navigator = self.navigator
        if navigator is None:
            return
        navigator.tick()
        if self._rows_thread is not None and self._rows_thread.is_alive():
            return

        def apply(rows) -> None:
            if navigator is self.navigator:
                self.model.set_rows(rows)
                self._update_progress()
                self._select(navigator.current) if navigator.current else None

        self._rows_thread = background.run_in_thread(navigator.rows, apply, lambda error, text: None,
                                                     name="segviewer-campaign-rows")

    # == closing ====================================================================================
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.close_campaign()
        return False

    def close_campaign(self) -> None:
        """Save the open case and release it (the window is closing)."""
        self.timer.stop()
        if self.navigator is not None:
            self.navigator.close()


def campaign_dock_of(window) -> CampaignDock:
    """The window's campaign dock (added here when the window has none)."""
    dock = getattr(window, "docks", {}).get("campaign")
    if dock is not None:
        return dock.widget()
    widget = CampaignDock(window)
    window.add_dock("campaign", widget, Qt.DockWidgetArea.LeftDockWidgetArea, title="Campaign")
    return widget
