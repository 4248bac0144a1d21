"""The outline of the brush under the mouse in a slice view (as ITK-SNAP draws it): a circle of
the brush's diameter (mm) around the voxel a dab would be centred on, for every tool with a
size (paintbrush, eraser, scribble brushes). It follows the mouse and the +/− keys, and goes
away when the mouse leaves the view or the tool has no size."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt

COLOUR = (255, 255, 255, 200)
#: Vertices of the circle (closed: the last repeats the first).
ANGLES = np.linspace(0.0, 2.0 * np.pi, 65)


class BrushOutline(QObject):
    """Draws the brush footprint at the mouse on ``view`` (a :class:`SliceView`)."""

    def __init__(self, view) -> None:
        super().__init__(view)
        self.view = view
        self.item = pg.PlotDataItem(pen=pg.mkPen(COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
        self.item.setZValue(15)  # above labels and points, below the crosshair
        self.item.setVisible(False)
        view.view_box.addItem(self.item, ignoreBounds=True)
        #: (i, j, k) voxel the outline is centred on, None when hidden.
        self.centre: tuple[int, int, int] | None = None
        self._mouse = None  # last mouse position over the viewport
        view.graphics.viewport().installEventFilter(self)  # mouse
        view.graphics.installEventFilter(self)  # keys
        view.controller.tool_changed.connect(lambda _tool: self.redraw())

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            self._mouse = event.position()
            self.redraw()
        elif kind == QEvent.Type.Leave:
            self._mouse = None
            self.redraw()
        elif kind == QEvent.Type.KeyRelease:  # +/− resized the brush
            self.redraw()
        return False

    def diameter_mm(self) -> float | None:
        tool = self.view.controller.tool
        size = getattr(getattr(tool, "params", None), "size_mm", None)
        return float(size) if size else None

    def redraw(self) -> None:
        view = self.view
        diameter = self.diameter_mm()
        if self._mouse is None or diameter is None or view.orientation is None or view.session is None:
            self.centre = None
            self.item.setVisible(False)
            return
        point = view.view_box.mapSceneToView(view.graphics.mapToScene(self._mouse.toPoint()))
        index = view.display_to_index(point)
        self.centre = tuple(int(v) for v in np.rint(index))  # where a dab is centred
        x, y, _ = view.orientation.index_to_display(self.centre)
        radius = diameter / 2.0
        self.item.setData(x + radius * np.cos(ANGLES), y + radius * np.sin(ANGLES))
        self.item.setVisible(True)
