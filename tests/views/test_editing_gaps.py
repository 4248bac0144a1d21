"""Gaps in editing closed in the second round (pytest-qt, the real window): point prompts are
in the undo history like every other edit, and the brush shows its outline under the mouse."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from test_editing_gui import choose, focus_view, stroke_points
from viewer_helpers import click


def shown_points(view) -> int:
    return len(view.points_item.data) if view.points_item.isVisible() else 0


def test_ctrl_z_takes_back_point_clicks_and_ctrl_shift_z_puts_them_back(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    view = window.views["axial"]
    choose(window, "points")
    a, _ = stroke_points(view, session)
    click(qtbot, view, session.cursor)
    click(qtbot, view, a, modifier=Qt.KeyboardModifier.ShiftModifier)
    placed = list(session.points)
    assert [p.positive for p in placed] == [True, False] and shown_points(view) == 2
    click(qtbot, view, a, modifier=Qt.KeyboardModifier.ControlModifier)  # removes the negative one
    assert list(session.points) == placed[:1]
    assert session.history.undo_description == "Remove point"

    focus_view(qtbot, window, view)
    undo = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    redo = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(view.graphics, *undo)
    assert list(session.points) == placed and shown_points(view) == 2, "the removed point is back"
    qtbot.keyClick(view.graphics, *undo)
    qtbot.keyClick(view.graphics, *undo)
    assert len(session.points) == 0 and shown_points(view) == 0
    qtbot.keyClick(view.graphics, *redo)
    qtbot.keyClick(view.graphics, *redo)
    assert list(session.points) == placed and shown_points(view) == 2
    qtbot.keyClick(view.graphics, *redo)
    assert list(session.points) == placed[:1]
    assert session.is_dirty


def test_loading_points_is_one_undoable_step(spleen_window):
    from segviewer.model.points import PointPrompt, PointSet

    session = spleen_window.controller.session
    session.add_point(PointPrompt((0.0, 0.0, 0.0), 1))
    kept = session.points
    session.replace_points(PointSet([PointPrompt((1.0, 2.0, 3.0), 1, False)]), "Load p.json")
    assert session.points is kept and [p.position_mm for p in session.points] == [(1.0, 2.0, 3.0)]
    session.undo()
    assert [p.position_mm for p in session.points] == [(0.0, 0.0, 0.0)]


def test_the_brush_outline_follows_the_mouse_and_matches_what_a_click_paints(spleen_window, qtbot):
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from viewer_helpers import widget_point

    window = spleen_window
    session = window.controller.session
    view = window.views["axial"]
    outline = view.brush_outline
    viewport = view.graphics.viewport()
    brush = choose(window, "brush")
    brush.params.size_mm = 12.0
    target = tuple(session.cursor)
    qtbot.mouseMove(viewport, widget_point(view, target))
    qtbot.waitUntil(lambda: outline.item.isVisible(), timeout=3000)
    assert outline.centre == target
    xs, ys = outline.item.getData()
    cx, cy, _ = view.orientation.index_to_display(target)
    assert np.allclose(np.hypot(xs - cx, ys - cy), 6.0), "a circle of the brush's diameter around the voxel"
    # what a click paints has the outline's width (within a voxel)
    window.label_panel.add_label("Lesion")
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point(view, target))
    i, j, k = target
    painted_i = np.flatnonzero(session.labels.array[k, j, :] == 2)
    spacing_i = session.geometry.spacing[0]
    assert abs(len(painted_i) * spacing_i - (xs.max() - xs.min())) <= spacing_i + 1e-6
    assert painted_i.min() <= i <= painted_i.max()

    qtbot.mouseMove(viewport, widget_point(view, (i + 5, j + 3, k)))
    qtbot.waitUntil(lambda: outline.centre == (i + 5, j + 3, k), timeout=3000)
    QApplication.sendEvent(viewport, QEvent(QEvent.Type.Leave))
    assert not outline.item.isVisible(), "gone when the mouse leaves the view"
    window.controller.set_tool(None)  # Navigate
    qtbot.mouseMove(viewport, widget_point(view, target))
    assert not outline.item.isVisible(), "no outline without a brush"
