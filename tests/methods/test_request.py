"""From a session to a request and back: ROI in mm, read-only crops, points in crop
voxels, one undo step, nothing written outside the ROI or where the result did not decide."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.methods.base import MethodInputError, MethodResult
from segviewer.methods.registry import get_method
from segviewer.methods.request import apply_result, build_request, build_request_from_arrays, compute_roi, margin_voxels
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.points import PointPrompt
from segviewer.model.session import Session


def make_session(shape=(20, 30, 40), spacing=(0.5, 1.0, 2.0)):  # spacing ITK order (x, y, z)
    geometry = Geometry(shape[::-1], spacing, (10.0, -5.0, 3.0), np.diag([-1.0, -1.0, 1.0]))
    image = ImageVolume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), geometry)
    return Session(image)


def test_margin_in_mm_per_axis():
    assert margin_voxels(10.0, (2.0, 1.0, 0.5)) == (5, 10, 20)
    assert margin_voxels(0.0, (2.0, 1.0, 0.5)) == (0, 0, 0)


def test_roi_is_the_scribble_box_plus_margin():
    scribbles = np.full((20, 30, 40), 255, dtype=np.uint8)
    scribbles[10, 12:14, 20:22] = 1
    roi = compute_roi(scribbles.shape, (2.0, 1.0, 0.5), scribbles, 255, margin_mm=4.0)
    assert roi == (slice(8, 13), slice(8, 18), slice(12, 30))
    assert compute_roi(scribbles.shape, (2.0, 1.0, 0.5), scribbles, 255, whole_volume=True) == \
        (slice(0, 20), slice(0, 30), slice(0, 40))
    empty = np.full((20, 30, 40), 255, dtype=np.uint8)
    assert compute_roi(empty.shape, (1, 1, 1), empty, 255) == (slice(0, 20), slice(0, 30), slice(0, 40))
    clipped = compute_roi(scribbles.shape, (2.0, 1.0, 0.5), scribbles, 255, margin_mm=100.0)
    assert clipped == (slice(0, 20), slice(0, 30), slice(0, 40))


def test_request_from_session_crops_read_only_and_converts_points():
    session = make_session()
    session.scribbles.array[10, 12, 20] = 1
    session.scribbles.array[11, 14, 22] = 0
    point_index = (25, 15, 12)  # (i, j, k)
    session.add_point(PointPrompt(tuple(session.geometry.index_to_physical(point_index)), 2, False))
    session.labels.array[10, 13, 21] = 3
    method = get_method("graphcut")
    request = build_request(session, method, margin_mm=2.0)
    # scribble voxels (k 10..11, j 12..14, i 20..22) and the point (k 12, j 15, i 25), margin 2 mm
    assert request.roi == (slice(9, 14), slice(10, 18), slice(16, 30))
    assert request.image.shape == (5, 8, 14)
    assert not request.image.flags.writeable and not request.scribbles.flags.writeable
    assert not request.labels.flags.writeable
    assert np.shares_memory(request.image, session.image.array)  # a view: no copy of the image
    assert not np.shares_memory(request.scribbles, session.scribbles.array)  # a copy: the GUI may edit
    assert request.points[0].index == (12 - 9, 15 - 10, 25 - 16)
    assert request.points[0].label == 2 and not request.points[0].positive
    assert request.labels[10 - 9, 13 - 10, 21 - 16] == 3
    assert request.volume_shape == session.geometry.shape and not request.is_whole_volume
    # the crop's geometry sits where the crop is
    assert np.allclose(request.geometry.index_to_physical((0, 0, 0)),
                       session.geometry.index_to_physical((16, 10, 9)))


def test_methods_that_need_scribbles_say_so():
    session = make_session()
    with pytest.raises(MethodInputError, match="needs scribbles"):
        build_request(session, get_method("graphcut"))
    with pytest.raises(MethodInputError, match="point or a scribble"):
        build_request(session, get_method("region_growing"))
    request = build_request(session, get_method("threshold"))  # needs nothing: whole volume
    assert request.is_whole_volume


def test_apply_is_one_undo_step_and_respects_roi_and_decided():
    session = make_session()
    session.labels.array[...] = 0
    session.labels.array[0, 0, 0] = 5  # outside the ROI
    session.labels.array[5, 5, 5] = 4  # inside, not decided
    roi = (slice(2, 8), slice(2, 8), slice(2, 8))
    labels = np.ones((6, 6, 6), dtype=np.uint8)
    decided = np.ones((6, 6, 6), dtype=bool)
    decided[3, 3, 3] = False  # the voxel (5, 5, 5)
    steps_before = len(session.history._undo) if hasattr(session.history, "_undo") else None
    step = apply_result(session, MethodResult(roi, labels, decided=decided), "Graph cut")
    assert step is not None
    assert session.labels.array[0, 0, 0] == 5 and session.labels.array[5, 5, 5] == 4
    assert np.count_nonzero(session.labels.array == 1) == 6 ** 3 - 1
    session.undo()
    assert np.count_nonzero(session.labels.array == 1) == 0
    assert session.labels.array[0, 0, 0] == 5 and session.labels.array[5, 5, 5] == 4
    session.redo()
    assert np.count_nonzero(session.labels.array == 1) == 6 ** 3 - 1
    del steps_before


def test_apply_refuses_results_that_do_not_fit():
    session = make_session()
    with pytest.raises(MethodInputError):
        apply_result(session, MethodResult((slice(0, 5), slice(0, 5), slice(0, 5)), np.ones((4, 5, 5), np.uint8)))
    with pytest.raises(MethodInputError):
        apply_result(session, MethodResult((slice(15, 25), slice(0, 5), slice(0, 5)), np.ones((10, 5, 5), np.uint8)))


def test_request_from_arrays_checks_shapes():
    method = get_method("graphcut")
    geometry = Geometry((4, 4, 4), (1, 1, 1), (0, 0, 0))
    with pytest.raises(MethodInputError, match="not on the image grid"):
        build_request_from_arrays(method, np.zeros((4, 4, 4)), geometry, scribbles=np.zeros((3, 4, 4), np.uint8))
