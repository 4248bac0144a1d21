"""The compute workflow of the application tier, driven with no display and no Qt: a run shows
a preview, Apply is one undo step, Cancel drops the preview and leaves the labels alone, a newer
run supersedes an older one, auto-update reruns once after a burst of strokes, and a fine-tuning
stopped mid-run continues from where it stopped. The worker's events reach the test's thread
through the injected ``post``, as they reach the GUI thread in the window."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from segviewer.app.compute import ComputeWorkflow, RunSettings
from segviewer.app.scheduling import ManualTimer
from segviewer.app.viewer import Viewer
from segviewer.methods.registry import get_method
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import SCRIBBLES, Session

SHAPE = (12, 24, 24)  # slices, rows, columns


class GuiThread:
    """The test's thread as the GUI thread: ``post`` queues a call, :meth:`pump_until` runs the
    queued calls until a condition holds (as a Qt event loop would)."""

    def __init__(self) -> None:
        self.calls: queue.Queue = queue.Queue()
        self.ident = threading.get_ident()

    def post(self, call) -> None:
        self.calls.put(call)

    def pump_until(self, condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the worker")
            try:
                call = self.calls.get(timeout=0.05)
            except queue.Empty:
                continue
            call()


def blob_session() -> Session:
    """A bright ellipsoid in noise with a stroke inside (label 1) and background strokes."""
    rng = np.random.default_rng(0)
    k, j, i = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    inside = ((k - 6) / 4.5) ** 2 + ((j - 12) / 7) ** 2 + ((i - 12) / 6) ** 2 <= 1
    image = (100 + 60 * inside + rng.normal(0, 8, SHAPE)).astype(np.int16)
    session = Session(ImageVolume(image, Geometry(SHAPE[::-1], (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))))
    strokes = np.full(SHAPE, session.scribbles.unannotated, np.uint8)
    strokes[6, 9:15, 12] = 1
    strokes[6, 1, 2:-2] = 0
    strokes[6, -2, 2:-2] = 0
    session.apply_layer_crop(SCRIBBLES, tuple(slice(0, n) for n in SHAPE), strokes, "strokes")
    return session


@pytest.fixture
def gui():
    return GuiThread()


@pytest.fixture
def workflow(gui):
    viewer = Viewer()
    viewer.set_session(blob_session())
    compute = ComputeWorkflow(viewer, gui.post, ManualTimer, isolate_gil_bound=False)
    yield compute
    assert compute.shutdown(timeout=30.0), "the worker thread did not stop"


def region_growing(**params) -> RunSettings:
    method = get_method("region_growing")
    return RunSettings(method, method.Parameters(**params))


def finished(compute: ComputeWorkflow):
    return lambda: not compute.busy


def test_a_run_shows_a_preview_on_the_gui_thread_and_leaves_the_labels(gui, workflow):
    viewer = workflow.viewer
    progress, threads, results = [], [], []
    viewer.events.progress_changed.connect(lambda fraction, text: progress.append(text))
    workflow.events.job_event.connect(lambda event: threads.append(threading.get_ident()))
    workflow.events.result_ready.connect(lambda job, result: results.append(result))
    job = workflow.run(region_growing())
    assert job is not None and workflow.busy
    gui.pump_until(finished(workflow))
    assert job.state == "finished" and len(results) == 1
    assert set(threads) == {gui.ident}  # every worker event was handled on the "GUI" thread
    assert progress and progress[0].startswith("Region growing")
    preview = viewer.preview
    assert preview is not None and preview.shown_mask.sum() > 50
    assert preview.shown_mask[6, 12, 12]  # the blob's centre is proposed
    assert not viewer.session.labels.array.any()  # a preview is not an edit
    assert workflow.jobs == [job]


def test_apply_is_one_undo_step(gui, workflow):
    session = workflow.viewer.session
    workflow.run(region_growing())
    gui.pump_until(finished(workflow))
    shown = workflow.viewer.preview.shown_mask.copy()
    box = workflow.viewer.preview.box
    assert workflow.apply() is not None
    assert workflow.viewer.preview is None
    assert (session.labels.array[box][shown] == 1).all() and session.labels.array.sum() == shown.sum()
    assert session.history.undo_description == "Region growing"
    assert workflow.viewer.undo().description == "Region growing"  # one step takes it all back
    assert not session.labels.array.any()
    assert session.history.undo_description == "strokes"


def test_cancel_drops_the_preview_and_leaves_the_labels(gui, workflow):
    messages = []
    workflow.viewer.events.progress_finished.connect(messages.append)
    workflow.run(region_growing())
    gui.pump_until(finished(workflow))
    assert workflow.viewer.preview is not None
    workflow.cancel()
    assert workflow.viewer.preview is None and workflow.last_result is None
    assert not workflow.viewer.session.labels.array.any()
    assert messages[-1] == "cancelled"
    assert workflow.apply() is None  # nothing left to apply


def test_cancel_while_a_run_waits_drops_it_and_the_old_preview(gui, workflow):
    workflow.run(region_growing())
    gui.pump_until(finished(workflow))
    assert workflow.viewer.preview is not None
    release = threading.Event()
    workflow.worker.submit(lambda progress, cancel: release.wait(30), title="other work", key="other")
    waiting = workflow.run(region_growing(multiplier=3.0))  # queued behind the other work
    workflow.cancel()
    release.set()
    gui.pump_until(lambda: waiting.done and not workflow.busy)
    assert waiting.state == "cancelled"
    assert workflow.viewer.preview is None and not workflow.viewer.session.labels.array.any()


def test_a_result_that_arrives_after_cancel_is_not_shown(gui, workflow):
    job = workflow.run(region_growing())
    deadline = time.monotonic() + 30
    while not job.done and time.monotonic() < deadline:  # finished on the worker, not yet heard
        time.sleep(0.01)
    workflow.cancel()
    gui.pump_until(gui.calls.empty)
    assert workflow.viewer.preview is None and not workflow.busy


def test_another_image_drops_the_run_of_the_previous_one(gui, workflow):
    busy = []
    workflow.events.busy_changed.connect(busy.append)
    job = workflow.run(region_growing())
    workflow.viewer.set_session(blob_session())
    assert not workflow.busy and busy == [True, False]  # the panel is free at once
    gui.pump_until(lambda: job.done and gui.calls.empty())
    assert workflow.viewer.preview is None and workflow.latest is None


def test_a_newer_run_supersedes_an_older_one(gui, workflow):
    results = []
    workflow.events.result_ready.connect(lambda job, result: results.append(job))
    older = workflow.run(region_growing(multiplier=0.5))
    newer = workflow.run(region_growing(multiplier=3.0))
    gui.pump_until(lambda: newer.done and not workflow.busy)
    gui.pump_until(lambda: older.done)
    assert results == [newer]  # the older run's result, if any, was never shown
    assert workflow.latest is newer and workflow.jobs == [older, newer]
    expected = workflow.last_result
    assert expected is not None and workflow.viewer.preview.labels is expected.labels


def test_auto_update_reruns_once_after_a_burst_of_strokes(gui, workflow):
    viewer = workflow.viewer
    session = viewer.session
    workflow.settings_provider = region_growing
    workflow.set_auto_update(True)
    timer = workflow.rerun.debounce.timer
    for row in (3, 4, 5):  # three strokes: each restarts the quiet-time timer
        session.apply_layer_crop(SCRIBBLES, (slice(6, 7), slice(row, row + 1), slice(12, 13)),
                                 np.zeros((1, 1, 1), np.uint8), "stroke")
    assert timer.starts == 3 and workflow.jobs == []
    viewer.tool_active = True  # a stroke still being drawn: wait for its end
    assert timer.fire() and workflow.jobs == [] and timer.active
    viewer.tool_active = False
    assert timer.fire()
    assert len(workflow.jobs) == 1
    gui.pump_until(finished(workflow))
    assert workflow.viewer.preview is not None


def test_finetune_stops_mid_run_and_continues_where_it_stopped(gui, workflow):
    """model=scratch on a tiny volume: Cancel after the first live preview keeps the stopped
    prediction as the preview; the next run continues the tuned network."""
    method = get_method("finetune")
    settings = RunSettings(method, method.Parameters(model="scratch", steps=60, refresh_every=2, device="cpu"),
                           whole_volume=True)
    partials = []
    workflow.events.partial_ready.connect(lambda job, result: partials.append(result))
    first = workflow.run(settings)
    gui.pump_until(lambda: bool(partials))
    workflow.cancel()
    gui.pump_until(lambda: first.done and not workflow.busy)
    assert first.state == "cancelled"
    stopped = workflow.last_result
    assert stopped is not None and stopped.info["cancelled"] is True
    assert workflow.viewer.preview is not None  # the stopped prediction can still be applied
    assert not workflow.viewer.session.labels.array.any()
    steps_done = stopped.info["steps"]
    assert 2 <= steps_done < 60
    more = RunSettings(method, method.Parameters(model="scratch", steps=3, device="cpu"), whole_volume=True)
    second = workflow.run(more)
    gui.pump_until(lambda: second.done and not workflow.busy)
    assert second.state == "finished"
    assert workflow.last_result.info["steps"] == steps_done + 3
    assert workflow.apply() is not None and workflow.viewer.session.labels.array.any()


def test_the_app_tier_runs_without_qt():
    code = ("import sys, segviewer.app.compute, segviewer.app.viewer, segviewer.app.documents;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'vtkmodules'));"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
