"""NaN/±inf voxels are missing data for every method; absurd voxel sizes and prompts
outside the image get a clear message (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.errors import SegviewerError
from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, MethodInputError, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.deep.inference import UNetMethod
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays
from segviewer.model.geometry import Geometry
from segviewer.model.points import PointPrompt

#: Where the blob's image gets NaN, +inf and -inf (array order k, j, i): inside the blob,
#: on the label stroke, and in the background.
MISSING = {(12, 20, 20): np.nan, (12, 18, 20): np.nan, (5, 5, 5): np.inf, (20, 30, 30): -np.inf}


def _blob_with_missing_voxels(blob):
    image, scribbles, inside, spacing = blob
    image = image.astype(np.float32)
    clean = image.copy()
    for index, value in MISSING.items():
        image[index] = value
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    return image, clean, scribbles, inside, geometry


def _segment(name, image, geometry, scribbles=None, **request):
    method = get_method(name)
    built = build_request_from_arrays(method, image, geometry, scribbles=scribbles,
                                      unannotated=255 if scribbles is not None else None, **request)
    result = method.run(built, no_progress, CancelToken())
    return apply_result_to_array(np.zeros(image.shape, np.uint8), result, image)


@pytest.mark.parametrize("name", ["graphcut", "watershed", "region_growing", "threshold"])
def test_classical_methods_treat_non_finite_voxels_as_missing(name, blob):
    # Before: graph cut and watershed raised (NaN to integer, empty percentile), Otsu
    # found no threshold with ±inf present (empty result).
    image, clean, scribbles, inside, geometry = _blob_with_missing_voxels(blob)
    labels = _segment(name, image, geometry, scribbles)
    for index in MISSING:
        assert labels[index] == 0, index  # never labelled
    expected = _segment(name, clean, geometry, scribbles)
    assert dice(labels, expected) > 0.95
    assert dice(labels, inside) > 0.8


def test_unet_is_not_blinded_by_one_nan(hippocampus_dev):
    case = hippocampus_dev[0]
    image = case.image.array.astype(np.float32)
    image[0, 0, 0] = np.nan  # before: the z-score made every input voxel NaN: all background
    labels = _segment("unet", image, case.image.geometry)
    assert labels[0, 0, 0] == 0
    assert min(dice(labels, case.reference, label=v) for v in (1, 2)) > 0.8


def test_unet_method_run_directly_survives_nan(hippocampus_dev):
    """The model's own normalisation is NaN-safe too (requests built by hand, tests)."""
    from segviewer.methods.base import MethodRequest
    from segviewer.model.geometry import full_box

    case = hippocampus_dev[0]
    image = case.image.array.astype(np.float32)
    image[3, 4, 5] = np.nan
    request = MethodRequest(image=image, geometry=case.image.geometry, roi=full_box(image.shape),
                            params=UNetMethod().default_parameters())
    result = UNetMethod().run(request, no_progress, CancelToken())
    assert dice(result.labels, case.reference, label=1) > 0.8


def test_an_all_missing_region_is_a_clear_error(blob):
    image, _, scribbles, _, geometry = _blob_with_missing_voxels(blob)
    image[:] = np.nan
    with pytest.raises(MethodInputError, match="every voxel of the region is NaN or infinite"):
        _segment("graphcut", image, geometry, scribbles)


@pytest.mark.parametrize("spacing", [1e-30, 1e30])
def test_absurd_spacing_is_refused_by_the_request(spacing, blob):
    image, _, scribbles, _, _ = _blob_with_missing_voxels(blob)
    geometry = Geometry(image.shape[::-1], (spacing,) * 3, (0.0, 0.0, 0.0))
    for name in ("watershed", "region_growing"):  # before: crashed (overflow, NaN gradient)
        with pytest.raises(SegviewerError, match="voxel size .* is outside"):
            _segment(name, image, geometry, scribbles)


@pytest.mark.parametrize("spacing", [1e-6, 1e5])
def test_extreme_but_accepted_spacing_runs(spacing, blob):
    # Before: region growing built a ball of 8 million voxels across (MemoryError) on
    # micrometre voxels, and watershed's gradient was all NaN on 100 m voxels (IndexError).
    image, scribbles, _, _ = blob
    geometry = Geometry(image.shape[::-1], (spacing,) * 3, (0.0, 0.0, 0.0))
    for name in ("watershed", "region_growing", "graphcut"):
        labels = _segment(name, image, geometry, scribbles)
        assert labels[scribbles == 1].all()


def test_points_outside_the_image_are_named_as_such(blob):
    image, _, _, _, geometry = _blob_with_missing_voxels(blob)
    far = [PointPrompt((500.0, 500.0, 500.0), 1)]
    with pytest.raises(MethodInputError, match=r"every point prompt lies outside the image .*\(500\.0, 500\.0, 500\.0\)"):
        _segment("region_growing", image, geometry, points=far)
