"""Scribble files (nnU-Net ignore-label convention + sidecar) and point JSON files."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError, LabelValueError
from segviewer.io.images import image_to_sitk
from segviewer.io.points import PointFileError, points_outside, read_points, write_points
from segviewer.io.scribbles import read_scribbles, scribble_sidecar, write_scribbles
from segviewer.model.geometry import Geometry
from segviewer.model.labels import LabelTable
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles

GRID = Geometry((16, 14, 6), (1.1, 1.1, 3.0), (100.0, -50.0, 20.0), np.diag([-1.0, 1.0, -1.0]))


def _scribbles(dtype=np.uint8) -> Scribbles:
    scribbles = Scribbles.empty(GRID, dtype)
    scribbles.array[1, 2:5, 3] = 0  # background stroke
    scribbles.array[2, 6, 4:9] = 1
    scribbles.array[3, 8:10, 10] = 2
    return scribbles


def test_round_trip_with_sidecar_and_nibabel(tmp_path):
    scribbles = _scribbles()
    table = LabelTable()
    table.add(1, "Spleen")
    table.add(2, "Liver")
    path = tmp_path / "case_scribbles.nii.gz"
    write_scribbles(path, scribbles, GRID, label_table=table)
    sidecar = json.loads(scribble_sidecar(path).read_text())
    assert sidecar["ignore_value"] == 255
    assert sidecar["labels"] == {"background": 0, "Spleen": 1, "Liver": 2, "ignore": 255}
    on_disk = nib.load(str(path))
    np.testing.assert_allclose(on_disk.affine, GRID.ras_affine, atol=1e-4)
    np.testing.assert_array_equal(np.transpose(np.asanyarray(on_disk.dataobj), (2, 1, 0)), scribbles.array)
    back, message = read_scribbles(path, GRID)
    assert message == ""
    np.testing.assert_array_equal(back.array, scribbles.array)
    assert back.classes() == [0, 1, 2]


def test_uint16_scribbles_round_trip(tmp_path):
    scribbles = _scribbles(np.uint16)
    scribbles.array[4, 1, 1] = 400
    path = tmp_path / "wide.nrrd"
    write_scribbles(path, scribbles, GRID)
    back, _ = read_scribbles(path, GRID)
    assert back.array.dtype == np.uint16 and back.unannotated == 65535
    np.testing.assert_array_equal(back.array, scribbles.array)


def test_nnunet_style_ignore_value_is_mapped(tmp_path):
    """nnU-Net puts "ignore" just above the last class (here 3); in memory it becomes 255."""
    array = np.full(GRID.shape, 3, np.uint8)
    array[1, 1, 1:4] = 0
    array[2, 2, 2] = 2
    path = tmp_path / "nnunet.nii.gz"
    sitk.WriteImage(image_to_sitk(array, GRID), str(path))
    scribble_sidecar(path).write_text(json.dumps({"labels": {"background": 0, "a": 1, "b": 2, "ignore": 3}}))
    scribbles, _ = read_scribbles(path, GRID)
    assert scribbles.unannotated == 255
    assert scribbles.classes() == [0, 2]
    assert np.count_nonzero(scribbles.annotated_mask()) == 4


def test_without_sidecar_the_dtype_maximum_means_not_annotated(tmp_path):
    path = tmp_path / "plain.nii.gz"
    sitk.WriteImage(image_to_sitk(_scribbles().array, GRID), str(path))
    scribbles, _ = read_scribbles(path, GRID)
    np.testing.assert_array_equal(scribbles.array, _scribbles().array)


def test_resampled_scribbles_are_unannotated_outside_the_file(tmp_path):
    half = Geometry((16, 14, 3), GRID.spacing, GRID.origin, GRID.direction)  # first 3 slices only
    array = np.full(half.shape, 255, np.uint8)
    array[0, 0, 0] = 0
    array[2, 5, 5] = 1
    path = tmp_path / "half.nii.gz"
    sitk.WriteImage(image_to_sitk(array, half), str(path))
    scribbles, message = read_scribbles(path, GRID)
    assert "resampled" in message
    assert scribbles.array[0, 0, 0] == 0 and scribbles.array[2, 5, 5] == 1
    assert np.all(scribbles.array[3:] == 255)  # outside the file: not annotated, not background


def test_bad_scribble_files(tmp_path):
    array = _scribbles().array.astype(np.float32)
    array[0, 0, 0] = 0.25
    path = tmp_path / "bad.nrrd"
    sitk.WriteImage(image_to_sitk(array, GRID), str(path))
    with pytest.raises(LabelValueError, match="not whole numbers"):
        read_scribbles(path, GRID)
    far = Geometry(GRID.size, GRID.spacing, (900.0, 900.0, 900.0), GRID.direction)
    sitk.WriteImage(image_to_sitk(_scribbles().array, far), str(path))
    with pytest.raises(GeometryMismatchError, match="does not overlap"):
        read_scribbles(path, GRID)


# -- points ----------------------------------------------------------------------------------------
def test_points_round_trip(tmp_path):
    points = PointSet([PointPrompt((1.5, -2.25, 30.0), 1, True), PointPrompt((0.0, 0.0, 0.0), 2, False)])
    path = tmp_path / "points.json"
    write_points(path, points)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["coordinate_system"] == "LPS" and data["unit"] == "mm"
    back = read_points(path)
    assert list(back) == list(points)


def test_ras_points_are_converted(tmp_path):
    path = tmp_path / "ras.json"
    path.write_text(json.dumps({"version": 1, "coordinate_system": "RAS",
                                "points": [{"position_mm": [10, 20, 30], "label": 1, "positive": True}]}))
    assert read_points(path)[0].position_mm == (-10.0, -20.0, 30.0)


@pytest.mark.parametrize("content, problem", [
    ('{"version": 2, "points": []}', "version 2"),
    ('{"version": 1, "points": [{"position_mm": [1, 2], "label": 1}]}', "three finite"),
    ('{"version": 1, "points": [{"position_mm": [1, 2, 3], "label": 1, "positive": "no"}]}', "true or false"),
    ('{"version": 1, "unit": "cm", "points": []}', "unit"),
    ('[1, 2', "not valid JSON"),
])
def test_bad_point_files(tmp_path, content, problem):
    path = tmp_path / "points.json"
    path.write_text(content)
    with pytest.raises(PointFileError, match=problem):
        read_points(path)


def test_points_outside_the_grid():
    inside = GRID.index_to_physical((3, 4, 2))
    points = PointSet([PointPrompt(tuple(inside), 1), PointPrompt((0.0, 0.0, -500.0), 1)])
    assert points_outside(points, GRID) == [1]


def test_scribbles_of_labels_the_sidecar_does_not_list_are_refused(tmp_path):
    """Issue 11: one stray voxel of 200 grew into a whole label 200 without a word."""
    path = tmp_path / "scribbles.nii.gz"
    write_scribbles(path, _scribbles(), GRID)  # the sidecar lists background, 1 and 2
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    array[4, 4, 4] = 200
    sitk.WriteImage(image_to_sitk(array, GRID), str(path))
    with pytest.raises(LabelValueError, match=r"label value\(s\) 200 \(1 voxel\) that its sidecar "
                                              r"scribbles\.scribbles\.json does not list \(labels: 1, 2\)"):
        read_scribbles(path, GRID)
    # nnU-Net region lists count as listed; without a sidecar there is no table to hold to
    scribble_sidecar(path).write_text(json.dumps({"labels": {"background": 0, "ab": [1, 2], "c": 200,
                                                             "ignore": 255}}))
    assert read_scribbles(path, GRID).scribbles.classes() == [0, 1, 2, 200]
    scribble_sidecar(path).unlink()
    assert 200 in read_scribbles(path, GRID).scribbles.classes()
