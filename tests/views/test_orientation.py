"""The slice views show anatomy where radiologists expect it, for any storage order."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import QPoint, QPointF, Qt

from segviewer.app.display import slice_orientations
from segviewer.io.images import geometry_of

from viewer_helpers import click, wheel


def spleen_centroid_index(label_path):
    """The spleen's centroid (a known anatomical point), as SimpleITK finds it."""
    labels = sitk.ReadImage(str(label_path))
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(sitk.Cast(labels, sitk.sitkUInt8))
    centroid_mm = statistics.GetCentroid(1)
    return labels, labels.TransformPhysicalPointToIndex(centroid_mm)


@pytest.mark.gui
def test_click_on_the_spleen_centre_shows_its_world_position(spleen_window, spleen_paths, qtbot):
    window = spleen_window
    labels, (i, j, k) = spleen_centroid_index(spleen_paths[1])
    session = window.controller.session
    axial = window.views["axial"]
    wheel(axial, k - session.cursor[2])  # scroll to the centroid's slice
    assert axial.slice_index == k
    click(qtbot, axial, (i, j, k))
    assert session.cursor == (i, j, k)
    x, y, z = labels.TransformIndexToPhysicalPoint((i, j, k))
    status = window.status_text()
    assert status["world"] == f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm"
    assert status["voxel"] == f"Voxel ({i}, {j}, {k})"
    assert status["label"].startswith("Label 1")
    value = sitk.ReadImage(str(spleen_paths[0])).GetPixel(i, j, k)
    assert status["value"] == f"Value {value:g}"


@pytest.mark.gui
def test_screen_directions_on_the_spleen_ct(spleen_window, qtbot):
    """Axial: screen right = patient left (+x), down = posterior (+y). Coronal: up = superior.
    Sagittal: right = posterior. Checked through clicks and the world position."""
    window = spleen_window
    views = window.views

    def click_at(key, fx, fy):
        """Click at a fraction (fx, fy) of the displayed image's width and height."""
        view = views[key]
        rect = view._full_rect
        scene = view.view_box.mapViewToScene(QPointF(rect.left() + fx * rect.width(), rect.top() + fy * rect.height()))
        point = view.graphics.mapFromScene(scene)
        qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y()))
        session = window.controller.session
        return np.asarray(session.geometry.index_to_physical(session.cursor))

    left_side, right_side = click_at("axial", 0.2, 0.5), click_at("axial", 0.8, 0.5)
    assert right_side[0] > left_side[0] + 50  # moving right on screen goes to the patient's left
    top, bottom = click_at("axial", 0.5, 0.2), click_at("axial", 0.5, 0.8)
    assert bottom[1] > top[1] + 50  # down = posterior
    top, bottom = click_at("coronal", 0.5, 0.1), click_at("coronal", 0.5, 0.9)
    assert top[2] > bottom[2] + 50  # up = superior
    front, back = click_at("sagittal", 0.2, 0.5), click_at("sagittal", 0.8, 0.5)
    assert back[1] > front[1] + 50  # right = posterior (anterior on the left)
    letters = {key: views[key].orientation.letters for key in ("axial", "coronal", "sagittal")}
    assert (letters["axial"]["left"], letters["axial"]["right"], letters["axial"]["top"]) == ("R", "L", "A")
    assert (letters["coronal"]["top"], letters["coronal"]["bottom"]) == ("S", "I")
    assert (letters["sagittal"]["left"], letters["sagittal"]["right"]) == ("A", "P")
    assert views["axial"].letter_labels["left"].text() == "R"


@pytest.mark.parametrize("storage", ["LPS", "RAS", "RAI", "PIR", "SLA", "ALS"])
def test_same_anatomy_looks_the_same_in_any_storage_order(storage, rng):
    """One volume re-stored in another index order (same physical content): the three views
    show identical pixels at the same physical cursor."""
    array = rng.integers(0, 1000, size=(6, 7, 8)).astype(np.int16)
    reference = sitk.GetImageFromArray(array)
    reference.SetSpacing((0.8, 1.1, 3.0))
    reference.SetOrigin((10.0, -20.0, 5.0))
    stored = sitk.DICOMOrient(reference, storage)
    ref_geometry, new_geometry = geometry_of(reference), geometry_of(stored)
    ref_array, new_array = sitk.GetArrayFromImage(reference), sitk.GetArrayFromImage(stored)
    ref_views, new_views = slice_orientations(ref_geometry), slice_orientations(new_geometry)
    point_mm = reference.TransformIndexToPhysicalPoint((3, 2, 4))
    ref_cursor = ref_geometry.physical_to_voxel(point_mm)
    new_cursor = new_geometry.physical_to_voxel(point_mm)
    for key in ("axial", "sagittal", "coronal"):
        a, b = ref_views[key], new_views[key]
        plane_a = a.extract(ref_array, ref_cursor[a.normal_index_axis])
        plane_b = b.extract(new_array, new_cursor[b.normal_index_axis])
        assert np.array_equal(plane_a, plane_b), key
        assert a.letters == b.letters
        assert a.spacing == b.spacing
