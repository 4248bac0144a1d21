"""Loading masks onto an image: same grid, resampling by physical position, and refusals."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError, LabelValueError
from segviewer.io.images import image_to_sitk, read_image
from segviewer.io.label_table import label_table_sidecar, write_label_table
from segviewer.io.labels import describe_grid_difference, read_label_map, write_label_map
from segviewer.model.geometry import Geometry
from segviewer.model.labels import LabelMap, LabelTable

GRID = Geometry((24, 20, 8), (0.9, 0.9, 2.0), (-10.0, 15.0, 40.0), np.diag([1.0, -1.0, 1.0]))


def _labels(geometry=GRID, dtype=np.uint8) -> np.ndarray:
    array = np.zeros(geometry.shape, dtype=dtype)
    array[2:6, 4:12, 3:9] = 1
    array[4:7, 10:18, 12:20] = 2
    array[0, 0, 0] = 3
    return array


def _write(path, array, geometry=GRID) -> None:
    sitk.WriteImage(image_to_sitk(array, geometry), str(path))


def test_same_grid_is_used_as_it_is(tmp_path):
    path = tmp_path / "mask.nii.gz"
    _write(path, _labels())
    label_map, message = read_label_map(path, GRID)
    assert message == ""
    assert label_map.geometry is GRID
    np.testing.assert_array_equal(label_map.array, _labels())
    assert label_map.table.values == [1, 2, 3]


def test_without_reference_the_file_grid_is_used(tmp_path):
    path = tmp_path / "mask.nrrd"
    _write(path, _labels())
    label_map, _ = read_label_map(path)
    assert label_map.geometry.same_grid(GRID)


def test_mirrored_index_grid_is_resampled_onto_the_same_anatomy(tmp_path):
    """The same voxels stored with j reversed (direction y negated, origin moved): after
    loading, every voxel holds the label of the same physical point."""
    array = _labels()
    flipped_direction = GRID.direction.copy()
    flipped_direction[:, 1] *= -1
    far_corner = GRID.index_to_physical((0, GRID.size[1] - 1, 0))
    mirrored = Geometry(GRID.size, GRID.spacing, tuple(far_corner), flipped_direction)
    path = tmp_path / "mirrored.nii.gz"
    _write(path, array[:, ::-1, :].copy(), mirrored)
    label_map, message = read_label_map(path, GRID)
    assert "resampled" in message and "flipped: j" in message
    np.testing.assert_array_equal(label_map.array, array)


def test_coarser_grid_over_the_same_space_is_resampled_nearest_neighbour(tmp_path):
    coarse = Geometry((12, 10, 4), (1.8, 1.8, 4.0), GRID.index_to_physical((0.5, 0.5, 0.5)), GRID.direction)
    coarse_labels = np.zeros(coarse.shape, np.uint8)
    coarse_labels[1:3, 2:6, 2:5] = 5
    path = tmp_path / "coarse.nrrd"
    _write(path, coarse_labels, coarse)
    label_map, message = read_label_map(path, GRID)
    assert "nearest neighbour" in message
    assert set(np.unique(label_map.array)) == {0, 5}  # no interpolated values
    expected = sitk.GetArrayFromImage(sitk.Resample(image_to_sitk(coarse_labels, coarse), image_to_sitk(
        np.zeros(GRID.shape, np.uint8), GRID), sitk.Transform(), sitk.sitkNearestNeighbor))
    np.testing.assert_array_equal(label_map.array, expected)


def test_partly_outside_labels_are_reported(tmp_path):
    shifted = Geometry(GRID.size, GRID.spacing, tuple(np.add(GRID.origin, (GRID.spacing[0] * 10, 0, 0))),
                       GRID.direction)
    array = np.zeros(GRID.shape, np.uint8)
    array[:, :, 16:] = 4  # i >= 16 lands beyond the image after a 10-voxel shift
    array[:, :, 2:4] = 6
    path = tmp_path / "shifted.nii.gz"
    _write(path, array, shifted)
    label_map, message = read_label_map(path, GRID)
    assert "label 4 fell outside" in message
    assert label_map.present_values() == [6]


def test_non_overlapping_mask_is_refused(tmp_path):
    far = Geometry(GRID.size, GRID.spacing, (500.0, 500.0, 500.0), GRID.direction)
    path = tmp_path / "far.nii.gz"
    _write(path, _labels(), far)
    with pytest.raises(GeometryMismatchError, match="does not overlap the image"):
        read_label_map(path, GRID)


def test_half_values_are_refused(tmp_path):
    array = _labels().astype(np.float32)
    array[3, 5, 7] = 0.5
    path = tmp_path / "half.nii.gz"
    _write(path, array)
    with pytest.raises(LabelValueError, match=r"not whole numbers \(e\.g\. 0\.5 at voxel \(7, 5, 3\); 1 voxels\)"):
        read_label_map(path, GRID)


def test_probability_map_is_refused(tmp_path):
    path = tmp_path / "probabilities.nrrd"
    _write(path, np.random.default_rng(0).random(GRID.shape).astype(np.float32))
    with pytest.raises(LabelValueError, match="probability map"):
        read_label_map(path, GRID)


@pytest.mark.parametrize("value, dtype, problem", [
    (-1, np.int16, "negative"), (70000, np.int32, "up to 70000"), (np.nan, np.float32, "NaN")])
def test_other_bad_values_are_refused(tmp_path, value, dtype, problem):
    array = _labels().astype(dtype)
    array[1, 1, 1] = value
    path = tmp_path / "bad.nrrd"
    _write(path, array)
    with pytest.raises(LabelValueError, match=problem):
        read_label_map(path, GRID)


def test_float_stored_labels_are_cast_to_uint8_or_uint16(tmp_path):
    small = _labels().astype(np.float64)
    path = tmp_path / "float.nrrd"
    _write(path, small)
    label_map, _ = read_label_map(path, GRID)
    assert label_map.array.dtype == np.uint8
    np.testing.assert_array_equal(label_map.array, _labels())

    wide = small.copy()
    wide[wide == 2] = 300
    _write(path, wide.astype(np.float32))
    label_map, _ = read_label_map(path, GRID)
    assert label_map.array.dtype == np.uint16
    assert label_map.present_values() == [1, 3, 300]


def test_uint16_file_with_small_labels_becomes_uint8(tmp_path):
    path = tmp_path / "wide.nii.gz"
    _write(path, _labels(dtype=np.uint16))
    assert read_label_map(path, GRID)[0].array.dtype == np.uint8


def test_four_d_label_file_is_refused(tmp_path):
    path = tmp_path / "labels4d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((24, 20, 8, 3), np.uint8), GRID.ras_affine), str(path))
    with pytest.raises(LabelValueError, match="4D"):
        read_label_map(path, GRID)


def test_multi_layer_seg_nrrd_is_refused(tmp_path):
    path = tmp_path / "layers.seg.nrrd"
    image = sitk.Compose([image_to_sitk(_labels(), GRID)] * 2)
    sitk.WriteImage(image, str(path))
    with pytest.raises(LabelValueError, match="multi-layer Slicer segmentation"):
        read_label_map(path, GRID)


def test_seg_nrrd_round_trip_keeps_names_and_colours(tmp_path):
    table = LabelTable()
    table.add(1, "Liver", (200, 100, 50))
    table.add(2, "Spleen", (10, 20, 250))
    table.add(3, "Kidney")
    path = tmp_path / "organs.seg.nrrd"
    write_label_map(path, LabelMap(_labels(), GRID, table), GRID, write_table=False)
    label_map, _ = read_label_map(path, GRID)
    assert [(e.value, e.name, e.colour) for e in label_map.table][:2] == [
        (1, "Liver", (200, 100, 50)), (2, "Spleen", (10, 20, 250))]
    header = path.read_bytes()[:4000].decode("latin-1")
    assert "Segment1_Name:=Spleen" in header and "Segment1_LabelValue:=2" in header


def test_label_table_sidecar_is_written_and_read(tmp_path):
    table = LabelTable()
    table.add(1, "Tumour", (255, 0, 0))
    table.add(2, "Oedema", (0, 255, 0))
    table.update(2, locked=True, visible=False, opacity=0.4)
    path = tmp_path / "case_labels.nii.gz"
    write_label_map(path, LabelMap(_labels(), GRID, table), GRID)
    sidecar = tmp_path / "case_labels.labels.json"
    assert label_table_sidecar(path) == sidecar
    data = json.loads(sidecar.read_text())
    assert data["format"] == "segviewer-label-table" and data["version"] == 1
    label_map, _ = read_label_map(path, GRID)
    oedema = label_map.table[2]
    assert (oedema.name, oedema.locked, oedema.visible, oedema.opacity) == ("Oedema", True, False, 0.4)
    assert label_map.table[3].name == "Label 3"  # present in the data, not in the table


def test_explicit_itksnap_label_file(tmp_path):
    path = tmp_path / "mask.nii.gz"
    _write(path, _labels())
    table = LabelTable()
    table.add(1, "Grey matter", (10, 20, 30))
    description = tmp_path / "brain.label"
    write_label_table(description, table)
    label_map, _ = read_label_map(path, GRID, table_path=description)
    assert label_map.table[1].name == "Grey matter" and label_map.table[1].colour == (10, 20, 30)


def test_write_refuses_a_label_map_off_the_reference_grid(tmp_path):
    other = Geometry(GRID.size, GRID.spacing, (0.0, 0.0, 0.0), GRID.direction)
    with pytest.raises(GeometryMismatchError, match="not on the image grid"):
        write_label_map(tmp_path / "x.nii.gz", LabelMap(_labels(other), other), GRID)
    assert not list(tmp_path.iterdir())


def test_write_uses_the_reference_geometry_exactly(tmp_path):
    """A label map whose grid matches within tolerance is written with the image's numbers."""
    nearly = Geometry(GRID.size, GRID.spacing, tuple(np.add(GRID.origin, 1e-5)), GRID.direction)
    path = tmp_path / "labels.nrrd"
    write_label_map(path, LabelMap(_labels(nearly), nearly), GRID)
    written = read_image(path).geometry
    np.testing.assert_array_equal(written.origin, GRID.origin)


def test_describe_grid_difference_names_the_differences():
    other = Geometry((12, 20, 8), (1.8, 0.9, 2.0), (0.0, 15.0, 40.0), GRID.direction)
    text = describe_grid_difference(other, GRID)
    assert "size 12x20x8 vs 24x20x8" in text and "spacing" in text and "origin" in text
