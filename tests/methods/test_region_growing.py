"""Region growing from points and scribbles."""

from __future__ import annotations

import numpy as np

from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.region_growing import RegionGrowingParameters, fill_small_holes
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays
from segviewer.model.points import PointPrompt


def _run(case, params=None, **kw):
    method = get_method("region_growing")
    request = build_request_from_arrays(method, case.image.array, case.image.geometry, params=params, **kw)
    result = method.run(request, no_progress, CancelToken())
    return apply_result_to_array(np.zeros(case.reference.shape, dtype=np.uint8), result), result


def test_spleen_from_scribbles(spleen_case):
    labels, result = _run(spleen_case, scribbles=spleen_case.scribbles)
    assert dice(labels == 1, spleen_case.reference == 1) > 0.93
    assert result.info["labels"] == [1]


def test_spleen_from_one_click(spleen_case):
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(spleen_case.reference == 1, sampling=spleen_case.spacing)
    k, j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    position = spleen_case.image.geometry.index_to_physical((i, j, k))
    labels, _ = _run(spleen_case, points=[PointPrompt(tuple(position), 1, True)], margin_mm=60.0)
    assert dice(labels == 1, spleen_case.reference == 1) > 0.85


def test_background_scribbles_are_barriers(blob):
    from segviewer.model.geometry import Geometry

    image, scribbles, truth, spacing = blob
    image = image.copy()
    image[...] = 100  # flat: everything would be grown
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    wall = scribbles.copy()
    wall[:, 25, :] = 0  # a full background wall
    method = get_method("region_growing")
    request = build_request_from_arrays(method, image, geometry, scribbles=wall, whole_volume=True,
                                        params=RegionGrowingParameters(mode="connected", bridge_mm=0.0))
    result = method.run(request, no_progress, CancelToken())
    assert not np.any(result.labels[:, 25:, :])
    assert np.all(result.labels[:, :25, :][wall[:, :25, :] != 0] == 1)


def test_fill_small_holes_keeps_big_cavities():
    region = np.zeros((20, 20, 20), dtype=bool)
    region[2:18, 2:18, 2:18] = True
    region[4:16, 4:16, 4:16] = False  # a big cavity: a shell grown around something
    region[3, 3, 3] = False  # a small hole in the wall... (on the wall: stays open or filled)
    filled = fill_small_holes(region, np.zeros_like(region))
    assert not filled[10, 10, 10]
