"""Orientation, windowing and overlay maths of the slice views (no display needed)."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.app.display import (GrayMapper, colour_labels, letter_of, outline_mask,
                                   patient_axis_assignment, slice_orientations)
from segviewer.model.geometry import Geometry

L, P, S = np.eye(3)


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    a = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


DIRECTIONS = {
    "lps": np.eye(3),
    "ras_stored": np.diag([-1.0, -1.0, 1.0]),  # what ITK reports for a NIfTI stored RAS (spleen CT)
    "y_flipped": np.diag([1.0, -1.0, 1.0]),
    "sagittal_acquired": np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float),
    "coronal_acquired": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float),
    "oblique_20": rotation(np.array([1.0, 0.3, 0.2]), 20),
    "oblique_44": rotation(np.array([0.0, 0.0, 1.0]), 44),
}

# Screen right and down for each view, in LPS (radiological convention).
EXPECTED = {"axial": (L, P), "coronal": (L, -S), "sagittal": (P, -S)}


def screen_directions(geometry: Geometry, orientation):
    """Physical direction of +column and +row of the displayed slice (from the index maps)."""
    origin = np.array(orientation.display_to_index(0.0, 0.0, 0))
    right = np.array(orientation.display_to_index(orientation.spacing[1], 0.0, 0)) - origin
    down = np.array(orientation.display_to_index(0.0, orientation.spacing[0], 0)) - origin
    to_mm = geometry.direction * np.asarray(geometry.spacing)[None, :]
    right_mm, down_mm = to_mm @ right, to_mm @ down
    return right_mm / np.linalg.norm(right_mm), down_mm / np.linalg.norm(down_mm)


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_views_follow_the_radiological_convention(name):
    geometry = Geometry((20, 30, 10), (0.8, 0.8, 5.0), (1.0, 2.0, 3.0), DIRECTIONS[name])
    orientations = slice_orientations(geometry)
    normals = {o.normal_index_axis for o in orientations.values()}
    assert normals == {0, 1, 2}
    for view, orientation in orientations.items():
        right, down = screen_directions(geometry, orientation)
        want_right, want_down = EXPECTED[view]
        # Each screen axis points within 45 degrees of the conventional direction.
        assert right @ want_right > np.cos(np.radians(46)), (view, right)
        assert down @ want_down > np.cos(np.radians(46)), (view, down)
        assert orientation.letters["right"] == letter_of(want_right)
        assert orientation.letters["left"] == letter_of(-want_right)
        assert orientation.letters["bottom"] == letter_of(want_down)
        assert orientation.letters["top"] == letter_of(-want_down)
        assert orientation.oblique == name.startswith("oblique")


def test_physical_aspect_ratio_of_anisotropic_voxels():
    geometry = Geometry((164, 166, 26), (0.8, 0.8, 5.0), (0, 0, 0))
    coronal = slice_orientations(geometry)["coronal"]
    width_mm, height_mm = coronal.extent_mm
    assert coronal.shape == (26, 164)  # 26 slices down, 164 columns across
    assert width_mm == pytest.approx(164 * 0.8)
    assert height_mm == pytest.approx(26 * 5.0)  # not 26 pixels: 130 mm tall


def test_extract_is_a_view_and_matches_the_index_maps(rng):
    geometry = Geometry((7, 5, 4), (1.0, 2.0, 3.0), (0, 0, 0), DIRECTIONS["sagittal_acquired"])
    volume = rng.integers(0, 1000, size=geometry.shape).astype(np.int16)
    for orientation in slice_orientations(geometry).values():
        for slice_index in range(orientation.slice_count):
            plane = orientation.extract(volume, slice_index)
            assert np.shares_memory(plane, volume)
            assert plane.shape == orientation.shape
            for row in range(plane.shape[0]):
                for column in range(plane.shape[1]):
                    x, y = column * orientation.spacing[1], row * orientation.spacing[0]
                    i, j, k = (int(round(v)) for v in orientation.display_to_index(x, y, slice_index))
                    assert plane[row, column] == volume[k, j, i]


def test_display_and_index_round_trip():
    geometry = Geometry((9, 8, 7), (0.5, 0.7, 2.0), (0, 0, 0), DIRECTIONS["oblique_20"])
    for orientation in slice_orientations(geometry).values():
        index = (3.25, 4.5, 2.0)
        x, y, normal = orientation.index_to_display(index)
        assert orientation.display_to_index(x, y, normal) == pytest.approx(index)


def test_region_of_box_covers_exactly_the_changed_pixels(rng):
    geometry = Geometry((12, 10, 8), (1.0, 1.0, 1.0), (0, 0, 0), DIRECTIONS["ras_stored"])
    before = np.zeros(geometry.shape, np.uint8)
    box = (slice(2, 5), slice(3, 7), slice(1, 4))
    after = before.copy()
    after[box] = 1
    for orientation in slice_orientations(geometry).values():
        for slice_index in range(orientation.slice_count):
            changed = orientation.extract(after, slice_index) != orientation.extract(before, slice_index)
            region = orientation.region_of_box(box, slice_index)
            if region is None:
                assert not changed.any()
                continue
            outside = changed.copy()
            outside[region] = False
            assert not outside.any()
            assert changed[region].all()


def test_patient_axis_assignment_is_a_permutation_even_at_45_degrees():
    direction = rotation(np.array([0.0, 0.0, 1.0]), 45)
    assert sorted(patient_axis_assignment(direction)) == [0, 1, 2]


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.float32, np.int32])
def test_gray_mapper_lookup_and_arithmetic_agree(dtype, rng):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    low, high = (info.min, info.max) if info else (-2000, 3000)
    values = rng.integers(max(low, -3000), min(high, 3000), size=(64, 64)).astype(dtype)
    mapper = GrayMapper(dtype)
    mapper.set_window(-160, 240) if (info is None or info.min < 0) else mapper.set_window(20, 200)
    got = mapper(values)
    expected = np.clip((values.astype(np.float64) - mapper.low) * 255.0 / (mapper.high - mapper.low), 0, 255)
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - np.round(expected)).max() <= 1


def test_gray_mapper_nan_is_black():
    mapper = GrayMapper(np.float32)
    mapper.set_window(0, 10)
    assert mapper(np.array([[np.nan, 10.0]], np.float32)).tolist() == [[0, 255]]


def test_outline_and_colours():
    labels = np.zeros((6, 6), np.uint8)
    labels[1:5, 1:5] = 2
    edge = outline_mask(labels)
    assert edge[1, 1:5].all() and edge[4, 1:5].all() and edge[1:5, 1].all()
    assert not edge[2:4, 2:4].any()
    lut = np.zeros((3, 4), np.uint8)
    lut[2] = (10, 20, 30, 255)
    rgba = colour_labels(labels, lut)
    assert rgba.shape == (6, 6, 4)
    assert tuple(rgba[2, 2]) == (10, 20, 30, 255)
    assert tuple(rgba[0, 0]) == (0, 0, 0, 0)
    outlined = colour_labels(labels, lut, outline=True)
    assert outlined[2, 2, 3] == 0 and outlined[1, 1, 3] == 255
    # values beyond the table are transparent, not an IndexError
    assert colour_labels(np.full((2, 2), 9, np.uint8), lut)[..., 3].max() == 0
    wide = np.full((2, 2), 300, np.uint16)
    assert colour_labels(wide, lut)[..., 3].max() == 0


def test_missing_and_infinite_voxels_are_drawn_black_and_white_without_warnings():
    mapper = GrayMapper(np.float32)
    mapper.low, mapper.high = 0.0, 100.0
    plane = np.array([[np.nan, np.inf, -np.inf, 50.0, 3e38]], dtype=np.float32)
    with np.errstate(all="raise"):  # any overflow or invalid cast would raise here
        grey = mapper(plane)
    assert grey.tolist() == [[0, 255, 0, 128, 255]]
