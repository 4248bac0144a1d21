"""Clean-up operations: each one undo step on the smallest changed box, locks respected."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segviewer.tools import cleanup


def ball(shape, centre, radius, spacing=(1.0, 1.0, 1.0)):
    grids = np.indices(shape)
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing)) <= radius ** 2


@pytest.fixture
def islands(make_session):
    session = make_session(size=(40, 40, 20))
    labels = session.labels.array
    labels[ball(labels.shape, (10, 20, 20), 6)] = 1   # big: ~900 voxels
    labels[2:4, 2:4, 2:4] = 1                          # 8 voxels
    labels[15:18, 30:33, 30:33] = 1                    # 27 voxels
    return session


def only_step_box(session):
    step = session.history._undo[-1]
    assert len(step.changes) == 1
    return step.changes[0].box


def test_keep_largest_island(islands):
    big = ball(islands.labels.array.shape, (10, 20, 20), 6)
    before = islands.labels.array.copy()
    assert cleanup.keep_largest_island(islands, 1) is not None
    np.testing.assert_array_equal(islands.labels.array == 1, big)
    assert len(islands.history) == 1
    box = only_step_box(islands)
    assert box == (slice(2, 18), slice(2, 33), slice(2, 33))  # only the removed pieces' box
    islands.undo()
    np.testing.assert_array_equal(islands.labels.array, before)
    assert cleanup.keep_largest_island(islands, 7) is None  # empty label: no step


def test_remove_small_islands_in_mm3(islands, make_session):
    cleanup.remove_small_islands(islands, 1, min_volume_mm3=10)
    labels = islands.labels.array
    assert not labels[2:4, 2:4, 2:4].any() and labels[15:18, 30:33, 30:33].all()
    # the same voxels with 2x2x2 mm spacing are 8x larger: 8 voxels = 64 mm³ survive
    session = make_session(size=(40, 40, 20), spacing=(2.0, 2.0, 2.0))
    session.labels.array[2:4, 2:4, 2:4] = 1
    assert cleanup.remove_small_islands(session, 1, min_volume_mm3=10) is None


def test_split_islands_makes_new_labels(islands):
    step, new_values = cleanup.split_islands(islands, 1)
    assert step is not None and new_values == [2, 3]
    labels = islands.labels.array
    assert (labels[15:18, 30:33, 30:33] == 2).all()  # 27 voxels: second largest
    assert (labels[2:4, 2:4, 2:4] == 3).all()
    assert (labels == 1).sum() == ball(labels.shape, (10, 20, 20), 6).sum()
    assert islands.label_table.name_of(2) == "Label 1 2"
    assert len(islands.history) == 1


def test_fill_holes_3d_and_per_slice(make_session):
    session = make_session(size=(20, 20, 20))
    labels = session.labels.array
    labels[5:15, 5:15, 5:15] = 1
    labels[8:12, 8:12, 8:12] = 0   # an enclosed cavity
    labels[9, 9, 9] = 4            # another label inside it stays
    cleanup.fill_holes(session, 1)
    assert (labels[8:12, 8:12, 8:12] == 1).sum() == 63 and labels[9, 9, 9] == 4
    session.undo()
    # a tube open at both ends along k: no 3D hole, but a hole in every axial slice
    labels[:] = 0
    labels[:, 5:15, 5:15] = 1
    labels[:, 8:12, 8:12] = 0
    assert cleanup.fill_holes(session, 1) is None
    cleanup.fill_holes(session, 1, axis=0)
    assert (labels[:, 5:15, 5:15] == 1).all()


@pytest.mark.parametrize("method", cleanup.SMOOTHING_METHODS)
def test_smoothing_removes_spikes_and_keeps_the_body(make_session, method):
    session = make_session(size=(40, 40, 40))
    labels = session.labels.array
    body = ball(labels.shape, (20, 20, 20), 10)
    labels[body] = 1
    labels[20, 20, 30:38] = 1  # a one-voxel spike
    cleanup.smooth(session, 1, radius_mm=2.0, method=method)
    result = labels == 1
    if method != "closing":
        assert not result[20, 20, 33:38].any()
    overlap = (result & body).sum() / body.sum()
    assert overlap > 0.95
    assert len(session.history) <= 1


def test_grow_and_shrink_use_millimetres(make_session):
    session = make_session(size=(40, 40, 20), spacing=(1.0, 1.0, 3.0))
    labels = session.labels.array
    labels[10, 20, 20] = 1
    cleanup.grow(session, 1, margin_mm=4.0)
    expected = ball(labels.shape, (10, 20, 20), 4.0, spacing=(3.0, 1.0, 1.0))
    np.testing.assert_array_equal(labels == 1, expected)
    assert set(np.nonzero(labels)[0]) == {9, 10, 11}
    cleanup.shrink(session, 1, margin_mm=2.0)
    inner = ndimage.distance_transform_edt(expected, sampling=(3.0, 1.0, 1.0)) > 2.0
    np.testing.assert_array_equal(labels == 1, inner)
    assert len(session.history) == 2
    assert cleanup.grow_or_shrink(session, 1, 0.0) is None


def test_grow_only_into_background_by_default(make_session):
    session = make_session(size=(30, 30, 10))
    labels = session.labels.array
    labels[5, 10:20, 10:15] = 1
    labels[5, 10:20, 15:20] = 2
    cleanup.grow(session, 1, margin_mm=3.0)
    assert (labels[5, 10:20, 15:20] == 2).all()
    assert (labels[5, 10:20, 7:10] == 1).all()


def test_logical_operations(make_session):
    session = make_session(size=(30, 30, 10))
    labels = session.labels.array
    labels[5, 0:10] = 1
    labels[5, 20:30] = 2
    mask = np.zeros(labels.shape, bool)
    mask[5, 5:25] = True
    cleanup.logical_operation(session, 1, "union", mask)       # grows over background and 2
    assert (labels[5, 0:25] == 1).all() and (labels[5, 25:] == 2).all()
    cleanup.logical_operation(session, 1, "subtract", mask)
    assert (labels[5, 0:5] == 1).all() and not (labels[5, 5:25] == 1).any()
    cleanup.logical_operation(session, 1, "intersect", mask)   # 1 only in 0:5: empty now
    assert not (labels == 1).any()
    session.undo()
    cleanup.logical_operation(session, 1, "copy", 2)            # relabel 2 as 1
    assert (labels[5, 25:] == 1).all() and not (labels == 2).any() and not labels[5, 0:5].any()
    cleanup.logical_operation(session, 1, "clear")
    assert not labels.any()
    with pytest.raises(ValueError):
        cleanup.logical_operation(session, 1, "xor", 2)
    with pytest.raises(ValueError):
        cleanup.logical_operation(session, 1, "union")


def test_locked_labels_are_protected(islands):
    islands.label_table.update(1, locked=True)
    before = islands.labels.array.copy()
    assert cleanup.keep_largest_island(islands, 1) is None
    assert cleanup.clear_label(islands, 1) is None
    np.testing.assert_array_equal(islands.labels.array, before)


def test_cleanup_of_a_whole_large_label_stores_far_less_than_a_copy(make_session):
    session = make_session(size=(256, 256, 100))
    labels = session.labels.array
    labels[10:90, 20:240, 20:240] = 1
    labels[50, 5, 5] = 1  # a stray voxel
    cleanup.shrink(session, 1, margin_mm=1.0)
    assert session.history.memory_bytes < labels.nbytes / 8
