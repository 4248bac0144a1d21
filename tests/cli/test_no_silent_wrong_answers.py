"""Issue 11, "wrong answers without a word", end to end through the command line: a user
either gets the right answer, or one line saying what is wrong (exit 2) and no output."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, *fragments):
    """Exit 2 and one error line (after any notes the loaders had), no traceback."""
    assert code == 2
    *notes, last = err.strip().splitlines()
    assert last.startswith("segviewer: error: ") and all(n.startswith("segviewer: note: ") for n in notes), err
    for fragment in fragments:
        assert fragment in err, err


def _strict_json(text):
    """json.loads that refuses NaN/Infinity, as every other JSON parser does."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def nan_case(tmp_path):
    """A float image with a bright cube, NaN/±inf voxels, a label map and scribbles."""
    rng = np.random.default_rng(0)
    array = np.full((20, 40, 40), 10.0, np.float32)
    array[5:15, 10:30, 10:30] = 100
    array += rng.normal(0, 3, array.shape).astype(np.float32)
    missing = [(10, 20, 20), (10, 12, 12), (3, 3, 3), (4, 4, 4)]
    for index, value in zip(missing, (np.nan, np.nan, np.inf, -np.inf)):
        array[index] = value
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "image.nrrd"))
    labels = np.zeros(array.shape, np.uint8)
    labels[5:15, 10:30, 10:30] = 1
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(tmp_path / "labels.nrrd"))
    scribbles = np.full(array.shape, 255, np.uint8)
    scribbles[10, 18:23, 18:23] = 1
    scribbles[10, 2:6, 2:6] = 0
    sitk.WriteImage(sitk.GetImageFromArray(scribbles), str(tmp_path / "scribbles.nrrd"))
    return tmp_path, missing


def test_stats_json_is_strict_json_with_nan_intensities(capsys, nan_case):
    folder, _ = nan_case
    code, out, err = run_cli(capsys, "stats", folder / "image.nrrd", folder / "labels.nrrd", "--json")
    assert code == 0
    row = _strict_json(out)["statistics"][0]  # before: bare NaN in "mean" etc., not JSON
    assert row["voxel_count"] == 4000
    assert 95 < row["mean"] < 105 and row["maximum"] < 200  # over the finite voxels only
    assert "4 voxels are NaN or infinite" in err


def test_info_reports_non_finite_voxels(capsys, nan_case):
    folder, _ = nan_case
    code, out, _ = run_cli(capsys, "info", folder / "image.nrrd", "--json")
    info = _strict_json(out)
    assert code == 0 and info["non_finite_voxels"] == 4 and "treated as missing data" in info["note"]


def test_info_on_an_image_of_nan_only_has_no_intensity_range(capsys, tmp_path):
    """It used to say "intensity_range 0 .. 0" after numpy's "All-NaN slice" warning on stderr."""
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 5, 6), np.nan, np.float32)), str(tmp_path / "nan.nrrd"))
    code, out, err = run_cli(capsys, "info", tmp_path / "nan.nrrd", "--json")
    assert code == 0 and err == ""
    assert _strict_json(out)["intensity_range"] is None
    code, out, err = run_cli(capsys, "info", tmp_path / "nan.nrrd")
    assert code == 0 and err == "" and "none: every voxel is NaN or infinite" in out


@pytest.mark.parametrize("method", ["graphcut", "watershed"])
def test_segment_on_nan_image_leaves_missing_voxels_unlabelled(capsys, nan_case, method):
    folder, missing = nan_case
    output = folder / f"{method}.nii.gz"
    code, _, err = run_cli(capsys, "segment", folder / "image.nrrd", "--method", method,
                           "--scribbles", folder / "scribbles.nrrd", "-o", output, "-q")
    assert code == 0, err  # before: a traceback (NaN to integer; empty percentile)
    assert "segviewer: note: 4 voxels are NaN or infinite" in err
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(output)))
    assert all(labels[index] == 0 for index in missing)
    assert labels[8, 20, 25] == 1 and labels[2, 2, 2] == 0


def test_scribble_values_outside_the_label_table_are_refused(capsys, nan_case):
    folder, _ = nan_case
    scribbles = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "scribbles.nrrd")))
    scribbles[10, 30, 30] = 200  # one stray voxel: before, it grew into a whole label 200
    path = folder / "stray.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(scribbles), str(path))
    sidecar = folder / "stray.scribbles.json"
    sidecar.write_text(json.dumps({"format": "segviewer-scribbles", "version": 1, "ignore_value": 255,
                                   "labels": {"background": 0, "Cube": 1, "ignore": 255}}))
    before = _digest(path)
    output = folder / "out.nii.gz"
    code, _, err = run_cli(capsys, "segment", folder / "image.nrrd", "--method", "graphcut",
                           "--scribbles", path, "-o", output, "-q")
    _one_line_error(code, err, "label value(s) 200 (1 voxel)", "stray.scribbles.json does not list (labels: 1)")
    assert not output.exists() and _digest(path) == before


def test_convert_onto_a_reference_elsewhere_is_refused(capsys, nan_case):
    folder, _ = nan_case
    far = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    far.SetOrigin((1000.0, 1000.0, 1000.0))
    sitk.WriteImage(far, str(folder / "far.nrrd"))
    output = folder / "converted.nii.gz"
    code, _, err = run_cli(capsys, "convert", folder / "image.nrrd", output, "--reference", folder / "far.nrrd")
    _one_line_error(code, err, "the image does not overlap the reference: it spans")  # before: a blank image, exit 0
    assert not output.exists()
    code, _, err = run_cli(capsys, "convert", folder / "labels.nrrd", output, "--labels",
                           "--reference", folder / "far.nrrd")
    _one_line_error(code, err, "the label map does not overlap the image: it spans")
    assert not output.exists()


def test_points_outside_the_image_are_named(capsys, nan_case):
    folder, _ = nan_case
    (folder / "points.json").write_text(json.dumps({
        "format": "segviewer-points", "version": 1, "coordinate_system": "LPS", "unit": "mm",
        "points": [{"position_mm": [500.0, 500.0, 500.0], "label": 1, "positive": True}]}))
    code, _, err = run_cli(capsys, "segment", folder / "image.nrrd", "--method", "region_growing",
                           "--points", folder / "points.json", "-o", folder / "out.nii.gz", "-q")
    _one_line_error(code, err, "every point prompt lies outside the image")  # before: "needs scribbles"
