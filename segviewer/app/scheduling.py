"""Compute scheduling with no Qt: debounce (a burst of edits becomes one run after a quiet
moment) and the automatic rerun of the active method after scribble or point edits.

The timer is injected: a :data:`TimerFactory` makes a single-shot timer from an interval and a
callback. The window passes one built on ``QTimer`` (:func:`segviewer.views.background.single_shot_timer`);
headless code and tests pass :class:`ManualTimer`, which fires when told. Latest wins is the
worker's rule (:class:`segviewer.workers.runner.ComputeWorker` supersedes an older job of the
same key), so a rerun started here never shows a result of stale scribbles.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from segviewer.errors import SegviewerError

#: Quiet time after the last scribble edit before an automatic rerun.
DEBOUNCE_MS = 300


class Timer(Protocol):
    """A single-shot timer: ``start`` (re)starts the countdown, ``stop`` drops it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


#: (interval in milliseconds, callback) -> a single-shot :class:`Timer` that calls back on expiry.
TimerFactory = Callable[[int, Callable[[], None]], Timer]


class ManualTimer:
    """A :class:`Timer` that expires only when :meth:`fire` is called (headless use, tests)."""

    def __init__(self, interval_ms: int, callback: Callable[[], None]) -> None:
        self.interval_ms = interval_ms
        self.callback = callback
        self.active = False
        self.starts = 0

    def start(self) -> None:
        self.active = True
        self.starts += 1

    def stop(self) -> None:
        self.active = False

    def fire(self) -> bool:
        """Expire now if running (as the real timer would after ``interval_ms``); True when it did."""
        if not self.active:
            return False
        self.active = False
        self.callback()
        return True


class Debouncer:
    """Calls ``call`` once, a quiet ``interval_ms`` after the last :meth:`request`; while
    ``wait_while()`` is true when the time is up (a stroke still being drawn) it waits again."""

    def __init__(self, make_timer: TimerFactory, interval_ms: int, call: Callable[[], None],
                 wait_while: Callable[[], bool] = lambda: False) -> None:
        self.call = call
        self.wait_while = wait_while
        self.timer = make_timer(interval_ms, self._expired)

    def request(self) -> None:
        """Ask for a call; a burst of requests becomes one call."""
        self.timer.start()

    def cancel(self) -> None:
        self.timer.stop()

    def _expired(self) -> None:
        if self.wait_while():
            self.timer.start()  # still drawing: wait for the end of the stroke
            return
        self.call()


class AutoRerun:
    """Auto-update: when on, a prompt edit or a parameter change reruns the active method a
    quiet moment later, with the settings ``settings_provider()`` gives at that time.

    ``run(settings)`` starts the run; ``has_session()`` and ``is_drawing()`` come from the
    viewer; ``report(text)`` shows why a rerun could not start (e.g. scribbles of one class
    only so far).
    """

    def __init__(self, make_timer: TimerFactory, run: Callable[[Any], Any], has_session: Callable[[], bool],
                 is_drawing: Callable[[], bool] = lambda: False,
                 report: Callable[[str], None] = lambda text: None, interval_ms: int = DEBOUNCE_MS) -> None:
        self.run = run
        self.has_session = has_session
        self.report = report
        self.enabled = False
        #: The panel's current run settings (None: nothing to run).
        self.settings_provider: Callable[[], Any] | None = None
        self.debounce = Debouncer(make_timer, interval_ms, self._rerun, wait_while=is_drawing)

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        if not on:
            self.debounce.cancel()

    def schedule(self) -> None:
        """Rerun soon when auto-update is on (a stroke ended, a point moved, a parameter changed)."""
        if self.enabled and self.settings_provider is not None:
            self.debounce.request()

    def stop(self) -> None:
        """Drop a pending rerun (cancel, another image, shutting down)."""
        self.debounce.cancel()

    def _rerun(self) -> None:
        if not self.has_session() or self.settings_provider is None:
            return
        settings = self.settings_provider()
        if settings is None:
            return
        try:
            self.run(settings)
        except SegviewerError as error:
            self.report(str(error))
