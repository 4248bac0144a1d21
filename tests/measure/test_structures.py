"""Minimum distance between labels, RECIST diameters and local thickness, against brute force
and shapes of known size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from segviewer.io.labels import read_label_map
from segviewer.measure.instruments import MeasurementError
from segviewer.measure.structures import local_thickness, minimum_distance, recist_diameters
from segviewer.model.geometry import Geometry

OBLIQUE = Geometry((40, 36, 24), (0.8, 0.8, 2.0), (10.0, -20.0, 5.0),
                   np.array([[0.96, -0.28, 0.0], [0.28, 0.96, 0.0], [0.0, 0.0, 1.0]]))


def physical_points(geometry, mask):
    return geometry.index_to_physical(np.argwhere(mask)[:, ::-1].astype(float))


def test_minimum_distance_and_where_match_brute_force_on_the_hippocampus(shared_data):
    labels = read_label_map(shared_data / "hippocampus" / "labelsTr" / "hippocampus_017.nii.gz")[0]
    labels.array[labels.array == 2] = 0
    labels.array[:, :, labels.array.shape[2] // 2:] = np.where(labels.array[:, :, labels.array.shape[2] // 2:] == 1,
                                                               2, 0)  # split label 1 into two parts
    a, b = physical_points(labels.geometry, labels.array == 1), physical_points(labels.geometry, labels.array == 2)
    assert len(a) and len(b)
    pairs = cdist(a, b)
    found = minimum_distance(labels.array, labels.geometry, 1, 2)
    assert found.distance_mm == pytest.approx(pairs.min())
    assert np.linalg.norm(np.subtract(found.point_first, found.point_second)) == pytest.approx(found.distance_mm)
    assert np.min(np.linalg.norm(a - found.point_first, axis=1)) == pytest.approx(0, abs=1e-9)
    assert np.min(np.linalg.norm(b - found.point_second, axis=1)) == pytest.approx(0, abs=1e-9)


def test_minimum_distance_across_a_gap_on_an_oblique_grid():
    labels = np.zeros(OBLIQUE.shape, np.uint8)
    labels[5:10, 5:30, 5:15] = 1
    labels[14:20, 10:20, 8:12] = 3  # 4 empty slices between: centres 5 slices of 2 mm apart
    found = minimum_distance(labels, OBLIQUE, 3, 1)
    assert found.distance_mm == pytest.approx(10.0)
    assert OBLIQUE.physical_to_index(found.point_first)[2] == pytest.approx(14)
    with pytest.raises(MeasurementError, match="label 2 has no voxels"):
        minimum_distance(labels, OBLIQUE, 1, 2)


def test_recist_diameters_of_a_rotated_ellipse_lesion():
    geometry = Geometry((120, 120, 9), (0.5, 0.5, 3.0), (0.0, 0.0, 0.0))
    k, j, i = np.indices(geometry.shape)
    x, y = (i - 60) * 0.5, (j - 60) * 0.5
    angle = np.radians(30)
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    sizes = {2: 0.6, 3: 0.9, 4: 1.0, 5: 0.8}  # the lesion is widest on slice 4
    labels = np.zeros(geometry.shape, np.uint8)
    for slice_index, scale in sizes.items():
        inside = (u / (20 * scale)) ** 2 + (v / (10 * scale)) ** 2 <= 1
        labels[slice_index][inside[slice_index]] = 1
    found = recist_diameters(labels, geometry, 1)
    assert found.slice_axis == "k" and found.slice_index == 4
    assert found.long_mm == pytest.approx(40, abs=1.0) and found.short_mm == pytest.approx(20, abs=1.0)
    long_axis = np.subtract(*found.long_points)
    short_axis = np.subtract(*found.short_points)
    assert np.linalg.norm(long_axis) == pytest.approx(found.long_mm)
    assert abs(np.dot(long_axis, short_axis)) / (found.long_mm * found.short_mm) < 0.02  # perpendicular
    assert abs(abs(long_axis[1] / long_axis[0]) - np.tan(angle)) < 0.05  # along the lesion's 30° axis
    assert all(p[2] == pytest.approx(12.0) for p in (*found.long_points, *found.short_points))  # on slice 4


def test_recist_long_axis_of_the_spleen_is_its_largest_in_slice_extent(spleen_paths):
    labels = read_label_map(spleen_paths[1])[0]
    found = recist_diameters(labels.array, labels.geometry, 1)
    spacing = np.asarray(labels.geometry.spacing[:2])
    best = 0.0
    for index in range(labels.array.shape[0]):
        mask = labels.array[index] == 1
        edge = mask & ~ndimage.binary_erosion(mask)  # the farthest corners are on edge pixels
        pixels = np.argwhere(edge)[:, ::-1].astype(float)
        if len(pixels):
            corners = (pixels[:, None] + np.array([[-.5, -.5], [-.5, .5], [.5, -.5], [.5, .5]])).reshape(-1, 2)
            best = max(best, cdist(corners * spacing, corners * spacing).max())
    assert found.long_mm == pytest.approx(best, rel=1e-6)
    assert 0 < found.short_mm < found.long_mm


def test_local_thickness_of_a_slab_and_a_rod_is_their_width():
    geometry = Geometry((60, 60, 24), (0.8, 0.8, 2.5), (0.0, 0.0, 0.0))
    labels = np.zeros(geometry.shape, np.uint8)
    labels[8:14, 5:55, 5:55] = 1  # a wall 6 slices (15 mm) thick
    slab = local_thickness(labels, geometry, 1)
    assert slab.statistics["median_mm"] == pytest.approx(15.0)
    assert slab.map_mm[10, 30, 30] == pytest.approx(15.0) and slab.map_mm[0, 0, 0] == 0
    k, j, i = np.indices(geometry.shape)
    rod = ((j - 30) * 0.8) ** 2 + ((i - 30) * 0.8) ** 2 <= 8.0 ** 2  # a rod 16 mm across, along k
    labels = rod.astype(np.uint8) * 2
    found = local_thickness(labels, geometry, 2)
    assert found.statistics["median_mm"] == pytest.approx(16.0, abs=1.6)  # within two voxels
    assert found.statistics["maximum_mm"] <= 16.0 + 0.8


def test_local_thickness_of_the_spleen_is_bounded_by_its_size(spleen_paths):
    labels = read_label_map(spleen_paths[1])[0]
    found = local_thickness(labels.array, labels.geometry, 1)
    statistics = found.statistics
    assert statistics["voxels"] == int((labels.array == 1).sum())
    assert np.all(found.map_mm[labels.array == 1] > 0) and np.all(found.map_mm[labels.array != 1] == 0)
    diameters = recist_diameters(labels.array, labels.geometry, 1)
    assert 10 < statistics["median_mm"] < statistics["maximum_mm"] <= diameters.short_mm
