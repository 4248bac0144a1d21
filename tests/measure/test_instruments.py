"""Ruler, angle and region statistics in millimetres, on oblique and anisotropic grids."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.io.images import read_image
from segviewer.measure.instruments import MeasurementError, angle_degrees, region_mask, region_statistics, ruler_length
from segviewer.model.geometry import Geometry


def test_ruler_between_slices_of_the_oblique_mr_is_the_physical_distance(shared_data):
    geometry = read_image(shared_data / "dicom" / "mr_brain_t1post").geometry
    assert geometry.is_oblique()
    a_index, b_index = np.array([10, 20, 2]), np.array([200, 250, 19])  # 17 slices apart
    a, b = geometry.index_to_physical(a_index), geometry.index_to_physical(b_index)
    expected = np.linalg.norm((b_index - a_index) * np.asarray(geometry.spacing))
    assert ruler_length(a, b) == pytest.approx(expected, rel=1e-9)
    assert ruler_length(a, b) > 17 * geometry.spacing[2]  # the slices' distance counts


def test_angle_in_degrees_and_degenerate_arms_refused():
    assert angle_degrees((10, 0, 0), (0, 0, 0), (0, 5, 0)) == pytest.approx(90)
    assert angle_degrees((1, 0, 0), (0, 0, 0), (-3, 0, 0)) == pytest.approx(180)
    assert angle_degrees((1, 1, 0), (0, 0, 0), (1, 0, 0)) == pytest.approx(45)
    assert angle_degrees((1, 1e-9, 0), (0, 0, 0), (1, 0, 0)) == pytest.approx(0, abs=1e-6)
    with pytest.raises(MeasurementError, match="non-zero length"):
        angle_degrees((0, 0, 0), (0, 0, 0), (1, 0, 0))


def brute_force_inside(geometry, centre, radii):
    """Voxels whose centre is in the ellipsoid, by testing every voxel of the image."""
    k, j, i = np.indices(geometry.shape)
    offsets = (np.stack([i, j, k], -1) - geometry.physical_to_index(centre)) * np.asarray(geometry.spacing)
    terms = [(offsets[..., a] / r) ** 2 for a, r in enumerate(radii) if r > 0]
    inside = sum(terms) <= 1
    for a, r in enumerate(radii):
        if r == 0:
            inside &= np.abs(offsets[..., a]) <= geometry.spacing[a] / 2
    return inside


@pytest.mark.parametrize("radii", [(6.0, 6.0, 6.0), (9.0, 4.0, 0.0), (3.0, 0.0, 7.0)])
def test_region_statistics_are_those_of_the_voxels_inside(rng, radii):
    direction = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rotated in plane
    geometry = Geometry((30, 26, 12), (0.7, 0.9, 2.5), (5.0, -3.0, 40.0), direction)
    image = rng.normal(100, 20, geometry.shape).astype(np.int16)
    centre = geometry.index_to_physical((14.3, 12.8, 5.2))
    expected = image[brute_force_inside(geometry, centre, radii)].astype(float)
    found = region_statistics(image, geometry, centre, radii)
    assert found.voxel_count == expected.size > 10
    assert found.mean == pytest.approx(expected.mean()) and found.median == pytest.approx(np.median(expected))
    assert found.std == pytest.approx(expected.std(ddof=1))
    flat = radii.count(0.0) == 1
    unit = np.prod([s for s, r in zip(geometry.spacing, radii) if r > 0]) if flat else np.prod(geometry.spacing)
    assert found.size_mm == pytest.approx(expected.size * unit)


def test_region_outside_the_image_or_flat_in_two_axes_is_refused():
    geometry = Geometry((10, 10, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(MeasurementError, match="outside the image"):
        region_mask(geometry, (100.0, 100.0, 100.0), (2.0, 2.0, 2.0))
    with pytest.raises(MeasurementError, match="two positive radii"):
        region_mask(geometry, (5.0, 5.0, 5.0), (2.0, 0.0, 0.0))
