"""The compute thread: latest wins, cooperative cancel, progress, errors as messages,
clean shutdown (no thread left behind)."""

from __future__ import annotations

import threading
import time

import pytest

from segviewer.methods.base import CancelToken, MethodInputError
from segviewer.methods.registry import get_method
from segviewer.methods.request import build_request_from_arrays
from segviewer.model.geometry import Geometry
from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append((event.kind, event.job.id, event.message, event.fraction, event.text))

    def kinds(self, job_id):
        with self.lock:
            return [e[0] for e in self.events if e[1] == job_id]


@pytest.fixture
def worker():
    recorder = Recorder()
    w = ComputeWorker(recorder)
    w.recorder = recorder
    yield w
    assert w.shutdown(5.0)
    assert not w.alive


def slow(seconds, steps=20, result="done"):
    def function(progress, cancel: CancelToken):
        for n in range(steps):
            cancel.raise_if_cancelled()
            time.sleep(seconds / steps)
            progress((n + 1) / steps, f"step {n + 1}")
        return result
    return function


def test_runs_a_job_with_progress(worker):
    job = worker.submit(slow(0.2, result=42), "demo")
    assert worker.wait_idle(10)
    assert job.state == FINISHED and job.result == 42 and job.seconds > 0
    kinds = worker.recorder.kinds(job.id)
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "finished"
    assert "progress" in kinds
    texts = [e[4] for e in worker.recorder.events if e[0] == "progress"]
    assert texts[-1] == "step 20"


def test_latest_wins_for_the_same_key(worker):
    first = worker.submit(slow(2.0), "first", key="preview")
    time.sleep(0.1)
    second = worker.submit(slow(2.0), "second", key="preview")
    third = worker.submit(slow(0.05, result="third"), "third", key="preview")
    other = worker.submit(slow(0.05, result="other"), "other", key="training")
    assert worker.wait_idle(10)
    assert first.state == CANCELLED  # running: cancelled cooperatively
    assert second.state == CANCELLED  # queued: dropped
    assert third.state == FINISHED and third.result == "third"
    assert other.state == FINISHED  # another key is not touched
    assert "superseded" in next(e[2] for e in worker.recorder.events if e[1] == second.id and e[0] == "cancelled")


def test_cancel_a_running_job_quickly(worker):
    job = worker.submit(slow(5.0, steps=500), "long")
    time.sleep(0.1)
    started = time.perf_counter()
    worker.cancel(job)
    assert worker.wait_idle(5)
    assert job.state == CANCELLED and time.perf_counter() - started < 1.0


def test_errors_become_messages(worker):
    def user_error(progress, cancel):
        raise MethodInputError("graph cut needs scribbles")

    def bug(progress, cancel):
        raise ZeroDivisionError("division by zero")

    a = worker.submit(user_error, "Graph cut")
    b = worker.submit(bug, "Watershed")
    c = worker.submit(slow(0.01, result="still alive"), "after")
    assert worker.wait_idle(10)
    assert a.state == FAILED and a.error == "graph cut needs scribbles"
    assert b.state == FAILED and b.error == "Watershed failed: ZeroDivisionError: division by zero"
    assert c.state == FINISHED and c.result == "still alive"


def test_a_broken_listener_does_not_kill_the_worker():
    def broken(event):
        raise RuntimeError("listener bug")

    w = ComputeWorker(broken)
    job = w.submit(slow(0.01, result=1))
    assert w.wait_idle(5) and job.state == FINISHED
    assert w.shutdown(5)


def test_shutdown_cancels_everything():
    w = ComputeWorker()
    running = w.submit(slow(10.0, steps=1000), key="a")
    queued = w.submit(slow(10.0), key="b")
    time.sleep(0.05)
    assert w.shutdown(5)
    assert running.state == CANCELLED and queued.state == CANCELLED
    with pytest.raises(RuntimeError):
        w.submit(slow(0.01))


def test_submit_method_runs_the_method(worker, blob):
    image, scribbles, truth, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    method = get_method("graphcut")
    request = build_request_from_arrays(method, image, geometry, scribbles=scribbles)
    job = worker.submit_method(method, request)
    assert worker.wait_idle(30)
    assert job.state == FINISHED
    assert job.result.labels.shape == request.image.shape
    assert job.key == "preview"


def test_no_thread_left_behind():
    before = set(threading.enumerate())
    w = ComputeWorker()
    w.submit(slow(0.01))
    w.wait_idle(5)
    w.shutdown(5)
    assert set(threading.enumerate()) <= before
