"""The compute worker seen from the GUI: Qt signals, preview, apply, cancel, auto-update.

:class:`ComputeController` owns one :class:`~segviewer.workers.runner.ComputeWorker` (the
dedicated compute thread, created on first use). The worker calls back on its own thread;
every event is re-emitted through a queued Qt signal, so everything below runs on the GUI
thread: the preview layer is set through the viewer controller, Apply writes it as ONE undo
step, Cancel drops it, progress goes to the status bar and the job list.

Auto-update (:class:`segviewer.app.scheduling.AutoRerun`, on a Qt timer): after a scribble or
point edit, a single-shot timer (``DEBOUNCE_MS``) is restarted; when it fires (and no stroke is
in progress) the active method reruns on the current scribbles. A newer run supersedes an older
one (latest wins), so a result never belongs to stale scribbles.

Nothing here blocks the GUI thread: building a request crops views and copies the (small)
scribble and label crops; the method runs on the worker (GIL-bound ones in a helper process).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

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

from segviewer.app.scheduling import AutoRerun
from segviewer.errors import SegviewerError
from segviewer.methods.base import Method, MethodResult
from segviewer.methods.request import DEFAULT_MARGIN_MM, build_request
from segviewer.views import background
from segviewer.views.controller import ViewerController
from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker, Job, JobEvent

log = logging.getLogger(__name__)

#: Jobs kept in the job list.
JOB_HISTORY = 50
PREVIEW_KEY = "preview"


@dataclass
class RunSettings:
    """What the method panel asks for: a method, its parameters and the ROI choice."""

    method: Method
    params: Any
    margin_mm: float = DEFAULT_MARGIN_MM
    whole_volume: bool = False


class ComputeController(QObject):
    """Runs methods on the worker and shows their results as a preview (GUI thread)."""

    job_event = Signal(object)  # JobEvent, on the GUI thread
    result_ready = Signal(object, object)  # Job, MethodResult (the preview now shown)
    partial_ready = Signal(object, object)  # Job, MethodResult: a live partial result now shown
    failed = Signal(str)  # message
    busy_changed = Signal(bool)
    jobs_changed = Signal()
    _from_worker = Signal(object)  # JobEvent, emitted on the worker thread

    def __init__(self, controller: ViewerController, parent: QObject | None = None,
                 isolate_gil_bound: bool = True) -> None:
        super().__init__(parent)
        self.controller = controller
        self._isolate = isolate_gil_bound
        self._worker: ComputeWorker | None = None
        self.jobs: list[Job] = []
        self.latest: Job | None = None
        self.last_result: MethodResult | None = None
        self.last_settings: RunSettings | None = None
        self.rerun = AutoRerun(lambda ms, call: background.single_shot_timer(self, ms, call), self.run,
                               has_session=lambda: controller.session is not None,
                               # a stroke in progress: rerun at its end
                               is_drawing=lambda: bool(getattr(controller, "_tool_active", False)),
                               report=controller.message.emit)
        self._busy = False
        #: the run asked to stop: only its final "cancelled" partial may still show
        self._stopping: Job | None = None
        self._kept_on_stop = False
        self._from_worker.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        controller.scribbles_changed.connect(lambda *_args: self.schedule())
        controller.points_changed.connect(lambda *_args: self.schedule())
        controller.session_changed.connect(self._on_session)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- the worker ------------------------------------------------------------------------
    @property
    def worker(self) -> ComputeWorker:
        """The compute thread (started on first use, again after a shutdown)."""
        if self._worker is None or not self._worker.alive:
            self._worker = ComputeWorker(self._from_worker.emit, isolate_gil_bound=self._isolate)
        return self._worker

    @property
    def started(self) -> bool:
        return self._worker is not None and self._worker.alive

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the worker thread and its helper process (window closed, app quitting)."""
        self.rerun.stop()
        worker, self._worker = self._worker, None
        ok = worker.shutdown(timeout) if worker is not None else True
        self._set_busy(False)
        return ok

    def watch_window(self, window: QWidget) -> None:
        """Shut the worker down when ``window`` is closed (restarted on next use)."""
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Hide and not event.spontaneous():
            self.shutdown()
        return False

    # -- running ---------------------------------------------------------------------------
    def run(self, settings: RunSettings) -> Job | None:
        """Build the request now (GUI thread, cheap) and queue the run (latest wins)."""
        session = self.controller.session
        if session is None:
            self.failed.emit("open an image first")
            return None
        self.last_settings = settings
        method = settings.method
        try:
            request = build_request(session, method, settings.params, margin_mm=settings.margin_mm,
                                    whole_volume=settings.whole_volume)
        except SegviewerError as error:
            self.failed.emit(str(error))
            self.controller.message.emit(str(error))
            return None
        title = method.title or method.name
        job = self.worker.submit_method(method, request, key=PREVIEW_KEY, title=title,
                                        context={"session": session, "settings": settings})
        self.latest = job
        self._stopping, self._kept_on_stop = None, False
        self._remember(job)
        self._set_busy(True)
        return job

    def prestart(self, method: Method | None = None) -> None:
        """Start the helper process early when the method will need it."""
        if method is not None and (getattr(method, "gil_bound", False) or getattr(method, "offloads", False)):
            self.worker.prestart_process()

    def cancel(self) -> None:
        """Cancel the preview runs and drop the preview.

        A running method may answer the cancel with a last partial result marked
        ``info["cancelled"]`` (fine-tuning: stop after the current step): that prediction
        stays as the preview, so it can still be applied (stop / continue). Otherwise, and
        when nothing is running, the preview is dropped."""
        self.rerun.stop()
        running = self._busy and self.latest is not None and not self.latest.done
        if self._worker is not None:
            self._worker.cancel_all(PREVIEW_KEY)
        if running:
            self._stopping = self.latest  # the preview is settled by its last events
            self.controller.report_progress(-1.0, f"{self.latest.title}: stopping…")
            return
        self.controller.clear_preview()
        self.last_result = None
        self.controller.finish_progress("cancelled")

    def apply(self):
        """Write the preview into the labels as ONE undo step (returns the step or None)."""
        if self.controller.preview is None:
            self.controller.message.emit("nothing to apply: run a method first")
            return None
        step = self.controller.apply_preview()
        self.last_result = None
        self.controller.message.emit("applied" if step is not None else "nothing changed")
        return step

    @property
    def busy(self) -> bool:
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # -- auto-update: the app tier's AutoRerun -------------------------------------------------
    @property
    def auto_update(self) -> bool:
        return self.rerun.enabled

    @property
    def settings_provider(self) -> Callable[[], RunSettings | None] | None:
        """Called on the GUI thread to get the panel's current settings for auto-update."""
        return self.rerun.settings_provider

    @settings_provider.setter
    def settings_provider(self, provider: Callable[[], RunSettings | None] | None) -> None:
        self.rerun.settings_provider = provider

    def set_auto_update(self, on: bool) -> None:
        self.rerun.set_enabled(on)

    def schedule(self) -> None:
        """Rerun soon (debounced) when auto-update is on: a prompt or a parameter changed."""
        self.rerun.schedule()

    def _on_session(self, _session) -> None:
        self.rerun.stop()
        if self._worker is not None:
            self._worker.cancel_all()
        self.last_result = None
        self.latest = None

    # -- events from the worker (GUI thread) ------------------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        job = event.job
        self.job_event.emit(event)
        self.jobs_changed.emit()
        is_latest = job is self.latest
        same_session = isinstance(job.context, dict) and job.context.get("session") is self.controller.session
        stopping = job is self._stopping
        if event.kind == "progress":
            if is_latest:
                if not stopping:
                    self.controller.report_progress(event.fraction, f"{job.title}: {event.text}")
                if isinstance(event.partial, MethodResult) and same_session:
                    final = bool((event.partial.info or {}).get("cancelled"))
                    if not stopping or final:  # after a cancel, only the stopped state counts
                        self._show(job, event.partial)
                        self._kept_on_stop = self._kept_on_stop or (stopping and final)
                        self.partial_ready.emit(job, event.partial)
            return
        if event.kind == "started" and is_latest:
            self.controller.report_progress(0.0, f"{job.title}…")
            return
        if event.kind not in (FINISHED, FAILED, CANCELLED):
            return
        if not is_latest:
            return
        self._set_busy(False)
        if event.kind == FINISHED:
            if not same_session:
                self.controller.finish_progress("")
                return
            result = event.result
            self._show(job, result)
            seconds = job.seconds or 0.0
            self.controller.finish_progress(f"{job.title}: preview ready ({seconds:.2f} s) — Apply to keep it")
            self.result_ready.emit(job, result)
        elif event.kind == FAILED:
            self.controller.finish_progress(f"{job.title} failed")
            self.controller.message.emit(event.message)
            self.failed.emit(event.message)
        elif stopping:
            self._stopping = None
            if self._kept_on_stop and same_session and self.controller.preview is not None:
                self.controller.finish_progress(f"{job.title}: {job.text} — Apply to keep the preview")
                self.result_ready.emit(job, self.last_result)
            else:
                self.controller.clear_preview()
                self.last_result = None
                self.controller.finish_progress("cancelled")
            self._kept_on_stop = False
        else:
            self.controller.finish_progress("")

    def _show(self, job: Job, result: MethodResult) -> None:
        if not isinstance(result, MethodResult):
            return
        self.last_result = result
        try:
            self.controller.set_preview(result.labels, result.roi, where=result.decided,
                                        description=job.title)
        except (ValueError, SegviewerError) as error:
            self.failed.emit(f"{job.title}: the result does not fit the image ({error})")

    def _remember(self, job: Job) -> None:
        self.jobs.append(job)
        del self.jobs[:-JOB_HISTORY]
        self.jobs_changed.emit()


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
        job = self.selected_job() or (self.compute.worker.running_job if self.compute.started else None)
        if job is not None and not job.done and self.compute.started:
            self.compute.worker.cancel(job)
