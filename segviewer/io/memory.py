"""Refuse volumes that would not fit in memory, before anything is allocated."""

from __future__ import annotations

import os
from pathlib import Path

from segviewer.errors import TooLargeError


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now (``MemAvailable``), or None when unknown.

    Linux reports it in ``/proc/meminfo``; elsewhere psutil is used when installed.
    A cgroup limit (containers) lowers the figure when it is tighter.
    """
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        try:
            import psutil  # type: ignore[import-not-found]

            available = int(psutil.virtual_memory().available)
        except Exception:  # noqa: BLE001 - optional; no figure means no check
            available = None
    limit = _cgroup_room()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit, when one is set."""
    try:
        maximum = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if maximum == "max":
            return None
        current = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(0, int(maximum) - current)
    except (OSError, ValueError):
        return None


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def ensure_fits_in_memory(array_bytes: int, path: str | Path, what: str = "image",
                          peak_factor: float = 1.0) -> None:
    """Raise :class:`TooLargeError` when loading ``array_bytes`` (times ``peak_factor`` while
    reading) would not fit in the memory available now.

    Called with the size declared by a file's header, so nothing is allocated yet.
    ``SEGVIEWER_MEMORY_LIMIT`` (bytes) overrides the system figure, for tests and for
    users who want a lower ceiling.
    """
    override = os.environ.get("SEGVIEWER_MEMORY_LIMIT")
    available = int(override) if override else available_memory_bytes()
    if available is None:
        return
    needed = int(array_bytes * max(1.0, peak_factor))
    if needed > available:
        extra = "" if needed == array_bytes else f" (about {format_bytes(needed)} while reading)"
        raise TooLargeError(
            f"{path}: the {what} would need {format_bytes(array_bytes)} of memory{extra}, "
            f"but only {format_bytes(available)} is available; refused before loading")
