"""Scribble tool (kept apart from the label map) and point prompts."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.session import SCRIBBLES
from segviewer.tools.base import AXIAL, CORONAL, SAGITTAL, SliceEvent
from segviewer.tools.points import PointTool
from segviewer.tools.scribble import BACKGROUND, ScribbleEraserTool, ScribbleTool


def stroke(tool, session, points, axis=AXIAL, button="left", modifiers=()):
    mods = frozenset(modifiers)
    tool.press(session, SliceEvent(points[0], axis, button, mods))
    for p in points[1:]:
        tool.drag(session, SliceEvent(p, axis, button, mods))
    tool.release(session, SliceEvent(points[-1], axis, button, mods))


@pytest.mark.parametrize("axis", [AXIAL, CORONAL, SAGITTAL])
def test_foreground_and_background_scribbles_in_each_orientation(session, axis):
    session.active_label = 2
    tool = ScribbleTool(size_mm=1.0)
    stroke(tool, session, [(5, 5, 5), (12, 9, 8)], axis=axis)
    stroke(tool, session, [(20, 20, 10), (30, 22, 12)], axis=axis, modifiers={"ctrl"})
    scribbles = session.scribbles.array
    fg, bg = scribbles == 2, scribbles == 0
    assert fg.any() and bg.any()
    # each stroke lies in the viewed slice
    assert len(set(np.nonzero(fg)[axis])) == 1
    assert len(set(np.nonzero(bg)[axis])) == 1
    assert not session.labels.array.any(), "scribbles must not touch the label map"
    assert len(session.history) == 2
    assert session.layer_dirty(SCRIBBLES)


def test_background_class_option_and_eraser(session):
    tool = ScribbleTool(size_mm=3.0, scribble_class=BACKGROUND)
    stroke(tool, session, [(5, 5, 5), (30, 5, 5)])
    assert (session.scribbles.array == 0).sum() > 0
    assert not (session.scribbles.array == 1).any()
    stroke(ScribbleEraserTool(size_mm=50.0), session, [(15, 5, 5)])
    assert session.scribbles.is_empty()
    session.undo()
    assert (session.scribbles.array == 0).any()
    # Shift+left with the scribble tool erases too
    stroke(tool, session, [(15, 5, 5)], modifiers={"shift"})
    assert (session.scribbles.array[5, 5, 14:17] == session.scribbles.unannotated).all()


def test_scribble_label_above_254_widens_scribbles(session):
    session.active_label = 255
    stroke(ScribbleTool(size_mm=1.0), session, [(5, 5, 5)])
    assert session.scribbles.array.dtype == np.uint16
    assert session.scribbles.array[5, 5, 5] == 255
    assert session.scribbles.unannotated == 65535
    assert (session.scribbles.array == 65535).sum() == session.scribbles.array.size - 1


def test_scribbles_undo_redo(session):
    stroke(ScribbleTool(size_mm=2.0), session, [(5, 5, 5), (20, 5, 5)])
    drawn = session.scribbles.array.copy()
    session.undo()
    assert session.scribbles.is_empty()
    session.redo()
    np.testing.assert_array_equal(session.scribbles.array, drawn)


def test_points_positive_negative_and_removal(aniso_session):
    session = aniso_session
    session.active_label = 3
    tool = PointTool(pick_radius_mm=3.0)
    tool.press(session, SliceEvent((10, 12, 4), AXIAL))
    tool.press(session, SliceEvent((20, 5, 4), AXIAL, button="right"))
    tool.press(session, SliceEvent((30, 5, 8), AXIAL, modifiers=frozenset({"shift"})))
    points = list(session.points)
    assert [p.positive for p in points] == [True, False, False]
    assert all(p.label == 3 for p in points)
    np.testing.assert_allclose(points[0].position_mm,
                               session.geometry.index_to_physical((10, 12, 4)))
    # Ctrl+click near the first point (1 mm away in plane) removes it ...
    tool.press(session, SliceEvent((10, 13, 4), AXIAL, modifiers=frozenset({"ctrl"})))
    assert len(session.points) == 2
    # ... but not a point on another slice, nor one too far away
    tool.press(session, SliceEvent((30, 5, 4), AXIAL, modifiers=frozenset({"ctrl"})))
    tool.press(session, SliceEvent((22, 5, 8), AXIAL, modifiers=frozenset({"ctrl"})))  # 4 mm off
    assert len(session.points) == 2
    eraser = PointTool(remove=True, pick_radius_mm=3.0)
    eraser.press(session, SliceEvent((20.4, 5, 4), AXIAL))
    assert len(session.points) == 1
    assert session.is_dirty


def test_point_removal_in_a_coronal_view(session):
    tool = PointTool(pick_radius_mm=2.0)
    tool.press(session, SliceEvent((10, 12, 4), CORONAL))
    tool.press(session, SliceEvent((11, 12, 5), CORONAL, modifiers=frozenset({"ctrl"})))
    assert len(session.points) == 0
