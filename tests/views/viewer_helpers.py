"""Helpers for the viewer tests: waiting, mouse and wheel events, picture checks."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from segviewer.views import background


def wait_idle(qtbot, window, timeout: float = 30.0) -> None:
    """Until the 3D rebuilds and worker threads are done, then let paint events run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if not window.view3d.busy and not background.running_threads():
            break
        qtbot.wait(5)
    qtbot.wait(20)


def close_window(window) -> None:
    window.ask_save_changes = lambda text: QMessageBox.StandardButton.Discard
    window.view3d.close_vtk()
    window.close()
    window.deleteLater()
    QApplication.processEvents()


def widget_point(view, index) -> QPoint:
    """Viewport pixel where voxel index (i, j, k) is drawn in a slice view."""
    point = view.index_to_widget(index)
    return QPoint(int(round(point.x())), int(round(point.y())))


def click(qtbot, view, index, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(view.graphics.viewport(), button, modifier, widget_point(view, index))


def wheel(view, steps: int, modifiers=Qt.KeyboardModifier.NoModifier, position: QPoint | None = None) -> None:
    viewport = view.graphics.viewport()
    position = position or viewport.rect().center()
    event = QWheelEvent(QPointF(position), QPointF(viewport.mapToGlobal(position)), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def drag(qtbot, view, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
         modifier=Qt.KeyboardModifier.NoModifier, steps: int = 6) -> None:
    viewport = view.graphics.viewport()
    qtbot.mousePress(viewport, button, modifier, start)
    for step in range(1, steps + 1):
        t = step / steps
        point = QPoint(int(start.x() + (end.x() - start.x()) * t), int(start.y() + (end.y() - start.y()) * t))
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, button, modifier, end)


def pane_pixels(pixmap, widget, window) -> np.ndarray:
    """RGB pixels of ``widget``'s area in a window grab."""
    from segviewer.views.screenshot import qimage_to_array

    image = qimage_to_array(pixmap.toImage())
    top_left = widget.mapTo(window, widget.rect().topLeft())
    ratio = pixmap.devicePixelRatio()
    x0, y0 = int(top_left.x() * ratio), int(top_left.y() * ratio)
    return image[y0: y0 + int(widget.height() * ratio), x0: x0 + int(widget.width() * ratio)]
