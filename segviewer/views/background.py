"""Run a function on a plain Python thread and get its result back on the GUI thread.

Used for anything that could block the GUI for more than ~50 ms (reading a large image,
building 3D surfaces). The worker gets its inputs up front and returns a value; the
``done``/``failed`` callbacks run on the GUI thread (queued through a Qt signal), so they may
touch widgets and the model. Every thread started here is tracked: :func:`wait_all` joins them
(tests call it in teardown and fail when one is still running).
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

log = logging.getLogger(__name__)

_threads: set[threading.Thread] = set()
_lock = threading.Lock()


class _Bridge(QObject):
    """Lives on the GUI thread; the worker emits, Qt queues the call to the GUI thread."""

    finished = Signal(object, object, object)  # callback, value, error

    def __init__(self) -> None:
        super().__init__()
        self.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _deliver(callback, value, error) -> None:
        callback(value, error)


_bridge: _Bridge | None = None


def _get_bridge() -> _Bridge:
    global _bridge
    if _bridge is None:
        _bridge = _Bridge()
    return _bridge


def run_in_thread(function: Callable[[], Any], done: Callable[[Any], None],
                  failed: Callable[[BaseException, str], None] | None = None,
                  name: str = "segviewer-worker") -> threading.Thread:
    """Call ``function()`` on a new daemon thread; then ``done(result)`` or
    ``failed(error, traceback_text)`` on the GUI thread. Call from the GUI thread."""
    bridge = _get_bridge()

    def deliver(value, error) -> None:
        if error is None:
            done(value)
        elif failed is not None:
            failed(error[0], error[1])
        else:
            log.error("background task %s failed:\n%s", name, error[1])

    def target() -> None:
        try:
            value, error = function(), None
        except BaseException as exc:  # reported on the GUI thread, never raised here
            value, error = None, (exc, traceback.format_exc())
        try:
            bridge.finished.emit(deliver, value, error)
        except RuntimeError:  # the bridge was deleted (application shutting down)
            pass
        finally:
            with _lock:
                _threads.discard(threading.current_thread())

    thread = threading.Thread(target=target, name=name, daemon=True)
    with _lock:
        _threads.add(thread)
    thread.start()
    return thread


def running_threads() -> list[threading.Thread]:
    with _lock:
        return [t for t in _threads if t.is_alive()]


def wait_all(timeout: float = 10.0) -> bool:
    """Join every tracked thread; True when none is left running."""
    for thread in running_threads():
        thread.join(timeout)
    return not running_threads()


def single_shot_timer(parent: QObject, interval_ms: int, callback: Callable[[], None]) -> QTimer:
    """A Qt single-shot timer calling ``callback`` on the GUI thread: the window's
    :data:`segviewer.app.scheduling.TimerFactory` (with ``parent`` bound)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    return timer
