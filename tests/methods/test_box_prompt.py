"""Box prompts: from corners in mm to the method request, GrabCut in the graph cut, and
``segviewer segment --box``."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.request import BoxPrompt, apply_result_to_array, box_voxels, build_request_from_arrays
from segviewer.model.geometry import bounding_box


def corners_mm(geometry, box):
    """The LPS corners of the centres of a box's first and last voxels (k, j, i slices)."""
    first = [s.start for s in box][::-1]
    last = [s.stop - 1 for s in box][::-1]
    return tuple(geometry.index_to_physical(first)), tuple(geometry.index_to_physical(last))


def segment_with_boxes(case, boxes, scribbles=None):
    method = get_method("graphcut")
    request = build_request_from_arrays(method, case.image.array, case.image.geometry, boxes=boxes,
                                        scribbles=scribbles, label_values=[1])
    result = method.run(request, no_progress, CancelToken())
    return apply_result_to_array(np.zeros(case.reference.shape, dtype=np.uint8), result), result


def test_box_voxels_round_trip_and_flat_box(spleen_case):
    geometry = spleen_case.image.geometry
    box = (slice(5, 12), slice(40, 90), slice(30, 100))
    a, b = corners_mm(geometry, box)
    assert box_voxels(BoxPrompt(a, b), geometry) == box
    assert box_voxels(BoxPrompt(b, a), geometry) == box  # any two opposite corners
    flat = (slice(9, 10), box[1], box[2])
    a, b = corners_mm(geometry, flat)
    assert box_voxels(BoxPrompt(a, b), geometry) == flat
    far = tuple(v + 10_000.0 for v in a)
    assert box_voxels(BoxPrompt(far, far), geometry) is None


def test_spleen_box_alone_finds_the_spleen(spleen_case):
    """A 3D box around the spleen, nothing else: GrabCut finds the organ, not the box."""
    box = bounding_box(spleen_case.reference == 1)
    labels, result = segment_with_boxes(spleen_case, [BoxPrompt(*corners_mm(spleen_case.image.geometry, box))])
    truth = spleen_case.reference == 1
    assert dice(labels == 1, truth) >= 0.85
    assert not labels[box].all()  # the box is not filled
    outside = np.ones(labels.shape, dtype=bool)
    outside[box] = False
    assert not labels[outside].any()  # outside the box is background
    assert "GrabCut" in result.info["solver"]


def test_flat_box_on_one_slice_segments_in_3d(spleen_case):
    truth = spleen_case.reference == 1
    box = bounding_box(truth)
    middle = int(np.argmax(truth.sum(axis=(1, 2))))
    flat = (slice(middle, middle + 1), box[1], box[2])
    labels, _ = segment_with_boxes(spleen_case, [BoxPrompt(*corners_mm(spleen_case.image.geometry, flat))])
    assert dice(labels == 1, truth) >= 0.8
    assert len(np.flatnonzero((labels == 1).any(axis=(1, 2)))) > 5  # beyond the box's slice


def test_scribbles_correct_a_box(spleen_case):
    """Scribbles given with a box are hard constraints: a background stroke inside the box
    stays background, a label stroke stays label."""
    truth = spleen_case.reference == 1
    box = bounding_box(truth)
    scribbles = np.full(truth.shape, 255, dtype=np.uint8)
    scribbles[box][~truth[box]] = 0  # the box's background, as a (generous) correction
    labels, _ = segment_with_boxes(spleen_case, [BoxPrompt(*corners_mm(spleen_case.image.geometry, box))],
                                   scribbles)
    assert not labels[scribbles == 0].any()
    assert dice(labels == 1, truth) >= 0.9


def test_box_refusals(spleen_case):
    from segviewer.methods.base import MethodInputError

    a, b = corners_mm(spleen_case.image.geometry, bounding_box(spleen_case.reference == 1))
    with pytest.raises(MethodInputError, match="takes no box"):
        build_request_from_arrays(get_method("watershed"), spleen_case.image.array, spleen_case.image.geometry,
                                  boxes=[BoxPrompt(a, b)])
    far = tuple(v + 10_000.0 for v in a)
    with pytest.raises(MethodInputError, match="outside the image"):
        build_request_from_arrays(get_method("graphcut"), spleen_case.image.array, spleen_case.image.geometry,
                                  boxes=[BoxPrompt(far, far)])


def test_segment_box_cli(tmp_path, spleen_case, spleen_paths, capsys):
    image_path, label_path = spleen_paths
    a, b = corners_mm(spleen_case.image.geometry, bounding_box(spleen_case.reference == 1))
    text = ",".join(f"{v:.3f}" for v in a + b)
    out = tmp_path / "box.nii.gz"
    assert main(["segment", str(image_path), "--method", "graphcut", "--box", f"1:{text}", "-o", str(out), "-q"]) == 0
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert dice(written == 1, spleen_case.reference == 1) >= 0.85
    capsys.readouterr()
    assert main(["segment", str(image_path), "--method", "watershed", "--box", text, "-o", str(out)]) == 2
    assert "takes no --box" in capsys.readouterr().err
    assert main(["segment", str(image_path), "--method", "graphcut", "--box", "1,2,3", "-o", str(out)]) == 2
    assert "X0,Y0,Z0,X1,Y1,Z1" in capsys.readouterr().err


# -- lasso prompts ---------------------------------------------------------------------------------
def lasso_around(section: np.ndarray, rays: int = 48) -> np.ndarray:
    """A hand-drawn-like closed curve around a star-shaped 2D section: the section's outermost
    pixel along each of ``rays`` directions from its centre, as (row, col)."""
    centre = np.argwhere(section).mean(axis=0)
    points = []
    for angle in np.linspace(0, 2 * np.pi, rays, endpoint=False):
        direction = np.array([np.sin(angle), np.cos(angle)])
        steps = np.arange(0, max(section.shape), 0.5)
        path = np.rint(centre + steps[:, None] * direction).astype(int)
        inside = np.all((path >= 0) & (path < section.shape), axis=1)
        path = path[inside]
        hits = path[section[path[:, 0], path[:, 1]]]
        if len(hits):
            points.append(hits[-1])
    return np.array(points, dtype=float)


def test_lasso_on_one_slice_segments_in_3d(tmp_path, spleen_case, spleen_paths, capsys):
    """``segment --lasso``: a closed curve around the spleen on its largest slice; the graph
    cut propagates it to the other slices."""
    import json

    truth = spleen_case.reference == 1
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    rows_cols = lasso_around(truth[k])
    geometry = spleen_case.image.geometry
    points = [list(map(float, geometry.index_to_physical([c, r, k]))) for r, c in rows_cols]
    lasso = tmp_path / "lasso.json"
    lasso.write_text(json.dumps({"label": 1, "points_mm": points}))
    out = tmp_path / "lasso.nii.gz"
    image_path, _ = spleen_paths
    assert main(["segment", str(image_path), "--method", "graphcut", "--lasso", str(lasso), "-o", str(out), "-q"]) == 0
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert dice(written[k] == 1, truth[k]) >= 0.9  # its own slice
    assert dice(written == 1, truth) >= 0.8  # and in 3D
    assert len(np.flatnonzero((written == 1).any(axis=(1, 2)))) > 5
    capsys.readouterr()
    tilted = [p[:2] + [p[2] + 10.0 * n] for n, p in enumerate(points)]  # not on one slice
    lasso.write_text(json.dumps({"label": 1, "points_mm": tilted}))
    assert main(["segment", str(image_path), "--method", "graphcut", "--lasso", str(lasso), "-o", str(out)]) == 2
    assert "one slice" in capsys.readouterr().err
    lasso.write_text("{}")
    assert main(["segment", str(image_path), "--method", "graphcut", "--lasso", str(lasso), "-o", str(out)]) == 2
    assert "not a lasso file" in capsys.readouterr().err
