"""The compute workflow seen through Qt: :class:`ComputeController` is the app tier's
:class:`segviewer.app.compute.ComputeWorkflow` (run, preview, apply as one undo step, cancel,
auto-update, job history, fine-tune stop / continue) given Qt ports: the worker's events are
posted to the GUI thread through a queued signal, the auto-update timer is a ``QTimer``, and
each workflow event is re-emitted as a Qt signal of the same name. :class:`JobList` is the
dock listing the jobs.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segviewer.app.compute import ComputeEvents, ComputeWorkflow, RunSettings
from segviewer.views import background
from segviewer.views.controller import ViewerController, qt_relay
from segviewer.workers.runner import Job

__all__ = ["ComputeController", "JobList", "RunSettings"]  # RunSettings: for the method panel


class ComputeController(ComputeWorkflow, qt_relay(ComputeEvents)):
    """A :class:`ComputeWorkflow` on the GUI thread whose events are also Qt signals."""

    _posted = Signal(object)  # a callable from the worker thread, called on the GUI thread

    def __init__(self, controller: ViewerController, parent: QObject | None = None,
                 isolate_gil_bound: bool = True) -> None:
        QObject.__init__(self, parent)
        ComputeWorkflow.__init__(self, controller, self._posted.emit,
                                 lambda ms, call: background.single_shot_timer(self, ms, call),
                                 isolate_gil_bound=isolate_gil_bound)
        self.controller = controller
        self._posted.connect(self._call, Qt.ConnectionType.QueuedConnection)
        self.relay(self.events)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @staticmethod
    def _call(function: Callable[[], None]) -> None:
        function()

    def watch_window(self, window: QWidget) -> None:
        """Shut the worker down when ``window`` is closed (restarted on next use)."""
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Hide and not event.spontaneous():
            self.shutdown()
        return False


class JobList(QWidget):
    """A dock listing recent jobs: title, state, progress, time, message; Cancel for the
    selected or running one."""

    COLUMNS = ("Job", "State", "Progress", "Time", "Message")

    def __init__(self, compute: ComputeController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.compute = compute
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.cancel_button = QPushButton("Cancel job")
        self.cancel_button.clicked.connect(self.cancel_selected)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._last_refresh = 0.0
        self._pending = background.single_shot_timer(self, 100, self.refresh)
        compute.jobs_changed.connect(self._schedule)

    def _schedule(self) -> None:
        # progress can arrive every 50 ms: repaint the table at most ~10 times a second
        if not self._pending.isActive():
            self._pending.start()

    def refresh(self) -> None:
        jobs = list(reversed(self.compute.jobs))
        self.table.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            seconds = job.seconds
            values = (job.title, job.state, f"{100 * job.fraction:.0f}%",
                      "" if seconds is None else f"{seconds:.2f} s", job.error or job.text)
            for column, value in enumerate(values):
                item = self.table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, column, item)
                item.setText(str(value))
        self._last_refresh = time.perf_counter()

    def selected_job(self) -> Job | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        jobs = list(reversed(self.compute.jobs))
        row = rows[0].row()
        return jobs[row] if row < len(jobs) else None

    def cancel_selected(self) -> None:
        self.compute.cancel_job(self.selected_job())
