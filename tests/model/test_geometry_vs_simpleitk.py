"""Geometry transforms checked against SimpleITK (TransformIndexToPhysicalPoint and friends)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from segviewer.model.geometry import Geometry, bounding_box, box_from_bounds, grow_box, union_box


def _rotation(seed: int, proper: bool = True) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if proper and np.linalg.det(q) < 0:
        q[:, 2] *= -1
    return q


sizes = st.tuples(*[st.integers(1, 40)] * 3)
spacings = st.tuples(*[st.floats(0.05, 10.0)] * 3)
origins = st.tuples(*[st.floats(-500.0, 500.0)] * 3)
seeds = st.integers(0, 10_000)


def _pair(size, spacing, origin, seed):
    direction = _rotation(seed, proper=seed % 2 == 0)
    geometry = Geometry(size, spacing, origin, direction)
    image = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(tuple(direction.reshape(-1)))
    return geometry, image


@settings(max_examples=60, deadline=None)
@given(sizes, spacings, origins, seeds, st.lists(st.tuples(*[st.floats(-5, 45)] * 3), min_size=1, max_size=5))
def test_index_to_physical_matches_simpleitk(size, spacing, origin, seed, indices):
    geometry, image = _pair(size, spacing, origin, seed)
    for index in indices:
        expected = image.TransformContinuousIndexToPhysicalPoint(index)
        np.testing.assert_allclose(geometry.index_to_physical(index), expected, atol=1e-7, rtol=1e-9)
        back = geometry.physical_to_index(expected)
        np.testing.assert_allclose(back, image.TransformPhysicalPointToContinuousIndex(expected),
                                   atol=1e-6)
        np.testing.assert_allclose(back, index, atol=1e-6)
    batch = np.array(indices)
    np.testing.assert_allclose(geometry.index_to_physical(batch),
                               [image.TransformContinuousIndexToPhysicalPoint(p) for p in indices],
                               atol=1e-7, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(sizes, spacings, origins, seeds)
def test_nearest_voxel_matches_simpleitk(size, spacing, origin, seed):
    geometry, image = _pair(size, spacing, origin, seed)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        continuous = rng.uniform(-0.49, np.array(size) - 0.51)
        point = image.TransformContinuousIndexToPhysicalPoint(tuple(continuous))
        assert geometry.physical_to_voxel(point) == image.TransformPhysicalPointToIndex(point)
    outside = image.TransformContinuousIndexToPhysicalPoint((-3.0, 0.0, 0.0))
    assert geometry.physical_to_voxel(outside) is None


@settings(max_examples=30, deadline=None)
@given(sizes, spacings, origins, seeds)
def test_affine_and_ras_affine(size, spacing, origin, seed):
    geometry, image = _pair(size, spacing, origin, seed)
    corner = tuple(n - 1 for n in size)
    lps = geometry.affine @ np.array([*corner, 1.0])
    np.testing.assert_allclose(lps[:3], image.TransformIndexToPhysicalPoint(corner), atol=1e-7, rtol=1e-9)
    ras = geometry.ras_affine @ np.array([*corner, 1.0])
    np.testing.assert_allclose(ras[:3], lps[:3] * np.array([-1, -1, 1]), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.tuples(*[st.integers(2, 30)] * 3), spacings, origins, seeds, st.data())
def test_cropped_geometry_matches_simpleitk_region_of_interest(size, spacing, origin, seed, data):
    geometry, image = _pair(size, spacing, origin, seed)
    starts = [data.draw(st.integers(0, n - 1)) for n in size]
    stops = [data.draw(st.integers(s + 1, n)) for s, n in zip(starts, size)]
    box = tuple(slice(starts[a], stops[a]) for a in (2, 1, 0))  # array order k, j, i
    cropped = geometry.cropped(box)
    region = image[starts[0]:stops[0], starts[1]:stops[1], starts[2]:stops[2]]
    assert cropped.size == region.GetSize()
    np.testing.assert_allclose(cropped.origin, region.GetOrigin(), atol=1e-7, rtol=1e-9)
    np.testing.assert_allclose(cropped.spacing, region.GetSpacing())


@pytest.mark.parametrize("permutation", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("signs", list(itertools.product((1, -1), repeat=3)))
def test_orientation_letters_match_simpleitk(permutation, signs):
    direction = np.zeros((3, 3))
    for column, (row, sign) in enumerate(zip(permutation, signs)):
        direction[row, column] = sign
    geometry = Geometry((3, 3, 3), (1, 1, 1), (0, 0, 0), direction)
    expected = sitk.DICOMOrientImageFilter_GetOrientationFromDirectionCosines(tuple(direction.reshape(-1)))
    assert "".join(geometry.orientation_letters()) == expected
    assert not geometry.is_oblique()


def test_oblique_and_same_grid_tolerances():
    direction = _rotation(7)
    geometry = Geometry((10, 10, 10), (1, 1, 1), (0, 0, 0), direction)
    assert geometry.is_oblique()
    assert geometry.same_grid(Geometry((10, 10, 10), (1, 1, 1), (5e-4, 0, 0), direction))
    assert not geometry.same_grid(Geometry((10, 10, 10), (1, 1, 1), (5e-3, 0, 0), direction))
    assert Geometry.from_dict(geometry.to_dict()) == geometry


def test_overlap_and_bounds():
    a = Geometry((10, 10, 10), (1, 1, 1), (0, 0, 0))
    assert a.overlaps(Geometry((10, 10, 10), (1, 1, 1), (9, 9, 9)))
    assert not a.overlaps(Geometry((10, 10, 10), (1, 1, 1), (10.5, 0, 0)))
    low, high = a.physical_bounds()
    np.testing.assert_allclose(low, [-0.5] * 3)
    np.testing.assert_allclose(high, [9.5] * 3)


def test_invalid_geometry_is_refused():
    with pytest.raises(ValueError):
        Geometry((1, 1, 1), (1, 0, 1), (0, 0, 0))
    with pytest.raises(ValueError):
        Geometry((1, 1), (1, 1), (0, 0))


def test_box_helpers():
    mask = np.zeros((5, 6, 7), bool)
    mask[1:3, 2, 4:6] = True
    box = bounding_box(mask)
    assert box == (slice(1, 3), slice(2, 3), slice(4, 6))
    assert bounding_box(np.zeros((2, 2, 2), bool)) is None
    assert grow_box(box, (2, 2, 2), mask.shape) == (slice(0, 5), slice(0, 5), slice(2, 7))
    assert union_box(box, (slice(0, 1), slice(5, 6), slice(0, 1))) == (slice(0, 3), slice(2, 6), slice(0, 6))
    assert box_from_bounds((-1, 0, 3), (9, 2, 4), mask.shape) == (slice(0, 5), slice(0, 2), slice(3, 4))
