"""Ruler and angle tools: lengths in mm from a drag on one slice or clicks on different
slices of an oblique image; three clicks for an angle; Esc drops an unfinished one."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import Session
from segviewer.tools.base import AXIAL, CORONAL, SliceEvent
from segviewer.tools.ruler import AngleTool, RulerTool

OBLIQUE = Geometry((40, 30, 12), (0.7, 0.7, 3.0), (12.0, -4.0, 30.0),
                   np.array([[0.96, 0.0, -0.28], [0.0, 1.0, 0.0], [0.28, 0.0, 0.96]]))


@pytest.fixture
def session():
    return Session(ImageVolume(np.zeros(OBLIQUE.shape, np.int16), OBLIQUE, name="oblique"))


def collect(tool):
    made = []
    tool.measured.connect(made.append)
    return made


def test_a_drag_measures_on_the_slice(session):
    tool = RulerTool()
    made = collect(tool)
    tool.press(session, SliceEvent((5.0, 5.0, 6.0), AXIAL))
    tool.drag(session, SliceEvent((15.0, 5.0, 6.0), AXIAL))
    assert len(tool.outline) == 2 and tool.pending
    tool.release(session, SliceEvent((25.0, 9.0, 6.0), AXIAL))
    assert len(made) == 1 and not tool.pending and tool.outline == []
    assert made[0].kind == "ruler" and made[0].value == pytest.approx(np.hypot(20 * 0.7, 4 * 0.7))


def test_two_clicks_on_different_slices_and_views_measure_between_them(session):
    tool = RulerTool()
    made = collect(tool)
    tool.press(session, SliceEvent((5.0, 5.0, 1.0), AXIAL))
    tool.release(session, SliceEvent((5.2, 5.0, 1.0), AXIAL))  # a click: wait for the second point
    assert made == [] and tool.pending and len(tool.outline) == 1
    tool.press(session, SliceEvent((5.0, 20.0, 9.0), CORONAL))  # 8 slices further, in another view
    tool.release(session, SliceEvent((5.0, 20.0, 9.0), CORONAL))
    assert len(made) == 1
    assert made[0].value == pytest.approx(np.hypot(15 * 0.7, 8 * 3.0))
    np.testing.assert_allclose(made[0].points_mm[1], OBLIQUE.index_to_physical((5.0, 20.0, 9.0)))


def test_angle_from_three_clicks_and_escape_drops_an_unfinished_one(session):
    tool = AngleTool()
    made = collect(tool)
    for index in ((10.0, 5.0, 4.0), (10.0, 15.0, 4.0)):
        tool.press(session, SliceEvent(index, AXIAL))
        tool.release(session, SliceEvent(index, AXIAL))
    tool.cancel(session)
    assert made == [] and not tool.pending
    for index in ((10.0, 5.0, 4.0), (10.0, 15.0, 4.0), (20.0, 15.0, 4.0)):
        tool.press(session, SliceEvent(index, AXIAL))
        tool.release(session, SliceEvent(index, AXIAL))
    assert len(made) == 1 and made[0].kind == "angle" and made[0].value == pytest.approx(90)
