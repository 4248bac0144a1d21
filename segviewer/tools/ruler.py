"""Ruler and angle tools: measurements in millimetres made with the mouse.

Ruler: press, drag and release on a slice for a length on it; or click once, move to another
slice (or another view) and click again for a length between slices. Angle: three clicks
(first arm, vertex, second arm), on any slices. Points are kept in physical LPS mm, so the
view or slice they were placed in does not matter. Each finished measurement is emitted by
:attr:`MeasuringTool.measured` (the measurements dock adds it to the case's list); the
points placed so far are the tool's :attr:`~segviewer.tools.base.Tool.outline`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from segviewer.measure.records import Measurement, angle, ruler
from segviewer.model.parameters import param
from segviewer.tools.base import SliceEvent, Tool


class MeasuringTool(Tool):
    """Collects clicked points (LPS mm) until it has :attr:`points_needed`, then measures."""

    #: Emitted with each finished :class:`~segviewer.measure.records.Measurement`.
    measured = Signal(object)
    points_needed = 2

    def __init__(self, *values, **settings) -> None:
        super().__init__(*values, **settings)
        self._points: list[np.ndarray] = []  # placed points, LPS mm
        self._moving: np.ndarray | None = None  # where the next point would go (a drag)
        self._geometry = None

    # -- what views draw ---------------------------------------------------------------------
    @property
    def outline(self) -> list[tuple[float, float, float]]:
        if self._geometry is None:
            return []
        points = self._points + ([self._moving] if self._moving is not None else [])
        return [tuple(float(v) for v in self._geometry.physical_to_index(p)) for p in points]

    @property
    def pending(self) -> bool:  # an unfinished measurement: Esc cancels it
        return bool(self._points)

    # -- mouse ---------------------------------------------------------------------------------
    def _position(self, session, event: SliceEvent) -> np.ndarray:
        self._geometry = session.geometry
        return session.geometry.index_to_physical(event.index)

    def press(self, session, event: SliceEvent) -> None:
        self._points.append(self._position(session, event))
        self._moving = None
        self._finish_if_complete()
        self.outline_changed.emit()

    def drag(self, session, event: SliceEvent) -> None:
        if self._points:
            self._moving = self._position(session, event)
            self.outline_changed.emit()

    def release(self, session, event: SliceEvent) -> None:
        """A drag far enough places the next point where it ends (a ruler in one gesture)."""
        if not self._points:
            return
        self._moving = self._position(session, event)
        spacing = min(session.geometry.spacing)
        if np.linalg.norm(self._moving - self._points[-1]) >= self.params.min_drag_voxels * spacing:
            self._points.append(self._moving)
        self._moving = None
        self._finish_if_complete()
        self.outline_changed.emit()

    def cancel(self, session) -> None:
        self._points, self._moving = [], None
        self.outline_changed.emit()

    def _finish_if_complete(self) -> None:
        if len(self._points) < self.points_needed:
            return
        points, self._points = self._points, []
        self.measured.emit(self.make(points))

    def make(self, points: list[np.ndarray]) -> Measurement:
        raise NotImplementedError


class RulerTool(MeasuringTool):
    """Length between two points, on one slice (drag) or on two (two clicks)."""

    name = "ruler"
    title = "Ruler"
    help = "Drag for a length on this slice, or click two points (also on different slices or views)."
    shortcut = "M"
    points_needed = 2

    @dataclass
    class Parameters:
        """When a drag counts as a ruler."""

        min_drag_voxels: float = param(2.0, "A drag shorter than this (in voxels) is a click: the ruler "
                                       "waits for a second click", label="Shortest drag (voxels)",
                                       min=0.5, max=50.0, step=0.5)

    def make(self, points: list[np.ndarray]) -> Measurement:
        return ruler(points[0], points[1])


class AngleTool(MeasuringTool):
    """Angle at a vertex: click the end of one arm, the vertex, then the end of the other."""

    name = "angle"
    title = "Angle"
    help = "Click the end of one arm, the vertex, then the end of the other arm (on any slices)."
    points_needed = 3
    Parameters = RulerTool.Parameters

    def make(self, points: list[np.ndarray]) -> Measurement:
        return angle(points[0], points[1], points[2])
