"""Compute scheduling of the application tier with an injected timer and no display: a burst
of edits is one rerun, a stroke in progress postpones it, auto-update off runs nothing, a
refused rerun is a message, and with the real compute worker the latest rerun wins."""

from __future__ import annotations

import threading

import pytest

from segviewer.app.scheduling import DEBOUNCE_MS, AutoRerun, Debouncer, ManualTimer
from segviewer.errors import SegviewerError
from segviewer.methods.base import CancelToken
from segviewer.workers.runner import CANCELLED, FINISHED, ComputeWorker


class Viewer:
    """What the rerun asks of the viewer: is an image open, is a stroke being drawn."""

    def __init__(self) -> None:
        self.has_image = True
        self.drawing = False
        self.messages: list[str] = []


def make_rerun(viewer: Viewer, run, settings="settings"):
    timers: list[ManualTimer] = []

    def make_timer(interval_ms, callback):
        timers.append(ManualTimer(interval_ms, callback))
        return timers[-1]

    rerun = AutoRerun(make_timer, run, has_session=lambda: viewer.has_image,
                      is_drawing=lambda: viewer.drawing, report=viewer.messages.append)
    rerun.settings_provider = lambda: settings
    rerun.set_enabled(True)
    return rerun, timers[0]


def test_a_burst_of_edits_is_one_rerun_after_the_quiet_time():
    runs = []
    rerun, timer = make_rerun(Viewer(), runs.append)
    assert timer.interval_ms == DEBOUNCE_MS
    for _ in range(5):
        rerun.schedule()
    assert runs == [] and timer.starts == 5  # each edit restarts the countdown
    assert timer.fire()
    assert runs == ["settings"]
    assert not timer.fire()  # nothing more pending


def test_a_stroke_in_progress_postpones_the_rerun_to_its_end():
    viewer = Viewer()
    runs = []
    rerun, timer = make_rerun(viewer, runs.append)
    viewer.drawing = True
    rerun.schedule()
    assert timer.fire() and runs == [] and timer.active  # waits again
    viewer.drawing = False
    assert timer.fire() and runs == ["settings"]


def test_auto_update_off_runs_nothing_and_turning_it_off_drops_a_pending_rerun():
    runs = []
    rerun, timer = make_rerun(Viewer(), runs.append)
    rerun.schedule()
    rerun.set_enabled(False)
    assert not timer.active
    rerun.schedule()
    assert not timer.fire() and runs == []


@pytest.mark.parametrize("case", ["no image", "no provider", "no settings"])
def test_nothing_to_run_runs_nothing(case):
    viewer = Viewer()
    runs = []
    rerun, timer = make_rerun(viewer, runs.append, settings=None if case == "no settings" else "s")
    rerun.schedule()
    if case == "no image":
        viewer.has_image = False
    elif case == "no provider":
        rerun.settings_provider = None
    timer.fire()
    assert runs == [] and viewer.messages == []


def test_a_refused_rerun_is_a_message_not_an_exception():
    viewer = Viewer()

    def run(settings):
        raise SegviewerError("graph cut needs scribbles of two classes")

    rerun, timer = make_rerun(viewer, run)
    rerun.schedule()
    timer.fire()
    assert viewer.messages == ["graph cut needs scribbles of two classes"]


def test_debouncer_cancel_drops_the_call():
    calls = []
    debouncer = Debouncer(ManualTimer, 100, lambda: calls.append(1))
    debouncer.request()
    debouncer.cancel()
    assert not debouncer.timer.fire() and calls == []


def test_with_the_compute_worker_the_latest_rerun_wins():
    worker = ComputeWorker()
    release = threading.Event()

    def submit(settings):
        def function(progress, cancel: CancelToken):
            while not release.wait(0.01):  # the first run is still busy when the next edit comes
                cancel.raise_if_cancelled()
                if settings == "second":
                    break
            return settings
        return worker.submit(function, settings, key="preview")

    current = {"settings": "first"}
    jobs = []
    rerun, timer = make_rerun(Viewer(), lambda settings: jobs.append(submit(settings)))
    rerun.settings_provider = lambda: current["settings"]
    try:
        rerun.schedule()
        timer.fire()
        current["settings"] = "second"  # another stroke while the first rerun computes
        rerun.schedule()
        timer.fire()
        assert worker.wait_idle(10)
    finally:
        release.set()
        assert worker.shutdown(5.0)
    first, second = jobs
    assert first.state == CANCELLED
    assert second.state == FINISHED and second.result == "second"
