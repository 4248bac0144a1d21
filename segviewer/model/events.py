"""A tiny observer pattern for the model (no Qt here: views adapt it to signals)."""

from __future__ import annotations

from typing import Any, Callable


class Event:
    """A list of callbacks called in order with the emitted arguments.

    The model layer must not depend on Qt, so views connect plain callables and
    forward them into Qt signals themselves.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
