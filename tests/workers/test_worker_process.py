"""GIL-bound methods (PyMaxflow) run in a helper process: the calling process keeps
running Python while the cut is solved; cancel and crashes are handled. Methods that run
on the worker thread send their GIL-holding steps there too (fine-tuning)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time

import numpy as np
import pytest

from segviewer.methods import offload
from segviewer.methods.base import Method
from segviewer.methods.registry import get_method
from segviewer.methods.graphcut import GraphCutParameters
from segviewer.methods.request import build_request_from_arrays
from segviewer.model.geometry import Geometry
from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker


def big_request(size=(60, 160, 160), seed=0):
    """A noisy volume whose graph cut takes a couple of seconds (multiscale off)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 1, size).astype(np.float32)
    image[:, 40:120, 40:120] += 0.8
    scribbles = np.full(size, 255, dtype=np.uint8)
    scribbles[:, 80, 60:100] = 1
    scribbles[:, 5, 5:-5] = 0
    geometry = Geometry(size[::-1], (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    method = get_method("graphcut")
    request = build_request_from_arrays(method, image, geometry, scribbles=scribbles, whole_volume=True,
                                        params=GraphCutParameters(multiscale="off"))
    return method, request


def start_a_big_cut(worker):
    """Submit the big cut and return once the helper is computing it: (method, job)."""
    method, request = big_request()
    job = worker.submit_method(method, request)
    deadline = time.monotonic() + 30
    while job.fraction <= 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return method, job


def assert_a_small_cut_finishes(worker, method, blob) -> None:
    """After a cancel or a crash the spare helper takes the next job."""
    image, scribbles, truth, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    small = build_request_from_arrays(method, image, geometry, scribbles=scribbles)
    again = worker.submit_method(method, small)
    assert worker.wait_idle(60) and again.state == FINISHED, again.error


@pytest.fixture
def worker():
    w = ComputeWorker(isolate_gil_bound=True)
    w.prestart_process()
    yield w
    processes = list(w._process_runner.processes) if w._process_runner else []
    assert w.shutdown(10)
    for process in processes:
        process.join(5)
        assert not process.is_alive()


@contextlib.contextmanager
def heartbeat():
    """Gaps (s) between the 5 ms ticks of a Python thread: long ones mean our GIL was held."""
    stop, gaps = threading.Event(), []

    def beat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        yield gaps
    finally:
        stop.set()
        thread.join()


def test_graph_cut_runs_in_the_helper_without_holding_our_gil(worker, blob):
    image, scribbles, truth, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    method = get_method("graphcut")
    small = build_request_from_arrays(method, image, geometry, scribbles=scribbles)
    job = worker.submit_method(method, small)
    assert worker.wait_idle(60) and job.state == FINISHED, job.error
    assert job.result.labels.shape == small.image.shape

    method, request = big_request()
    with heartbeat() as gaps:
        started = time.perf_counter()
        job = worker.submit_method(method, request)
        assert worker.wait_idle(120)
        elapsed = time.perf_counter() - started
    assert job.state == FINISHED, job.error
    # In-thread, PyMaxflow would hold the GIL for the whole solve (seconds); here the
    # heartbeat keeps beating. Generous bound: shared CI machines are noisy.
    assert max(gaps) < 0.5, (max(gaps), elapsed)


def test_cancel_stops_the_solve_at_once_and_the_spare_takes_over(worker, blob):
    method, job = start_a_big_cut(worker)
    time.sleep(0.2)
    started = time.perf_counter()
    worker.cancel(job)
    assert worker.wait_idle(10)
    assert job.state == CANCELLED and time.perf_counter() - started < 2.0
    assert_a_small_cut_finishes(worker, method, blob)


def test_a_dead_helper_is_an_error_message_not_a_crash(worker, blob):
    method, job = start_a_big_cut(worker)
    worker._process_runner._active.process.kill()
    assert worker.wait_idle(30)
    assert job.state == FAILED and "helper process stopped" in job.error
    assert_a_small_cut_finishes(worker, method, blob)


def test_user_errors_cross_the_process_boundary(worker, blob):
    image, scribbles, truth, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    method = get_method("graphcut")
    only_label = np.where(scribbles == 1, 1, 255).astype(np.uint8)
    request = build_request_from_arrays(method, image, geometry, scribbles=only_label, whole_volume=True)
    job = worker.submit_method(method, request)
    assert worker.wait_idle(60)
    assert job.state == FAILED and "two classes" in job.error


class ProcessIdProbe(Method):
    """Reports the process its offloaded step ran in."""

    name = "process-id-probe"

    def run(self, request, progress, cancel):
        return offload.call(os.getpid)


def test_offloaded_steps_run_in_the_helper_only_when_the_worker_isolates(worker):
    job = worker.submit_method(ProcessIdProbe(), None)
    assert worker.wait_idle(60) and job.state == FINISHED, job.error
    assert job.result in [p.pid for p in worker._process_runner.processes]
    in_thread = ComputeWorker(isolate_gil_bound=False)
    try:
        job = in_thread.submit_method(ProcessIdProbe(), None)
        assert in_thread.wait_idle(60) and job.state == FINISHED, job.error
        assert job.result == os.getpid()
    finally:
        in_thread.shutdown(10)
    assert offload.call(os.getpid) == os.getpid()  # other threads are unaffected


def test_fine_tuning_from_scratch_keeps_our_gil_free(worker, spleen_paths):
    """Its distance prior and graph-cut refinement (SciPy, PyMaxflow) run in the helper: on the
    spleen region they held the GIL for about 250 ms at a time on the worker thread."""
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image
    from segviewer.methods.deep.finetune import FinetuneMethod, FinetuneParameters

    image_path, labels_path = spleen_paths
    image = read_image(image_path)
    reference = read_image(labels_path).array.astype(np.uint8)
    scribbles = simulate_scribbles(reference, image.geometry, slices=3, seed=0)
    method = FinetuneMethod()
    request = build_request_from_arrays(method, image.array, image.geometry, scribbles=scribbles, unannotated=255,
                                        params=FinetuneParameters(model="scratch", steps=3), label_values=[1])
    warm_up = worker.submit_method(method, request)  # first use imports torch (once per session)
    assert worker.wait_idle(120) and warm_up.state == FINISHED, warm_up.error
    request = dataclasses.replace(request, params=FinetuneParameters(model="scratch", steps=6, continue_training=False))
    with heartbeat() as gaps:
        job = worker.submit_method(method, request)
        assert worker.wait_idle(120)
    assert job.state == FINISHED, job.error
    assert job.result.labels.any()
    assert max(gaps) < 0.15, max(gaps)  # generous: torch's threads share the 2 cores with us
