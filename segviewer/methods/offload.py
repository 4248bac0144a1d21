"""Native steps that keep Python's GIL, run where they cannot freeze the interface.

PyMaxflow and SciPy's distance transform hold the GIL while they work. A method that runs
on the GUI's compute thread (fine-tuning) sends such a step through :func:`call`: when the
compute worker isolates GIL-bound work it installs, for its own thread, a runner that does
the step in its helper process and waits on the pipe, which releases the GIL. Anywhere else
(command line, tests, the helper process itself) the step runs in place. The function is
sent by reference, so it must be defined at module level.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

#: ``runner(function, args) -> function(*args)``, per thread
Runner = Callable[[Callable, tuple], Any]

_local = threading.local()


def call(function: Callable, *args: Any) -> Any:
    """``function(*args)``, in the helper process when this thread's worker offers one."""
    runner: Runner | None = getattr(_local, "runner", None)
    if runner is None:
        return function(*args)
    return runner(function, args)


@contextlib.contextmanager
def using(runner: Runner | None) -> Iterator[None]:
    """Route this thread's :func:`call` through ``runner`` inside the ``with`` block."""
    previous = getattr(_local, "runner", None)
    _local.runner = runner
    try:
        yield
    finally:
        _local.runner = previous
