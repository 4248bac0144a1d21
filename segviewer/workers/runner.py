"""The background compute runner: one dedicated thread, plain Python (no Qt).

* **Latest wins**: every job has a ``key`` (``"preview"`` for the method panel's runs).
  Submitting a job drops the queued jobs with the same key and asks the running one with
  that key to cancel; jobs of other keys (a long fine-tuning, say) are not touched.
* **Cooperative cancel**: a job's function receives a :class:`CancelToken`; methods call
  ``raise_if_cancelled()`` between steps. A method marked ``gil_bound`` runs in a helper
  process (:mod:`segviewer.workers.process`), where cancel stops it at once.
* **Progress and results as events**: the listener is called *from the worker thread* with
  a :class:`JobEvent` (``queued``, ``started``, ``progress``, ``finished``, ``failed``,
  ``cancelled``). The GUI adapter (``segviewer.views.compute``) turns these into Qt signals;
  nothing here touches the model. Errors become messages (never a crash, never a dialog):
  a :class:`~segviewer.errors.SegviewerError` keeps its text, anything else becomes
  "<title> failed: <type>: <message>" with the traceback logged.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from segviewer.errors import SegviewerError
from segviewer.methods import offload
from segviewer.methods.base import CancelToken, Method, MethodCancelled, MethodRequest, MethodResult

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, FAILED, CANCELLED = "queued", "running", "finished", "failed", "cancelled"
#: Progress events of one job are forwarded at most this often (the last one always is).
PROGRESS_INTERVAL_S = 0.05

JobFunction = Callable[[Callable[..., None], CancelToken], Any]


@dataclass
class Job:
    """One unit of work for the worker thread."""

    id: int
    title: str
    function: JobFunction
    key: str | None = None
    cancel_token: CancelToken = field(default_factory=CancelToken)
    state: str = QUEUED
    fraction: float = 0.0
    text: str = ""
    result: Any = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    finished_at: float | None = None
    #: Free data for the submitter (e.g. the request a preview belongs to).
    context: Any = None
    _last_progress: float = 0.0

    @property
    def done(self) -> bool:
        return self.state in (FINISHED, FAILED, CANCELLED)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.perf_counter()) - self.started_at

    def cancel(self) -> None:
        self.cancel_token.cancel()


@dataclass(frozen=True)
class JobEvent:
    """What happened to a job: ``kind`` is one of queued, started, progress, finished,
    failed, cancelled. ``fraction``/``text``/``partial`` for progress; ``result`` when
    finished; ``message`` when failed or cancelled, and ``error`` (the exception) when failed,
    for a listener that can act on it (the GUI asks to trust an untrusted model)."""

    kind: str
    job: Job
    fraction: float = 0.0
    text: str = ""
    partial: Any = None
    result: Any = None
    message: str = ""
    error: BaseException | None = None


Listener = Callable[[JobEvent], None]


def error_message(title: str, error: BaseException) -> str:
    """The text shown to the user for a failed job."""
    if isinstance(error, SegviewerError):
        return str(error)
    if isinstance(error, MemoryError):
        return f"{title} failed: not enough memory (try a smaller region or close other programs)"
    return f"{title} failed: {type(error).__name__}: {error}"


class ComputeWorker:
    """A dedicated compute thread with a latest-wins queue.

    Parameters
    ----------
    listener : called from the worker thread with every :class:`JobEvent`.
    isolate_gil_bound : run methods marked ``gil_bound`` in a helper process (the GUI sets
        this; a CLI or a test can run everything in-thread).
    """

    def __init__(self, listener: Listener | None = None, isolate_gil_bound: bool = False,
                 name: str = "segviewer-compute") -> None:
        self._listeners: list[Listener] = [listener] if listener else []
        self._queue: deque[Job] = deque()
        self._condition = threading.Condition()
        self._running: Job | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._isolate = isolate_gil_bound
        self._process_runner = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: JobEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not kill the worker
                log.exception("job listener failed")

    # -- submitting ------------------------------------------------------------------------
    def submit(self, function: JobFunction, title: str = "job", key: str | None = None,
               context: Any = None) -> Job:
        """Queue ``function(progress, cancel)``; same-key jobs queued are dropped and a
        running same-key job is asked to cancel (latest wins)."""
        job = Job(next(self._ids), title, function, key, context=context)
        dropped: list[Job] = []
        with self._condition:
            if self._stopping:
                raise RuntimeError("the compute worker has been shut down")
            if key is not None:
                for queued in list(self._queue):
                    if queued.key == key:
                        self._queue.remove(queued)
                        queued.state = CANCELLED
                        queued.finished_at = time.perf_counter()
                        dropped.append(queued)
                if self._running is not None and self._running.key == key:
                    self._running.cancel()
            self._queue.append(job)
            self._condition.notify()
        for old in dropped:
            self._emit(JobEvent(CANCELLED, old, message="superseded by a newer request"))
        self._emit(JobEvent(QUEUED, job))
        return job

    def submit_method(self, method: Method, request: MethodRequest, key: str | None = "preview",
                      title: str | None = None, context: Any = None) -> Job:
        """Queue ``method.run(request, …)``: in the helper process when the method is
        ``gil_bound`` and this worker isolates such methods, else on the worker thread."""
        title = title or (method.title or method.name)
        if self._isolate and getattr(method, "gil_bound", False):
            def function(progress, cancel):
                return self._processes().run(method, request, progress, cancel)
        elif self._isolate:
            def function(progress, cancel):
                # its GIL-holding steps (segviewer.methods.offload) go to the helper process
                with offload.using(lambda step, args: self._processes().call(step, args, cancel)):
                    return method.run(request, progress, cancel)
        else:
            def function(progress, cancel):
                return method.run(request, progress, cancel)
        return self.submit(function, title, key, context)

    def _processes(self):
        if self._process_runner is None:
            from segviewer.workers.process import ProcessRunner

            self._process_runner = ProcessRunner()
        return self._process_runner

    def prestart_process(self) -> None:
        """Start the helper process now (it takes a second or two to import)."""
        if self._isolate:
            self._processes().prestart()

    # -- cancelling ----------------------------------------------------------------------
    def cancel(self, job: Job) -> None:
        """Cancel one job: dropped if queued, asked to stop if running."""
        removed = False
        with self._condition:
            if job in self._queue:
                self._queue.remove(job)
                job.state = CANCELLED
                job.finished_at = time.perf_counter()
                removed = True
            elif job is self._running:
                job.cancel()
        if removed:
            self._emit(JobEvent(CANCELLED, job, message="cancelled"))

    def cancel_all(self, key: str | None = None) -> None:
        """Cancel every job (or every job with ``key``)."""
        with self._condition:
            jobs = [j for j in self._queue if key is None or j.key == key]
            running = self._running
        for job in jobs:
            self.cancel(job)
        if running is not None and (key is None or running.key == key):
            running.cancel()

    # -- state ------------------------------------------------------------------------------
    @property
    def running_job(self) -> Job | None:
        return self._running

    def pending_jobs(self) -> list[Job]:
        with self._condition:
            return list(self._queue)

    def is_idle(self) -> bool:
        with self._condition:
            return self._running is None and not self._queue

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (tests, CLI); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._running is not None or self._queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining if remaining is not None else 0.1)
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel everything, stop the thread and the helper process. True when stopped."""
        with self._condition:
            self._stopping = True
            queued = list(self._queue)
            self._queue.clear()
            if self._running is not None:
                self._running.cancel()
            self._condition.notify_all()
        for job in queued:
            job.state = CANCELLED
            self._emit(JobEvent(CANCELLED, job, message="shut down"))
        self._thread.join(timeout)
        if self._process_runner is not None:
            self._process_runner.close()
        return not self._thread.is_alive()

    # -- the thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    self._running = None
                    self._condition.notify_all()
                    return
                job = self._queue.popleft()
                self._running = job
            try:
                self._run(job)
            finally:
                with self._condition:
                    self._running = None
                    self._condition.notify_all()

    def _run(self, job: Job) -> None:
        job.state = RUNNING
        job.started_at = time.perf_counter()
        if job.cancel_token.cancelled:
            self._finish(job, CANCELLED, message="cancelled")
            return
        self._emit(JobEvent("started", job))

        def progress(fraction: float, text: str = "", partial: Any = None) -> None:
            job.fraction = float(min(max(fraction, 0.0), 1.0))
            job.text = text
            now = time.perf_counter()
            if partial is None and now - job._last_progress < PROGRESS_INTERVAL_S and fraction < 1.0:
                return
            job._last_progress = now
            self._emit(JobEvent("progress", job, job.fraction, text, partial))

        try:
            result = job.function(progress, job.cancel_token)
        except MethodCancelled:
            self._finish(job, CANCELLED, message="cancelled")
            return
        except BaseException as error:  # noqa: BLE001 - every failure becomes a message
            if job.cancel_token.cancelled:
                self._finish(job, CANCELLED, message="cancelled")
                return
            message = error_message(job.title, error)
            if not isinstance(error, SegviewerError):
                log.error("%s\n%s", message, "".join(traceback.format_exception(error)))
            job.error = message
            self._finish(job, FAILED, message=message, error=error)
            return
        if job.cancel_token.cancelled:  # finished, but nobody wants it any more
            self._finish(job, CANCELLED, message="cancelled")
            return
        job.result = result
        self._finish(job, FINISHED, result=result)

    def _finish(self, job: Job, state: str, result: Any = None, message: str = "",
                error: BaseException | None = None) -> None:
        job.state = state
        job.finished_at = time.perf_counter()
        if state == FINISHED:
            job.fraction = 1.0
        self._emit(JobEvent(state, job, job.fraction, job.text, result=result, message=message, error=error))


def run_method_sync(method: Method, request: MethodRequest, progress=None,
                    cancel: CancelToken | None = None) -> MethodResult:
    """Run a method on the calling thread (CLI): the same code the worker runs."""
    from segviewer.methods.base import no_progress

    return method.run(request, progress or no_progress, cancel or CancelToken())
