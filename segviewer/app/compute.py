"""The compute workflow with no Qt: run a method on the worker, show its result as a preview,
apply it as ONE undo step or cancel it, rerun automatically after prompt edits (debounced,
latest wins), keep the recent jobs, and stop / continue a fine-tuning.

:class:`ComputeWorkflow` owns one :class:`~segviewer.workers.runner.ComputeWorker` (the
dedicated compute thread, created on first use). The worker calls back on its own thread;
each event is handed to the injected ``post(callable)``, which must call it later on the GUI
thread (the window posts through a queued Qt signal; tests drain a queue), so everything below
runs on the GUI thread: the preview layer is set through the :class:`~segviewer.app.viewer.Viewer`,
Apply writes it as ONE undo step, Cancel drops it, progress goes to the viewer and the job list.

Auto-update (:class:`segviewer.app.scheduling.AutoRerun`, on an injected timer): after a
scribble or point edit, a single-shot timer (``DEBOUNCE_MS``) is restarted; when it fires (and
no stroke is in progress) the active method reruns on the current scribbles. A newer run
supersedes an older one (latest wins), so a result never belongs to stale scribbles.

Stop / continue: a method may answer Cancel with a last partial result marked
``info["cancelled"]`` (fine-tuning stops after the current step and keeps its tuned state);
that prediction stays as the preview, and the next run with ``continue_training`` picks up
where it stopped.

Nothing here blocks the GUI thread: building a request crops views and copies the (small)
scribble and label crops; the method runs on the worker (GIL-bound ones in a helper process).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from psygnal import Signal, SignalGroup

from segviewer.app.scheduling import AutoRerun, TimerFactory
from segviewer.app.viewer import Viewer
from segviewer.errors import SegviewerError
from segviewer.methods.base import Method, MethodResult
from segviewer.methods.request import DEFAULT_MARGIN_MM, build_request
from segviewer.model.history import Step
from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker, Job, JobEvent

log = logging.getLogger(__name__)

#: Jobs kept in the job list.
JOB_HISTORY = 50
PREVIEW_KEY = "preview"

#: Calls a function later on the GUI thread (the worker's events are posted through it).
Post = Callable[[Callable[[], None]], None]


@dataclass
class RunSettings:
    """What the method panel asks for: a method, its parameters and the ROI choice."""

    method: Method
    params: Any
    margin_mm: float = DEFAULT_MARGIN_MM
    whole_volume: bool = False


class ComputeEvents(SignalGroup):
    """What the compute workflow announces (on the GUI thread)."""

    job_event = Signal(object)  # JobEvent
    result_ready = Signal(object, object)  # Job, MethodResult (the preview now shown)
    partial_ready = Signal(object, object)  # Job, MethodResult: a live partial result now shown
    failed = Signal(str)  # message
    busy_changed = Signal(bool)
    jobs_changed = Signal()


class ComputeWorkflow:
    """Runs methods on the worker and shows their results as a preview (see the module
    docstring). ``post`` marshals the worker's events to the GUI thread; ``make_timer`` makes
    the auto-update's single-shot timer."""

    def __init__(self, viewer: Viewer, post: Post, make_timer: TimerFactory,
                 isolate_gil_bound: bool = True) -> None:
        self.events = ComputeEvents()
        self.viewer = viewer
        self._post = post
        self._isolate = isolate_gil_bound
        self._worker: ComputeWorker | None = None
        #: The recent jobs, oldest first (at most :data:`JOB_HISTORY`).
        self.jobs: list[Job] = []
        self.latest: Job | None = None
        self.last_result: MethodResult | None = None
        self.last_settings: RunSettings | None = None
        self.rerun = AutoRerun(make_timer, self.run, has_session=lambda: viewer.session is not None,
                               is_drawing=lambda: viewer.tool_active,  # a stroke in progress: rerun at its end
                               report=viewer.show_message)
        self._busy = False
        #: the run asked to stop: only its final "cancelled" partial may still show
        self._stopping: Job | None = None
        self._kept_on_stop = False
        viewer.events.scribbles_changed.connect(self.schedule)
        viewer.events.points_changed.connect(self.schedule)
        viewer.events.session_changed.connect(self._on_session)

    # -- the worker ------------------------------------------------------------------------
    @property
    def worker(self) -> ComputeWorker:
        """The compute thread (started on first use, again after a shutdown)."""
        if self._worker is None or not self._worker.alive:
            self._worker = ComputeWorker(self._from_worker, isolate_gil_bound=self._isolate)
        return self._worker

    @property
    def started(self) -> bool:
        return self._worker is not None and self._worker.alive

    def _from_worker(self, event: JobEvent) -> None:
        # on the worker thread: hand the event to the GUI thread
        self._post(partial(self._on_event, event))

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the worker thread and its helper process (window closed, app quitting)."""
        self.rerun.stop()
        worker, self._worker = self._worker, None
        ok = worker.shutdown(timeout) if worker is not None else True
        self._set_busy(False)
        return ok

    # -- running ---------------------------------------------------------------------------
    def run(self, settings: RunSettings) -> Job | None:
        """Build the request now (GUI thread, cheap) and queue the run (latest wins)."""
        session = self.viewer.session
        if session is None:
            self.events.failed.emit("open an image first")
            return None
        self.last_settings = settings
        method = settings.method
        try:
            request = build_request(session, method, settings.params, margin_mm=settings.margin_mm,
                                    whole_volume=settings.whole_volume)
        except SegviewerError as error:
            self.events.failed.emit(str(error))
            self.viewer.show_message(str(error))
            return None
        job = self.worker.submit_method(method, request, key=PREVIEW_KEY, title=method.title or method.name,
                                        context={"session": session, "settings": settings})
        self.latest = job
        self._stopping, self._kept_on_stop = None, False
        self._remember(job)
        self._set_busy(True)
        return job

    def prestart(self, method: Method | None = None) -> None:
        """Start the helper process early when the method will need it."""
        if method is not None and (method.gil_bound or method.offloads):
            self.worker.prestart_process()

    def cancel(self) -> None:
        """Cancel the preview runs and drop the preview.

        A running method may answer the cancel with a last partial result marked
        ``info["cancelled"]`` (fine-tuning: stop after the current step): that prediction
        stays as the preview, so it can still be applied (stop / continue). Otherwise, and
        when nothing is running, the preview is dropped. A run whose end is not yet heard
        here (it may have finished on the worker a moment ago) counts as running: its late
        result is not shown."""
        self.rerun.stop()
        running = self._busy and self.latest is not None
        if self._worker is not None:
            self._worker.cancel_all(PREVIEW_KEY)
        if running:
            self._stopping = self.latest  # the preview is settled by its last events
            self.viewer.report_progress(-1.0, f"{self.latest.title}: stopping…")
            return
        self.viewer.clear_preview()
        self.last_result = None
        self.viewer.finish_progress("cancelled")

    def cancel_job(self, job: Job | None = None) -> None:
        """Cancel ``job`` (the job list's selection), else the running one."""
        if not self.started:
            return
        job = job or self.worker.running_job
        if job is not None and not job.done:
            self.worker.cancel(job)

    def apply(self) -> Step | None:
        """Write the preview into the labels as ONE undo step (returns the step or None)."""
        if self.viewer.preview is None:
            self.viewer.show_message("nothing to apply: run a method first")
            return None
        step = self.viewer.apply_preview()
        self.last_result = None
        self.viewer.show_message("applied" if step is not None else "nothing changed")
        return step

    @property
    def busy(self) -> bool:
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.events.busy_changed.emit(busy)

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

    def _on_session(self) -> None:
        # another image: every run is dropped, and nothing waits for their ends any more
        self.rerun.stop()
        if self._worker is not None:
            self._worker.cancel_all()
        self.last_result = None
        self.latest = self._stopping = None
        self._set_busy(False)

    # -- events from the worker (GUI thread) ------------------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        job = event.job
        self.events.job_event.emit(event)
        self.events.jobs_changed.emit()
        if job is not self.latest:
            return  # superseded: latest wins
        if event.kind == "progress":
            self._on_progress(job, event)
        elif event.kind == "started":
            self.viewer.report_progress(0.0, f"{job.title}…")
        elif event.kind in (FINISHED, FAILED, CANCELLED):
            self._set_busy(False)
            if job is self._stopping:  # the user cancelled: a result that came anyway is dropped
                self._on_cancelled(job, event)
            else:
                {FINISHED: self._on_finished, FAILED: self._on_failed, CANCELLED: self._on_cancelled}[event.kind](
                    job, event)

    def _same_session(self, job: Job) -> bool:
        return isinstance(job.context, dict) and job.context.get("session") is self.viewer.session

    def _on_progress(self, job: Job, event: JobEvent) -> None:
        stopping = job is self._stopping
        if not stopping:
            self.viewer.report_progress(event.fraction, f"{job.title}: {event.text}")
        if isinstance(event.partial, MethodResult) and self._same_session(job):
            final = bool((event.partial.info or {}).get("cancelled"))
            if not stopping or final:  # after a cancel, only the stopped state counts
                self._show(job, event.partial)
                self._kept_on_stop = self._kept_on_stop or (stopping and final)
                self.events.partial_ready.emit(job, event.partial)

    def _on_finished(self, job: Job, event: JobEvent) -> None:
        if not self._same_session(job):
            self.viewer.finish_progress("")
            return
        self._show(job, event.result)
        seconds = job.seconds or 0.0
        self.viewer.finish_progress(f"{job.title}: preview ready ({seconds:.2f} s) — Apply to keep it")
        self.events.result_ready.emit(job, event.result)

    def _on_failed(self, job: Job, event: JobEvent) -> None:
        self.viewer.finish_progress(f"{job.title} failed")
        self.viewer.show_message(event.message)
        self.events.failed.emit(event.message)

    def _on_cancelled(self, job: Job, event: JobEvent) -> None:
        if job is not self._stopping:  # superseded by a run that was not ours
            self.viewer.finish_progress("")
            return
        self._stopping = None
        if self._kept_on_stop and self._same_session(job) and self.viewer.preview is not None:
            self.viewer.finish_progress(f"{job.title}: {job.text} — Apply to keep the preview")
            self.events.result_ready.emit(job, self.last_result)
        else:
            self.viewer.clear_preview()
            self.last_result = None
            self.viewer.finish_progress("cancelled")
        self._kept_on_stop = False

    def _show(self, job: Job, result: MethodResult) -> None:
        if not isinstance(result, MethodResult):
            return
        self.last_result = result
        try:
            self.viewer.set_preview(result.labels, result.roi, where=result.decided, description=job.title)
        except (ValueError, SegviewerError) as error:
            self.events.failed.emit(f"{job.title}: the result does not fit the image ({error})")

    def _remember(self, job: Job) -> None:
        self.jobs.append(job)
        del self.jobs[:-JOB_HISTORY]
        self.events.jobs_changed.emit()
