"""Polygon and lasso fill on one slice.

Lasso: press, drag around the region, release — the closed outline is filled.
Polygon: click vertices one by one; clicking near the first vertex, a right click, or
:meth:`PolygonTool.finish` (Enter) closes and fills it; Escape (:meth:`cancel`) drops it.
Shift fills with 0 (cuts the region out). The fill obeys the paint-over policy and locks,
and is ONE undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segviewer.model.session import LABELS
from segviewer.tools.base import SliceEvent, Tool
from segviewer.tools.brush import (PAINT_OVER_ALL, PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL, PaintOverParameters,
                                   writable_mask)


def rasterize_polygon(vertices: np.ndarray, shape: tuple[int, int],
                      include_outline: bool = True) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Pixels of a 2D array inside a closed polygon (even-odd rule on pixel centres).

    Parameters
    ----------
    vertices : (N, 2) float array of (row, column) positions (pixel centres are integers)
    shape : the 2D array's shape; the result is clipped to it
    include_outline : also mark the pixels the outline passes through, so thin shapes and
        the drawn edge itself are filled (what a user expects from a lasso)

    Returns
    -------
    (box, mask) with ``box`` two slices of the array and ``mask`` the filled pixels of that
    box, or None when nothing falls inside the array.
    """
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if len(vertices) == 0:
        return None
    low = np.maximum(np.floor(vertices.min(axis=0)).astype(int), 0)
    high = np.minimum(np.ceil(vertices.max(axis=0)).astype(int) + 1, np.asarray(shape))
    if np.any(high <= low):
        return None
    box = (slice(int(low[0]), int(high[0])), slice(int(low[1]), int(high[1])))
    mask = np.zeros((int(high[0] - low[0]), int(high[1] - low[1])), dtype=bool)
    local = vertices - low[None, :]
    if len(local) >= 3:
        start, end = local, np.roll(local, -1, axis=0)
        for row in range(mask.shape[0]):
            y = float(row)
            crosses = (start[:, 0] <= y) != (end[:, 0] <= y)
            if not crosses.any():
                continue
            s, e = start[crosses], end[crosses]
            x = s[:, 1] + (y - s[:, 0]) * (e[:, 1] - s[:, 1]) / (e[:, 0] - s[:, 0])
            x.sort()
            for left, right in zip(x[0::2], x[1::2]):
                c0 = max(int(np.ceil(left - 1e-9)), 0)
                c1 = min(int(np.floor(right + 1e-9)), mask.shape[1] - 1)
                if c0 <= c1:
                    mask[row, c0:c1 + 1] = True
    if include_outline:
        closed = np.vstack([local, local[:1]]) if len(local) > 2 else local
        for a, b in zip(closed[:-1], closed[1:]) if len(closed) > 1 else [(closed[0], closed[0])]:
            count = int(np.ceil(np.abs(b - a).max() * 2)) + 1
            t = np.linspace(0.0, 1.0, count)[:, None]
            pixels = np.rint(a[None, :] + t * (b - a)[None, :]).astype(int)
            keep = np.all((pixels >= 0) & (pixels < np.asarray(mask.shape)), axis=1)
            mask[pixels[keep, 0], pixels[keep, 1]] = True
    return box, mask


def plane_axes(axis: int) -> tuple[int, int]:
    """The two array axes (rows, columns) of a slice normal to array axis ``axis``."""
    return tuple(a for a in range(3) if a != axis)  # type: ignore[return-value]


class PolygonTool(Tool):
    """Polygon (click) and lasso (drag) fill on the viewed slice."""

    name = "polygon"
    title = "Polygon / lasso"
    help = ("Drag a lasso, or click vertices and close near the first one (or Enter); "
            "Shift starts a cut; Esc drops it.")
    shortcut = "P"  # ITK-SNAP: polygon mode
    #: A click this close to the first vertex (in voxels) closes the polygon.
    close_distance_voxels = 2.0

    @dataclass
    class Parameters(PaintOverParameters):
        """What the fill may overwrite."""

    def __init__(self, *values, **settings) -> None:
        super().__init__(*values, **settings)
        self._axis: int | None = None
        self._slice: int | None = None
        self._vertices: list[tuple[float, float]] = []
        self._dragged = False
        self._erase = False

    # -- the unfinished outline (for drawing) ----------------------------------------------
    @property
    def outline(self) -> list[tuple[float, float, float]]:
        """Vertices of the unfinished outline as continuous (i, j, k) indices."""
        if self._axis is None:
            return []
        rows, cols = plane_axes(self._axis)
        result = []
        for r, c in self._vertices:
            kji = [0.0, 0.0, 0.0]
            kji[self._axis], kji[rows], kji[cols] = float(self._slice), r, c
            result.append((kji[2], kji[1], kji[0]))
        return result

    @property
    def outline_axis(self) -> int | None:
        return self._axis

    # -- events ------------------------------------------------------------------------------
    def _plane_point(self, event: SliceEvent) -> tuple[int, tuple[float, float]]:
        kji = np.asarray(event.index, dtype=float)[::-1]
        rows, cols = plane_axes(event.axis)
        return int(round(kji[event.axis])), (float(kji[rows]), float(kji[cols]))

    def press(self, session, event: SliceEvent) -> None:
        slice_index, point = self._plane_point(event)
        if self._vertices and (event.axis != self._axis or slice_index != self._slice):
            self._reset()  # moved to another slice: start over
        if event.button == "right":
            self.finish(session)
            return
        if not self._vertices:
            self._axis, self._slice = event.axis, slice_index
            self._erase = "shift" in event.modifiers
            self._dragged = False
        elif len(self._vertices) >= 3 and self._near_first(point):
            self.finish(session)
            return
        self._vertices.append(point)
        self.outline_changed.emit()

    def drag(self, session, event: SliceEvent) -> None:
        if not self._vertices:
            return
        _, point = self._plane_point(event)
        last = self._vertices[-1]
        if max(abs(point[0] - last[0]), abs(point[1] - last[1])) >= 0.5:
            self._vertices.append(point)
            self._dragged = True
            self.outline_changed.emit()

    def release(self, session, event: SliceEvent) -> None:
        if self._dragged:
            self.finish(session)

    def _near_first(self, point) -> bool:
        first = self._vertices[0]
        return max(abs(point[0] - first[0]), abs(point[1] - first[1])) <= self.close_distance_voxels

    def _reset(self) -> None:
        self._vertices, self._axis, self._slice, self._dragged = [], None, None, False
        self.outline_changed.emit()

    def cancel(self, session) -> None:
        self._reset()

    def finish(self, session):
        """Close the outline and fill it; returns the undo step (None when nothing changed)."""
        if len(self._vertices) < 3 or self._axis is None:
            self._reset()
            return None
        vertices, axis, slice_index, erase = np.array(self._vertices), self._axis, self._slice, self._erase
        self._reset()
        return fill_polygon(session, axis, slice_index, vertices,
                            value=0 if erase else int(session.active_label),
                            paint_over=self.params.paint_over, over_label=self.params.over_label)


def fill_polygon(session, axis: int, slice_index: int, vertices_rc: np.ndarray, value: int,
                 paint_over: str = PAINT_OVER_ALL, over_label: int = 0):
    """Fill a polygon given in (row, column) plane coordinates of one slice: ONE undo step."""
    shape3 = session.geometry.shape
    rows, cols = plane_axes(axis)
    raster = rasterize_polygon(vertices_rc, (shape3[rows], shape3[cols]))
    if raster is None:
        return None
    (row_box, col_box), mask2d = raster
    box = [None, None, None]
    box[axis] = slice(slice_index, slice_index + 1)
    box[rows], box[cols] = row_box, col_box
    box = tuple(box)
    mask = np.expand_dims(mask2d, axis)
    region = session.labels.array[box]
    policy = paint_over
    if value == 0 and policy == PAINT_OVER_BACKGROUND:
        policy, over_label = PAINT_OVER_LABEL, int(session.active_label)
    mask = mask & writable_mask(region, policy, over_label, session.label_table.locked_values())
    description = "Polygon cut" if value == 0 else "Polygon fill"
    return session.apply_layer_crop(LABELS, box, np.asarray(value, dtype=np.uint16), description,
                                    where=mask)
