"""Fill between slices (shape-based interpolation), on synthetic shapes and the real spleen."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.labels import LabelMap
from segviewer.model.session import Session
from segviewer.tools.interpolate import apply_preview, interpolate_between_slices


def disc(shape2d, centre, radius):
    rows, cols = np.indices(shape2d)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def test_discs_of_growing_radius_interpolate_to_intermediate_discs(make_session):
    session = make_session(size=(60, 60, 12))
    labels = session.labels.array
    labels[1][disc((60, 60), (30, 30), 5)] = 1
    labels[9][disc((60, 60), (30, 30), 21)] = 1
    before = labels.copy()
    preview = interpolate_between_slices(session, value=1, axis=0)
    np.testing.assert_array_equal(labels, before)  # a preview changes nothing
    assert preview.key_slices == [1, 9] and preview.filled_slices == list(range(2, 9))
    apply_preview(session, preview)
    assert len(session.history) == 1
    for k in range(2, 9):
        area = (labels[k] == 1).sum()
        radius = 5 + (21 - 5) * (k - 1) / 8
        assert abs(area - np.pi * radius ** 2) / (np.pi * radius ** 2) < 0.12, k
    assert not labels[0].any() and not labels[10:].any()
    session.undo()
    np.testing.assert_array_equal(labels, before)


@pytest.mark.parametrize("align", [True, False])
def test_shifted_shape_moves_and_other_axes(make_session, align):
    session = make_session(size=(40, 12, 40))
    labels = session.labels.array  # coronal: axis 1 (j); the slice plane is (k, i)
    labels[:, 0][disc((40, 40), (10, 14), 8)] = 2
    labels[:, 10][disc((40, 40), (10, 26), 8)] = 2
    apply_preview(session, interpolate_between_slices(session, value=2, axis=1, align_centroids=align))
    rows, cols = np.nonzero(labels[:, 5] == 2)
    assert abs(cols.mean() - 20) < 1.0 and abs(rows.mean() - 10) < 1.0
    if align:  # carried along, the disc keeps its size
        assert abs(len(rows) - np.pi * 64) / (np.pi * 64) < 0.1


def test_disjoint_shapes_are_carried_along_when_aligned(make_session):
    session = make_session(size=(40, 40, 11))
    labels = session.labels.array
    labels[0][disc((40, 40), (10, 8), 4)] = 1
    labels[10][disc((40, 40), (10, 32), 4)] = 1
    apply_preview(session, interpolate_between_slices(session, value=1))
    for k in range(1, 10):
        rows, cols = np.nonzero(labels[k] == 1)
        assert len(rows) > 30, k
        assert abs(cols.mean() - (8 + 24 * k / 10)) < 1.0


def test_needs_two_key_slices_and_keeps_user_slices(make_session):
    session = make_session(size=(30, 30, 10))
    labels = session.labels.array
    assert interpolate_between_slices(session, value=1) is None
    labels[2, 10:20, 10:20] = 1
    assert interpolate_between_slices(session, value=1) is None
    labels[6, 12:14, 12:14] = 1  # a user slice between: left as drawn
    labels[8, 10:20, 10:20] = 1
    preview = interpolate_between_slices(session, value=1)
    assert 6 not in preview.filled_slices
    apply_preview(session, preview)
    assert (labels[6] == 1).sum() == 4


def test_other_labels_are_kept_by_default(make_session):
    session = make_session(size=(30, 30, 10))
    labels = session.labels.array
    labels[2, 10:20, 10:20] = 1
    labels[8, 10:20, 10:20] = 1
    labels[5, 10:20, 10:15] = 3
    apply_preview(session, interpolate_between_slices(session, value=1))
    assert (labels[5, 10:20, 10:15] == 3).all() and (labels[5, 10:20, 15:20] == 1).all()


def dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_spleen_five_of_its_slices_interpolate_to_the_expert_mask(spleen_paths):
    from segviewer.io.images import read_image

    image = read_image(spleen_paths[0])
    expert = read_image(spleen_paths[1]).array.astype(np.uint8) == 1
    present = np.flatnonzero(expert.any(axis=(1, 2)))
    keys = sorted({int(round(v)) for v in np.linspace(present[0], present[-1], 5)})
    assert len(keys) == 5
    sparse = np.zeros(expert.shape, np.uint8)
    sparse[keys] = expert[keys]
    session = Session(image, LabelMap(sparse, image.geometry))
    apply_preview(session, interpolate_between_slices(session, value=1, axis=0))
    result = session.labels.array == 1
    between = [k for k in range(present[0], present[-1] + 1) if k not in keys]
    overall, inner = dice(result, expert), dice(result[between], expert[between])
    print(f"spleen fill-between-slices: key slices {keys} of {len(present)} with spleen; "
          f"Dice {overall:.3f} overall, {inner:.3f} on the {len(between)} interpolated slices")
    assert overall > 0.90 and inner > 0.88
