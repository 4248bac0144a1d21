"""Shared helpers for the benchmark modules.

Every ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> list[Row]``.
``python -m benchmarks.run`` calls them all, prints one table and writes JSON. A row holds
a median time (or a size) beside the baseline measured in the same run, their ratio and
the goal from the issue. Quick mode must finish in seconds (CI smoke test); full mode is
run by hand. Medians, never single times: these machines are shared and noisy.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@dataclass
class Row:
    """One figure: ``value`` (ours) beside ``baseline`` (the peer, same run)."""

    area: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline: float | None = None
    goal: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def first_frame_seconds(arguments: list[str], settings: str | Path,
                        before: Callable[[], Any] | None = None) -> float | None:
    """Wall time of ``before()`` (if any) plus a fresh viewer process (``python -m segviewer
    ARGUMENTS``) to its first painted frame (``SEGVIEWER_STARTUP_PROBE=quit``); None when it
    never paints. Settings go to the scratch file ``settings`` (never /dev/null: Qt's
    rename-over save would replace it with a regular file when run as root)."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = dict(os.environ, SEGVIEWER_STARTUP_PROBE="quit", SEGVIEWER_SETTINGS=str(settings))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    start = time.perf_counter()
    if before is not None:
        before()
    process = subprocess.Popen([sys.executable, "-m", "segviewer", *map(str, arguments)], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    elapsed = None
    for line in process.stdout:
        if line.startswith("first-frame"):
            elapsed = time.perf_counter() - start
            break
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
    return elapsed


def median_seconds(function: Callable[[], Any], repeat: int, warmup: int = 1,
                   setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``function()`` over ``repeat`` runs (``setup`` untimed)."""
    for _ in range(warmup):
        if setup:
            setup()
        function()
    times = []
    for _ in range(max(1, repeat)):
        if setup:
            setup()
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_traced_bytes(function: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``function`` under tracemalloc; return its result and the peak bytes allocated
    by Python and NumPy (NumPy reports its buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


class RssSampler:
    """Samples the process's resident memory in a thread (for code outside tracemalloc's
    reach, such as SimpleITK/ITK buffers). Use as a context manager; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self.start_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self) -> "RssSampler":
        gc.collect()
        self.start_rss = self.current()
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, self.current())

    @property
    def peak_extra(self) -> int:
        return self.peak - self.start_rss


class GuiHeartbeat:
    """A QTimer on the GUI thread recording the gaps between its ticks: the longest gap is the
    longest time the event loop was blocked (needs a running Qt application)."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.stamps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self.stamps.append(now)
        self._last = now

    def start(self) -> None:
        self.reset()
        self._timer.start()

    def reset(self) -> None:
        """Forget the ticks so far (e.g. after letting the window settle)."""
        self.gaps.clear()
        self.stamps.clear()
        self._last = time.perf_counter()

    def stop(self) -> None:
        self._timer.stop()
