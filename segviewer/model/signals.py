"""Connections made by one owner, dropped together (napari's "disconnect by owner").

The model and the app tier announce changes with psygnal signals, which hold their listeners
weakly: a listener that goes away is dropped by itself. An owner that stops listening while it
lives (an autosave closed, a case left, another session shown) records what it connected in a
:class:`Connections` and drops it all with one :meth:`Connections.disconnect_all`, instead of
repeating every ``connect`` as a ``disconnect``.
"""

from __future__ import annotations

from typing import Any, Callable


class Connections:
    """The (signal, listener) pairs one owner connected, so they can be dropped as one."""

    def __init__(self) -> None:
        self._pairs: list[tuple[Any, Callable[..., Any]]] = []

    def connect(self, signal: Any, listener: Callable[..., Any]) -> None:
        """Connect ``listener`` to ``signal`` (a psygnal signal or group) and remember it."""
        signal.connect(listener)
        self._pairs.append((signal, listener))

    def disconnect_all(self) -> None:
        """Drop every connection made through this object (the latest first)."""
        while self._pairs:
            signal, listener = self._pairs.pop()
            signal.disconnect(listener)

    def __len__(self) -> int:
        return len(self._pairs)
