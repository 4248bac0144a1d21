"""Polygon/lasso fill on a slice and 2D/3D flood fill with an intensity tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.tools.base import AXIAL, CORONAL, SAGITTAL, SliceEvent
from segviewer.tools.brush import PAINT_OVER_BACKGROUND
from segviewer.tools.fill import SOURCE_LABELS, FloodFillTool, flood_fill
from segviewer.tools.polygon import PolygonTool, rasterize_polygon


def test_rasterize_square_and_triangle():
    box, mask = rasterize_polygon(np.array([[2, 2], [2, 6], [6, 6], [6, 2]]), (10, 10))
    full = np.zeros((10, 10), bool)
    full[box] = mask
    expected = np.zeros((10, 10), bool)
    expected[2:7, 2:7] = True
    np.testing.assert_array_equal(full, expected)
    box, mask = rasterize_polygon(np.array([[0, 0], [8, 0], [0, 8]]), (10, 10))
    full = np.zeros((10, 10), bool)
    full[box] = mask
    rows, cols = np.nonzero(full)
    assert (rows + cols <= 8).all() and full[0, 0] and full[4, 4] and not full[5, 5]


def test_rasterize_clips_to_the_array():
    box, mask = rasterize_polygon(np.array([[-5, -5], [-5, 20], [20, 20], [20, -5]]), (10, 8))
    assert mask.shape == (10, 8) and mask.all()


def lasso(tool, session, vertices_ijk, axis):
    tool.press(session, SliceEvent(vertices_ijk[0], axis))
    for v in vertices_ijk[1:]:
        tool.drag(session, SliceEvent(v, axis))
    tool.release(session, SliceEvent(vertices_ijk[-1], axis))


@pytest.mark.parametrize("axis", [AXIAL, CORONAL, SAGITTAL])
def test_lasso_fills_a_square_on_the_viewed_slice(session, axis):
    # A square of side 6 voxels in the plane of `axis`, at slice 7 of that axis.
    corners2d = [(3, 3), (3, 9), (9, 9), (9, 3)]
    vertices = []
    for a, b in corners2d:
        kji = [0, 0, 0]
        rows, cols = [x for x in range(3) if x != axis]
        kji[axis], kji[rows], kji[cols] = 7, a, b
        vertices.append(tuple(kji[::-1]))
    lasso(PolygonTool(), session, vertices + [vertices[0]], axis)
    labels = session.labels.array
    assert len(session.history) == 1
    region = np.take(labels, 7, axis=axis)
    assert (region[3:10, 3:10] == 1).all()
    assert int((labels > 0).sum()) == 49


def test_click_polygon_closes_near_first_vertex_and_cancel(session):
    tool = PolygonTool()
    for v in [(2, 2, 4), (12, 2, 4), (12, 10, 4)]:
        tool.press(session, SliceEvent(v, AXIAL))
        tool.release(session, SliceEvent(v, AXIAL))
    assert len(tool.outline) == 3 and not session.labels.array.any()
    tool.press(session, SliceEvent((2.5, 2.5, 4), AXIAL))  # near the first vertex: close
    assert session.labels.array[4, 3, 10] == 1 and session.labels.array[4, 9, 3] == 0
    assert tool.outline == []
    tool.press(session, SliceEvent((20, 20, 4), AXIAL))
    tool.cancel(session)
    assert tool.outline == []


def test_polygon_with_shift_cuts_and_respects_policy(session):
    session.labels.array[4] = 2
    session.label_table.ensure([2])
    tool = PolygonTool(paint_over=PAINT_OVER_BACKGROUND)
    lasso(tool, session, [(2, 2, 4), (12, 2, 4), (12, 10, 4), (2, 10, 4)], AXIAL)
    assert (session.labels.array[4] == 2).all()  # nothing is background there
    tool = PolygonTool()
    vertices = [(2, 2, 4), (12, 2, 4), (12, 10, 4), (2, 10, 4)]
    tool.press(session, SliceEvent(vertices[0], AXIAL, modifiers=frozenset({"shift"})))
    for v in vertices[1:]:
        tool.drag(session, SliceEvent(v, AXIAL))
    tool.release(session, SliceEvent(vertices[-1], AXIAL))
    assert (session.labels.array[4, 2:11, 2:13] == 0).all()


def blob_session(make_session, size=(60, 50, 30)):
    session = make_session(size=size, image=np.zeros(size[::-1], np.int16))
    image = session.image.array
    image[:] = 10
    image[5:15, 10:30, 10:40] = 100   # a bright box
    image[5:15, 10:30, 24] = 300      # a wall through it (bright, outside the tolerance)
    return session


def test_flood_fill_2d_stops_at_intensity_edges(make_session):
    session = blob_session(make_session)
    tool = FloodFillTool(tolerance=20)
    tool.press(session, SliceEvent((15, 20, 8), AXIAL))
    filled = session.labels.array == 1
    assert filled[8, 10:30, 10:24].all()
    assert not filled[8, :, 24:].any()
    assert filled.sum() == 20 * 14
    assert len(session.history) == 1


def test_flood_fill_3d_and_labels_source(make_session):
    session = blob_session(make_session)
    FloodFillTool(tolerance=20, three_d=True).press(session, SliceEvent((15, 20, 8), AXIAL))
    assert (session.labels.array == 1).sum() == 10 * 20 * 14
    # bucket fill on the label map: relabel the connected label-1 region to 2
    session.active_label = 2
    FloodFillTool(three_d=True, source=SOURCE_LABELS).press(session, SliceEvent((11, 11, 6), AXIAL))
    assert (session.labels.array == 2).sum() == 10 * 20 * 14
    assert not (session.labels.array == 1).any()


def test_flood_fill_grows_its_crop_on_a_large_region(make_session):
    size = (300, 280, 3)
    session = make_session(size=size, image=np.zeros(size[::-1], np.int16))
    step = flood_fill(session, (1, 140, 150), 1, tolerance=0, axis=0)
    assert step is not None
    assert (session.labels.array[1] == 1).all() and not session.labels.array[0].any()


def test_flood_fill_does_not_leak_through_locked_labels(make_session):
    session = blob_session(make_session)
    session.labels.array[8, 10:30, 20] = 5  # a locked wall inside the bright box
    session.label_table.ensure([5])
    session.label_table.update(5, locked=True)
    FloodFillTool(tolerance=20).press(session, SliceEvent((15, 20, 8), AXIAL))
    filled = session.labels.array[8] == 1
    assert filled[10:30, 10:20].all() and not filled[:, 21:].any()
    assert (session.labels.array[8, 10:30, 20] == 5).all()
