"""Point prompts: positive and negative clicks for the active label, stored in millimetres.

Mouse: left click adds a positive point, Shift+click (or a right click, where a view passes
it on) a negative one;
Ctrl+click (or any click with ``remove=True``) removes the nearest point within
``pick_radius_mm`` — on the viewed slice, so a point is removed where it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segviewer.model.parameters import param
from segviewer.model.points import PointPrompt
from segviewer.tools.base import SliceEvent, Tool


class PointTool(Tool):
    """Positive and negative point prompts for the active label."""

    name = "points"
    title = "Point prompts"
    help = "Click: positive point; Shift+click: negative; Ctrl+click removes the nearest."
    shortcut = "N"  # ITK-SNAP: annotation mode
    #: A click places a point; a drag still moves the crosshair.
    captures_drag = False

    @dataclass
    class Parameters:
        """How points are picked for removal."""

        pick_radius_mm: float = param(5.0, "A removing click takes the nearest point on the slice "
                                      "within this distance", label="Pick radius (mm)",
                                      min=0.5, max=100.0, step=1.0)
        remove: bool = param(False, "Eraser mode: every click removes the nearest point",
                             label="Remove points (eraser)")

    def press(self, session, event: SliceEvent) -> None:
        geometry = session.geometry
        position = geometry.index_to_physical(event.index)
        if self.params.remove or "ctrl" in event.modifiers:
            index = self.nearest_on_slice(session, event)
            if index is not None:
                session.remove_point(index)
            return
        positive = not (event.button == "right" or "shift" in event.modifiers)
        session.add_point(PointPrompt(tuple(float(v) for v in position),
                                      int(session.active_label), positive))

    def nearest_on_slice(self, session, event: SliceEvent) -> int | None:
        """Index of the point nearest the click (within the pick radius, in mm)."""
        if not len(session.points):
            return None
        geometry = session.geometry
        positions = np.array([p.position_mm for p in session.points])
        # Only points shown on this slice (within half a voxel across it) count, and the
        # distance is measured in the viewed plane.
        indices = geometry.physical_to_index(positions)
        index_axis = 2 - event.axis  # array axis (k, j, i) -> index axis (i, j, k)
        offset = indices - np.asarray(event.index, dtype=float)[None, :]
        on_slice = np.abs(offset[:, index_axis]) <= 0.5 + 1e-6
        offset[:, index_axis] = 0.0
        in_plane_mm = (offset * np.asarray(geometry.spacing)) @ geometry.direction.T
        distances = np.linalg.norm(in_plane_mm, axis=1)
        distances[~on_slice] = np.inf
        best = int(np.argmin(distances))
        return best if distances[best] <= self.params.pick_radius_mm else None
