"""Run a method in a helper process, so native code that holds the GIL cannot stall the GUI.

PyMaxflow keeps Python's global interpreter lock for the whole max-flow computation; run
on a thread, a one-second cut freezes the interface for one second. The worker thread
instead sends ``(method class, request)`` to a persistent helper process (started with
``spawn``: safe with threads, Qt and every OS) and waits on the pipe, which releases the
GIL. Progress comes back as messages. A method running on the worker thread can also send
single GIL-holding steps there (:meth:`ProcessRunner.call`, through
:mod:`segviewer.methods.offload`). Cancel terminates the helper at once; a spare
helper, started in advance, takes over so the next job does not wait for a fresh process
to import NumPy, SciPy, SimpleITK and PyMaxflow (1–2 s).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import threading
import traceback
from typing import Any

from segviewer.errors import SegviewerError
from segviewer.methods.base import CancelToken, Method, MethodCancelled, MethodRequest, MethodResult

log = logging.getLogger(__name__)

#: How often the waiting worker thread looks at its cancel token (seconds).
POLL_S = 0.02


class HelperProcessError(SegviewerError):
    """The helper process died or could not be started."""


def _helper_main(connection) -> None:  # runs in the helper process
    """Serve jobs until the pipe closes: ("run", method class, request) or ("call", function,
    args) → messages."""
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, target, payload = message

        def progress(fraction: float, text: str = "", partial: Any = None) -> None:
            connection.send(("progress", float(fraction), str(text)))

        try:
            if kind == "call":
                result = target(*payload)
            else:
                result = target().run(payload, progress, CancelToken())
            connection.send(("result", result))
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            try:
                payload = pickle.dumps(error)
                connection.send(("error", payload, None))
            except Exception:
                connection.send(("error", None, f"{type(error).__name__}: {error}\n"
                                                f"{''.join(traceback.format_exception(error))}"))


class _Helper:
    def __init__(self, context) -> None:
        parent, child = context.Pipe(duplex=True)
        self.connection = parent
        self.process = context.Process(target=_helper_main, args=(child,), name="segviewer-helper", daemon=True)
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        try:
            self.connection.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(2.0)

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(2.0)
        self.kill()


class ProcessRunner:
    """Runs methods in a persistent helper process, one job at a time, with a warm spare."""

    def __init__(self, spare: bool = True) -> None:
        self._context = mp.get_context("spawn")
        self._lock = threading.Lock()
        self._active: _Helper | None = None
        self._spare: _Helper | None = None
        self._want_spare = spare
        self._closed = False

    def prestart(self) -> None:
        with self._lock:
            self._ensure_active()

    def _ensure_active(self) -> _Helper:
        if self._active is None or not self._active.alive():
            if self._active is not None:
                self._active.kill()
            if self._spare is not None and self._spare.alive():
                self._active, self._spare = self._spare, None
            else:
                self._active = _Helper(self._context)
        if self._want_spare and (self._spare is None or not self._spare.alive()):
            self._spare = _Helper(self._context)
        return self._active

    def run(self, method: Method, request: MethodRequest, progress, cancel: CancelToken) -> MethodResult:
        """``method.run(request)`` in the helper; progress forwarded; cancel kills it."""
        return self._exchange(("run", type(method), request), progress, cancel)

    def call(self, function, args: tuple, cancel: CancelToken) -> Any:
        """``function(*args)`` in the helper (a module-level function); cancel kills it."""
        return self._exchange(("call", function, tuple(args)), lambda *_: None, cancel)

    def _exchange(self, message: tuple, progress, cancel: CancelToken) -> Any:
        if self._closed:
            raise HelperProcessError("the compute helper has been closed")
        for attempt in range(2):  # a helper that died while idle: the spare takes the job
            with self._lock:
                helper = self._ensure_active()
            try:
                helper.connection.send(message)
                break
            except (OSError, BrokenPipeError) as error:
                code = helper.process.exitcode
                self._discard(helper)
                if attempt == 1 or cancel.cancelled:
                    raise HelperProcessError(f"the compute helper process stopped before it got the job "
                                             f"(exit code {code}: {error})") from None
        while True:
            if cancel.cancelled:
                self._discard(helper)  # stops a solve in the middle; the spare takes over
                raise MethodCancelled()
            try:
                ready = helper.connection.poll(POLL_S)
            except (OSError, EOFError):
                ready = True
            if not ready:
                if not helper.alive():
                    code = helper.process.exitcode
                    self._discard(helper)
                    raise HelperProcessError(f"the compute helper process stopped (exit code {code}); "
                                             "it may have run out of memory")
                continue
            try:
                message = helper.connection.recv()
            except (EOFError, OSError):
                code = helper.process.exitcode
                self._discard(helper)
                raise HelperProcessError(f"the compute helper process stopped (exit code {code}); "
                                         "it may have run out of memory") from None
            kind = message[0]
            if kind == "progress":
                progress(message[1], message[2])
            elif kind == "result":
                return message[1]
            elif kind == "error":
                if message[1] is not None:
                    raise pickle.loads(message[1])
                raise RuntimeError(message[2])

    def _discard(self, helper: _Helper) -> None:
        with self._lock:
            if helper is self._active:
                self._active = None
        helper.kill()
        if not self._closed:
            with self._lock:
                self._ensure_active()

    def close(self) -> None:
        """Stop the helper processes."""
        with self._lock:
            self._closed = True
            helpers = [h for h in (self._active, self._spare) if h is not None]
            self._active = self._spare = None
        for helper in helpers:
            helper.stop()

    @property
    def processes(self) -> list:
        return [h.process for h in (self._active, self._spare) if h is not None]
