"""Unusual images open and display without errors: one slice, uint16 labels, scribbles,
points, a sagittally stored oblique volume."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles
from segviewer.model.session import LABELS, SCRIBBLES, Session

from viewer_helpers import click, wait_idle

pytestmark = pytest.mark.gui


def session_for(geometry, rng, dtype=np.int16, label_dtype=np.uint8, top_label=3):
    image = ImageVolume(rng.integers(0, 500, size=geometry.shape).astype(dtype), geometry, name="synthetic")
    labels = np.zeros(geometry.shape, label_dtype)
    nz, ny, nx = geometry.shape
    labels[:, ny // 4: ny // 2, nx // 4: nx // 2] = top_label
    table = LabelTable()
    table.ensure([top_label])
    return Session(image, LabelMap(labels, geometry, table))


def show(window, qtbot, session):
    window.controller.set_session(session)
    wait_idle(qtbot, window)
    for view in window.views.values():
        view.repaint()


def test_single_slice_image(make_window, qtbot, rng):
    window = make_window(load=False)
    session = session_for(Geometry((40, 30, 1), (1.0, 1.0, 3.0), (0, 0, 0)), rng)
    show(window, qtbot, session)
    axial = window.views["axial"]
    assert axial.orientation.slice_count == 1
    assert window.views["coronal"].orientation.shape == (1, 40)
    click(qtbot, axial, (5, 6, 0))
    assert session.cursor == (5, 6, 0)
    axial.step_slice(3)  # nowhere to go
    assert session.cursor == (5, 6, 0)


def test_uint16_labels_scribbles_and_points(make_window, qtbot, rng):
    window = make_window(load=False)
    geometry = Geometry((48, 40, 12), (0.9, 0.9, 2.0), (0, 0, 0))
    session = session_for(geometry, rng, label_dtype=np.uint16, top_label=700)
    show(window, qtbot, session)
    view = window.views["axial"]
    i, j, k = 16, 14, session.cursor[2]
    rgba = view.displayed_labels()
    row, column = (int(round(v / s)) for v, s in zip(view.orientation.index_to_display((i, j, k))[1::-1],
                                                       view.orientation.spacing[:2]))
    assert tuple(rgba[row, column, :3]) == session.label_table.colour_of(700)
    # a new label > 700 painted later gets its colour too
    session.apply_layer_crop(LABELS, (slice(k, k + 1), slice(30, 34), slice(30, 34)),
                             np.full((1, 4, 4), 1234, np.uint16), "paint")
    x, y, _ = view.orientation.index_to_display((31, 31, k))
    row, column = int(round(y / view.orientation.spacing[0])), int(round(x / view.orientation.spacing[1]))
    assert view.displayed_labels()[row, column, 3] > 0
    # scribbles: background class and a label class, drawn above the labels
    scribble = np.full((1, 3, 3), 0, np.uint8)
    session.apply_layer_crop(SCRIBBLES, (slice(k, k + 1), slice(2, 5), slice(2, 5)), scribble, "scribble")
    assert view.scribble_item.isVisible()
    session.add_point(PointPrompt(tuple(geometry.index_to_physical((20, 20, k))), 700, True))
    session.add_point(PointPrompt(tuple(geometry.index_to_physical((25, 20, k))), 700, False))
    assert view.points_item.isVisible() and len(view.points_item.data) == 2
    view.step_slice(3)  # points are on another slice now
    assert not view.points_item.isVisible()
    wait_idle(qtbot, window)
    if window.view3d.scene is not None:
        assert {700, 1234} <= set(window.view3d.scene.label_actors)


def test_scribbles_loaded_with_the_session_show_up(make_window, qtbot, rng):
    window = make_window(load=False)
    geometry = Geometry((30, 30, 6), (1.0, 1.0, 1.0), (0, 0, 0))
    session = session_for(geometry, rng)
    array = np.full(geometry.shape, 255, np.uint8)
    array[session.cursor[2], 5:10, 5:10] = 3
    session.scribbles = Scribbles(array, geometry)
    show(window, qtbot, session)
    view = window.views["axial"]
    assert view.scribble_item.isVisible()
    assert view.scribble_item.image[..., 3].max() == 255


def test_sagittally_stored_oblique_volume(make_window, qtbot, rng):
    window = make_window(load=False)
    direction = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float)
    tilt = np.array([[1, 0, 0], [0, np.cos(0.2), -np.sin(0.2)], [0, np.sin(0.2), np.cos(0.2)]])
    geometry = Geometry((20, 36, 30), (1.2, 0.8, 0.8), (5.0, -3.0, 40.0), tilt @ direction)
    session = session_for(geometry, rng)
    show(window, qtbot, session)
    for key in ("axial", "sagittal", "coronal"):
        view = window.views[key]
        assert view.orientation.oblique
        assert view.notice_label.text() == "oblique: image grid"
    assert window.views["axial"].letter_labels["left"].text() == "R"
    assert window.views["sagittal"].letter_labels["left"].text() == "A"
    # stored sagittally: the image's slices (k, along x) are what the sagittal view pages through
    assert window.views["sagittal"].orientation.normal_index_axis == 2
    assert window.views["axial"].orientation.normal_index_axis == 1
