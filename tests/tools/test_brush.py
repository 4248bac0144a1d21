"""Brush and eraser driven with synthetic slice events on a bare session."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.session import LABELS
from segviewer.tools.base import AXIAL, CORONAL, SAGITTAL, SliceEvent
from segviewer.tools.brush import (PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL, BrushTool, EraserTool,
                                   writable_mask)
from segviewer.tools.kernels import ellipsoid_kernel


def stroke(tool, session, points, axis=AXIAL, button="left", modifiers=()):
    mods = frozenset(modifiers)
    tool.press(session, SliceEvent(points[0], axis, button, mods))
    for p in points[1:]:
        tool.drag(session, SliceEvent(p, axis, button, mods))
    tool.release(session, SliceEvent(points[-1], axis, button, mods))


def expected_ball(shape, centre_kji, spacing_kji, radius_mm, flat_axis=None):
    grids = np.indices(shape)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre_kji, spacing_kji))
    mask = d2 <= radius_mm ** 2 + 1e-9
    if flat_axis is not None:
        mask &= grids[flat_axis] == centre_kji[flat_axis]
    return mask


@pytest.mark.parametrize("axis", [AXIAL, CORONAL, SAGITTAL])
def test_disc_dab_respects_anisotropic_spacing(aniso_session, axis):
    session = aniso_session
    tool = BrushTool(size_mm=5.0)
    centre_ijk = (20, 15, 6)
    stroke(tool, session, [centre_ijk], axis=axis)
    spacing_kji = session.geometry.spacing[::-1]
    expected = expected_ball(session.geometry.shape, centre_ijk[::-1], spacing_kji, 2.5, flat_axis=axis)
    np.testing.assert_array_equal(session.labels.array == 1, expected)


def test_sphere_dab_is_a_ball_in_mm(aniso_session):
    session = aniso_session
    stroke(BrushTool(size_mm=6.0, sphere=True), session, [(20, 15, 6)])
    expected = expected_ball(session.geometry.shape, (6, 15, 20), session.geometry.spacing[::-1], 3.0)
    np.testing.assert_array_equal(session.labels.array == 1, expected)
    # 6 mm across with 2.5 mm slices: three slices (k = 5, 6, 7)
    assert set(np.nonzero(session.labels.array)[0]) == {5, 6, 7}


def test_tiny_brush_paints_the_voxel_under_the_mouse(session):
    stroke(BrushTool(size_mm=0.1), session, [(3.2, 4.4, 5.0)])
    assert session.labels.array[5, 4, 3] == 1
    assert (session.labels.array > 0).sum() == 1


def test_fast_stroke_has_no_gaps(session):
    """Two events far apart: every voxel along the line between them is painted."""
    tool = BrushTool(size_mm=1.0)  # one voxel wide: the hardest case
    stroke(tool, session, [(1, 2, 10), (38, 27, 10)])
    painted = session.labels.array[10] > 0
    from scipy import ndimage
    _, count = ndimage.label(painted, structure=np.ones((3, 3)))
    assert count == 1
    assert painted[2, 1] and painted[27, 38]
    # every column between the two ends is touched
    assert painted.any(axis=0)[1:39].all()


def test_wide_brush_fast_stroke_is_a_solid_band(session):
    tool = BrushTool(size_mm=7.0)
    stroke(tool, session, [(3, 15, 10), (36, 15, 10)])
    band = session.labels.array[10, 12:19, 3:37] > 0
    assert band.all()


def test_a_whole_drag_is_one_undo_step(session):
    tool = BrushTool(size_mm=3.0)
    stroke(tool, session, [(5, 5, 3), (10, 6, 3), (20, 10, 3), (30, 20, 3)])
    painted = session.labels.array.copy()
    assert len(session.history) == 1
    assert session.history.undo_description == "Paint"
    session.undo()
    assert not session.labels.array.any()
    session.redo()
    np.testing.assert_array_equal(session.labels.array, painted)


def test_notifications_carry_only_small_boxes(session):
    boxes = []
    session.events.labels_changed.connect(boxes.append)
    stroke(BrushTool(size_mm=3.0), session, [(5, 5, 3), (30, 20, 3)])
    assert len(boxes) > 2
    # each dab announces its own small box ...
    for box in boxes[:-1]:
        sizes = [s.stop - s.start for s in box]
        assert sizes[0] == 1 and max(sizes) <= 3
    # ... and the release announces the whole stroke once, with its undo step recorded
    assert boxes[-1] == session.history._undo[-1].changes[0].box
    covered = np.zeros(session.geometry.shape, dtype=bool)
    for box in boxes:
        covered[box] = True
    assert covered[session.labels.array > 0].all()


def test_eraser_and_right_button(session):
    brush = BrushTool(size_mm=5.0)
    stroke(brush, session, [(10, 10, 5), (20, 10, 5)])
    before = int((session.labels.array > 0).sum())
    stroke(brush, session, [(10, 10, 5)], button="right")
    after_right = int((session.labels.array > 0).sum())
    assert after_right < before
    stroke(EraserTool(size_mm=5.0), session, [(20, 10, 5)])
    assert int((session.labels.array > 0).sum()) < after_right
    assert len(session.history) == 3


def test_paint_over_policies_and_locks(session):
    labels = session.labels.array
    labels[5, :, :20] = 2
    session.label_table.ensure([2])
    # only background: label 2 stays
    stroke(BrushTool(size_mm=9.0, paint_over=PAINT_OVER_BACKGROUND), session, [(20, 15, 5)])
    assert (labels[5, :, :20] == 2).all()
    assert labels[5, 15, 22] == 1
    session.undo()
    # only inside label 2: nothing outside it changes
    stroke(BrushTool(size_mm=9.0, paint_over=PAINT_OVER_LABEL, over_label=2), session, [(20, 15, 5)])
    assert labels[5, 15, 19] == 1 and labels[5, 15, 22] == 0
    session.undo()
    # locked label 2 is protected from painting and erasing
    session.label_table.update(2, locked=True)
    stroke(BrushTool(size_mm=9.0), session, [(20, 15, 5)])
    assert (labels[5, :, :20] == 2).all()
    stroke(EraserTool(size_mm=20.0), session, [(18, 15, 5)])
    assert (labels[5, :, :20] == 2).all()


def test_active_label_above_255_widens_the_map(session):
    session.active_label = 300
    stroke(BrushTool(size_mm=3.0), session, [(10, 10, 5)])
    assert session.labels.array.dtype == np.uint16
    assert session.labels.array[5, 10, 10] == 300
    assert 300 in session.label_table
    session.undo()
    assert not session.labels.array.any()


def test_cancel_restores_the_stroke(session):
    tool = BrushTool(size_mm=5.0)
    tool.press(session, SliceEvent((10, 10, 5), AXIAL))
    tool.drag(session, SliceEvent((20, 10, 5), AXIAL))
    tool.cancel(session)
    assert not session.labels.array.any()
    assert len(session.history) == 0


def test_long_overlapping_stroke_keeps_small_undo_record(make_session):
    """A stroke back and forth over the same voxels stores each voxel once."""
    session = make_session(size=(200, 200, 20))
    tool = BrushTool(size_mm=10.0)
    points = [(20 + (i % 2) * 150, 100, 10) for i in range(40)]
    stroke(tool, session, points)
    step_bytes = session.history.memory_bytes
    changed = int((session.labels.array > 0).sum())
    assert step_bytes < changed * 2 + 8 * 1024


def test_kernel_is_cached_and_read_only():
    a = ellipsoid_kernel(2.5, (2.5, 1.0, 0.5))
    b = ellipsoid_kernel(2.5, (2.5, 1.0, 0.5))
    assert a is b
    assert not a.flags.writeable


def test_writable_mask_policies():
    region = np.array([0, 1, 2, 3])
    assert writable_mask(region).tolist() == [True] * 4
    assert writable_mask(region, PAINT_OVER_BACKGROUND).tolist() == [True, False, False, False]
    assert writable_mask(region, PAINT_OVER_LABEL, 2).tolist() == [False, False, True, False]
    assert writable_mask(region, locked=[1, 3]).tolist() == [True, False, True, False]
    with pytest.raises(ValueError):
        writable_mask(region, "nonsense")


def test_labels_layer_marked_dirty(session):
    stroke(BrushTool(), session, [(10, 10, 5)])
    assert session.layer_dirty(LABELS)
