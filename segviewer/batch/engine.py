"""The batch engine: one Dask task per case, resumable, a failing case recorded and passed.

A batch is a list of :class:`CaseJob` (a task function of :mod:`segviewer.batch.tasks`
with its arguments, the request that decides the result, and the folder of records).
:func:`run_jobs` skips the cases already done for the same request, submits the others to
the cluster and collects their rows as they finish:

- :func:`execute` runs on a worker: it calls the task, turns any error into the case's
  row (status ``failed`` and the one-line error; the batch goes on) and writes the case's
  record after its outputs (:mod:`segviewer.batch.records`).
- A worker that dies mid-case is replaced by its nanny and the scheduler runs the case
  again on a live worker (Dask's own recovery, up to ``distributed.scheduler.allowed-failures``
  times; after that the case is failed with Dask's ``KilledWorker``). The outputs are
  written atomically, so the dead attempt left nothing half-written.
- Progress (:class:`BatchProgress`: cases done, rate, ETA) goes to a callback after each
  case; a :class:`~segviewer.methods.base.CancelToken` stops the batch (cases not started
  are cancelled, their rows say so).

:func:`batch_job` wraps a batch as a job of :class:`segviewer.workers.runner.ComputeWorker`
(``progress(fraction, text)``, cancel), which is how the app runs one with its Jobs dock.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from segviewer.batch.records import CANCELLED, DONE, FAILED, SKIPPED, RecordStore
from segviewer.errors import SegviewerError
from segviewer.methods.base import CancelToken

#: How often the engine looks at a cancel request while it waits for cases (seconds).
CANCEL_POLL_S = 0.2


@dataclass(frozen=True)
class CaseJob:
    """One case of a batch: ``task(**arguments)`` returns the case's row (a dict)."""

    case: str
    task: Callable[..., dict]
    arguments: dict
    #: what decides the result (method, parameters, inputs, versions); its hash is ``key``
    request: dict
    key: str
    #: the output folder whose ``batch-records`` make the batch resumable (None: not resumable)
    records: Path | None = None


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands after a case: ``done`` counts every case ended (including the
    failed and the skipped); rate and ETA count only the cases computed in this run."""

    done: int
    total: int
    failed: int
    skipped: int
    elapsed: float
    row: dict | None = None

    @property
    def computed(self) -> int:
        return self.done - self.skipped

    @property
    def rate(self) -> float | None:
        """Cases computed per second, None before the first one."""
        return self.computed / self.elapsed if self.computed and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, None before the first case."""
        return (self.total - self.done) / self.rate if self.rate else None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def text(self) -> str:
        """``12/24 cases (1 failed, 3 skipped), 1.9 cases/s, ETA 0:06``"""
        extras = [f"{count} {what}" for count, what in ((self.failed, "failed"), (self.skipped, "skipped")) if count]
        parts = [f"{self.done}/{self.total} cases" + (f" ({', '.join(extras)})" if extras else "")]
        if self.rate:
            parts.append(f"{self.rate:.2f} cases/s")
        if self.eta is not None and self.done < self.total:
            parts.append(f"ETA {format_duration(self.eta)}")
        return ", ".join(parts)


@dataclass
class BatchResult:
    """Every case's row, in the order of the jobs, and how the batch went."""

    rows: list[dict]
    seconds: float
    workers: int
    dashboard: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row in self.rows:
            self.counts[row["status"]] = self.counts.get(row["status"], 0) + 1

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["status"] in (FAILED, CANCELLED)]


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    minutes, second = divmod(int(round(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def worker_name() -> str:
    """``host:pid`` of the process running a case (the row says where it ran)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(job: CaseJob) -> dict:
    """Run one case on a worker and record how it ended. Any error of the case becomes its
    row; only a failure to write the record itself propagates (Dask then reports it)."""
    started = time.perf_counter()
    row: dict[str, Any] = {"case": job.case, "status": DONE, "error": ""}
    try:
        row.update(job.task(**job.arguments))
    except SegviewerError as error:
        row.update(status=FAILED, error=str(error))
    except Exception as error:  # noqa: BLE001 - a bug in one case must not stop the batch
        row.update(status=FAILED, error=f"internal error: {type(error).__name__}: {error}",
                   traceback=traceback.format_exc())
    row.update(seconds=round(time.perf_counter() - started, 3), worker=worker_name())
    if job.records is not None:
        RecordStore(job.records).write(job.case, job.key, job.request, row)
    return row


def run_jobs(client, jobs: list[CaseJob], *, on_progress: Callable[[BatchProgress], None] | None = None,
             cancel: CancelToken | None = None, rerun: bool = False) -> BatchResult:
    """Run every job not already done on the cluster of ``client``; rows in job order.

    ``rerun`` runs every case even when its record says it is done.
    """
    from distributed import wait

    started = time.perf_counter()
    rows: dict[str, dict] = {}
    counts = {"failed": 0, "skipped": 0}

    def ended(row: dict) -> None:
        rows[row["case"]] = row
        counts["failed"] += row["status"] in (FAILED, CANCELLED)
        counts["skipped"] += row["status"] == SKIPPED
        if on_progress is not None:
            on_progress(BatchProgress(len(rows), len(jobs), counts["failed"], counts["skipped"],
                                      time.perf_counter() - started, row))

    pending = {}
    for job in jobs:
        record = None if rerun or job.records is None else RecordStore(job.records).finished(job.case, job.key)
        if record is not None:
            ended({"case": job.case, "status": SKIPPED, "error": "", "outputs": record.get("outputs", []),
                   "seconds": 0.0, "worker": record.get("worker", "")})
            continue
        # a unique key: a rerun on a shared scheduler must not be answered from an old result
        future = client.submit(execute, job, key=f"segviewer-{job.case}-{uuid.uuid4().hex[:12]}", pure=False)
        pending[future] = job
    while pending:
        if cancel is not None and cancel.cancelled:
            client.cancel(list(pending))
            for job in pending.values():
                ended({"case": job.case, "status": CANCELLED, "error": "cancelled before it ended", "seconds": 0.0})
            break
        try:
            finished, _ = wait(list(pending), timeout=CANCEL_POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        for future in finished:
            job = pending.pop(future)
            ended(_collect(future, job))
    return BatchResult([rows[job.case] for job in jobs], time.perf_counter() - started, _workers(client))


def _collect(future, job: CaseJob) -> dict:
    """The row of a finished future; a case Dask gave up on (its worker died again and
    again: ``KilledWorker``) is failed and recorded here, since no worker could."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - whatever Dask raises ends this one case
        row = {"case": job.case, "status": FAILED, "error": f"{type(error).__name__}: {error}", "seconds": 0.0,
               "worker": ""}
        if job.records is not None:
            RecordStore(job.records).write(job.case, job.key, job.request, row)
        return row


def _workers(client) -> int:
    try:
        return len(client.scheduler_info(n_workers=-1).get("workers", {}))
    except Exception:  # noqa: BLE001 - a closed client has no workers to count
        return 0


def batch_job(run: Callable[..., BatchResult]) -> Callable[[Callable[..., None], CancelToken], BatchResult]:
    """A batch as a :class:`~segviewer.workers.runner.ComputeWorker` job: ``run(on_progress=…,
    cancel=…)`` (e.g. a ``functools.partial`` of :func:`segviewer.batch.api.run_segment_batch`)
    reports ``progress(fraction, text)`` after each case and stops on the job's cancel."""

    def function(progress: Callable[..., None], cancel: CancelToken) -> BatchResult:
        return run(on_progress=lambda state: progress(state.fraction, state.text()), cancel=cancel)

    return function
