"""Gaps in editing closed in the second round (pytest-qt, the real window): point prompts are
in the undo history like every other edit."""

from __future__ import annotations

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
