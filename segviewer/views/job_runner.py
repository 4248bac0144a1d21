"""One background job at a time for a dock or dialog: ``function(progress, cancel)`` runs on
its own :class:`~segviewer.workers.runner.ComputeWorker` thread; progress goes to the window's
progress area (``controller.report_progress``), the result or a one-line error comes back on
the GUI thread, and :meth:`JobRunner.cancel` stops it between steps.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal

from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker, JobEvent

#: The kind of a worker's progress events.
PROGRESS = "progress"


class JobRunner(QObject):
    """Runs jobs for one owner; ``busy`` while one runs. Emits ``finished(result)``,
    ``failed(message)`` and ``cancelled()`` on the GUI thread."""

    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busy_changed = Signal(bool)
    _event = Signal(object)  # a JobEvent from the worker thread, delivered on the GUI thread

    def __init__(self, controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._worker: ComputeWorker | None = None
        self._job = None
        self._event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def run(self, function: Callable[[Callable, Any], Any], title: str) -> None:
        """Start ``function(progress, cancel)`` (a newer job replaces a running one)."""
        if self._worker is None:
            self._worker = ComputeWorker(self._event.emit, name=f"segviewer-{title.split()[0].lower()}")
        self._job = self._worker.submit(function, title=title, key="job")
        self.controller.report_progress(-1, title)
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        if self._job is not None and self._worker is not None:
            self._worker.cancel(self._job)

    def shutdown(self) -> None:
        """Stop the worker thread (after each job, or when the owner closes); the next
        :meth:`run` starts another."""
        if self._worker is not None:
            self._worker.cancel_all()
            self._worker.shutdown()
            self._worker = None

    def _on_event(self, event: JobEvent) -> None:
        if event.job is not self._job:
            return  # a replaced job
        if event.kind == PROGRESS:
            self.controller.report_progress(event.fraction, event.text or event.job.title)
            return
        if event.kind not in (FINISHED, FAILED, CANCELLED):
            return
        self._job = None
        self.shutdown()  # no idle thread is left behind; the next run starts one (cheap)
        self.busy_changed.emit(False)
        if event.kind == FINISHED:
            self.controller.finish_progress(f"{event.job.title}: done")
            self.finished.emit(event.result)
        elif event.kind == FAILED:
            self.controller.finish_progress(f"{event.job.title}: failed")
            self.failed.emit(event.message)
        else:
            self.controller.finish_progress(f"{event.job.title}: cancelled")
            self.cancelled.emit()
