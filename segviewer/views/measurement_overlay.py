"""Measurements drawn on a slice view: the lines of rulers, angles, diameters and distances
with their values, the outline of sphere and ellipse regions where they cut the slice, and
the points of a ruler or angle being placed.

A measurement whose points all lie on the shown slice is drawn solid; one that crosses it
(a ruler between slices) is drawn dashed, projected onto the slice. The overlay lives beside
the view (items added to its view box) and follows the slice, the list and the active tool.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

#: Colours: finished measurements, the one being placed.
DONE_COLOUR = (255, 220, 60)
PLACING_COLOUR = (80, 220, 255)
#: Which points of each kind are joined: index pairs (a polyline as consecutive pairs).
SEGMENTS = {"ruler": [(0, 1)], "distance": [(0, 1)], "angle": [(0, 1), (1, 2)], "diameters": [(0, 1), (2, 3)]}


class MeasurementOverlay:
    """Draws ``dock.measurements`` and the dock's tools' unfinished points on ``view``."""

    def __init__(self, view, dock) -> None:
        self.view, self.dock = view, dock
        self.solid = pg.PlotDataItem(pen=pg.mkPen(DONE_COLOUR, width=2), connect="pairs")
        self.dashed = pg.PlotDataItem(pen=pg.mkPen(DONE_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
                                      connect="pairs")
        self.placing = pg.PlotDataItem(pen=pg.mkPen(PLACING_COLOUR, width=2), symbol="o", symbolSize=7,
                                       symbolBrush=PLACING_COLOUR)
        self.texts: list[pg.TextItem] = []
        for item in (self.solid, self.dashed, self.placing):
            item.setZValue(20)
            view.view_box.addItem(item, ignoreBounds=True)
        dock.changed.connect(self.redraw)
        dock.controller.cursor_changed.connect(self.redraw)
        for tool in (dock.ruler_tool, dock.angle_tool):
            tool.outline_changed.connect(self.redraw)
        self.redraw()

    def _display(self, index) -> tuple[float, float, float]:
        return self.view.orientation.index_to_display(index)

    def _region_outline(self, geometry, measurement) -> list[tuple[float, float]]:
        """Where a sphere or ellipse region cuts this slice: its outline as point pairs."""
        orientation = self.view.orientation
        radii = measurement.details["radii_ijk_mm"]
        x, y, normal = self._display(geometry.physical_to_index(measurement.points_mm[0]))
        across = (self.view.slice_index - normal) * geometry.spacing[orientation.normal_index_axis]
        radius_across = radii[orientation.normal_index_axis]
        if radius_across == 0:  # an ellipse: on its own slice only
            scale = 1.0 if abs(self.view.slice_index - normal) < 0.5 else 0.0
        else:
            scale = np.sqrt(max(0.0, 1 - (across / radius_across) ** 2))
        if scale == 0:
            return []
        angles = np.linspace(0, 2 * np.pi, 49)
        xs = x + scale * radii[orientation.column_index_axis] * np.cos(angles)
        ys = y + scale * radii[orientation.row_index_axis] * np.sin(angles)
        points = list(zip(xs, ys))
        return [p for pair in zip(points[:-1], points[1:]) for p in pair]  # consecutive pairs

    def redraw(self, *_args) -> None:
        view = self.view
        for text in self.texts:
            view.view_box.removeItem(text)
        self.texts = []
        session = view.session
        if session is None or view.orientation is None:
            for item in (self.solid, self.dashed, self.placing):
                item.setData([], [])
            return
        here = view.slice_index
        solid, dashed = [], []
        for measurement in self.dock.measurements:
            if measurement.kind == "region":
                solid += self._region_outline(session.geometry, measurement)
                continue
            pairs = SEGMENTS.get(measurement.kind)
            if not pairs:
                continue
            shown = [self._display(session.geometry.physical_to_index(p)) for p in measurement.points_mm]
            normals = [p[2] for p in shown]
            if here < min(normals) - 0.5 or here > max(normals) + 0.5:
                continue  # the measurement does not reach this slice
            target = solid if all(abs(n - here) < 0.5 for n in normals) else dashed
            for a, b in pairs:
                target += [shown[a][:2], shown[b][:2]]
            text = pg.TextItem(f"{measurement.value:.1f} {measurement.unit}", color=DONE_COLOUR, anchor=(0, 1))
            text.setPos(*shown[pairs[0][1]][:2])
            text.setZValue(21)
            view.view_box.addItem(text, ignoreBounds=True)
            self.texts.append(text)
        for item, points in ((self.solid, solid), (self.dashed, dashed)):
            xy = np.asarray(points, dtype=float).reshape(-1, 2)
            item.setData(xy[:, 0], xy[:, 1])
        tool = self.dock.controller.tool  # the ruler or angle being placed
        placing = tool.outline if tool in (self.dock.ruler_tool, self.dock.angle_tool) else []
        xy = np.asarray([self._display(p)[:2] for p in placing], dtype=float).reshape(-1, 2)
        self.placing.setData(xy[:, 0], xy[:, 1])
