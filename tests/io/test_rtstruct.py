"""RT Structure Sets: contours along the voxel edges (exact areas), valid (dciodvfy), and read
back onto the series to exactly the voxels written, on the CT series with the flipped model
output and on the oblique MR series."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segviewer.io.dicom_seg import DicomExportError, DicomObjectError, SegmentAlgorithm
from segviewer.io.labels import read_label_map
from segviewer.io.rtstruct import boundary_loops, fill_even_odd, read_rtstruct, write_rtstruct
from segviewer.model.labels import LabelMap
from tests.io.test_dicom_seg import (ct, dciodvfy_errors, every_dicom_object_is_valid, model_output,  # noqa: F401
                                    oblique_labels, oblique_mr)


def polygon_area(loop: np.ndarray) -> float:
    """Signed area (shoelace); clockwise on screen (y down) is positive."""
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


@settings(max_examples=200, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_voxel_edge_loops_are_simple_enclose_exactly_the_mask_and_its_area(mask):
    loops = boundary_loops(mask)
    assert np.array_equal(fill_even_odd([loop - 0.5 for loop in loops], mask.shape), mask)
    assert sum(polygon_area(loop) for loop in loops) == pytest.approx(mask.sum())  # holes count negative
    for loop in loops:
        assert len({tuple(p) for p in loop}) == len(loop)  # a simple polygon: no vertex twice


def test_a_ring_gives_an_outer_loop_and_a_hole_and_diagonal_voxels_stay_apart():
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[3, 3] = False
    loops = boundary_loops(ring)
    assert sorted(polygon_area(loop) for loop in loops) == [-1.0, 25.0]
    diagonal = np.zeros((4, 4), bool)
    diagonal[1, 1] = diagonal[2, 2] = True
    assert [len(loop) for loop in boundary_loops(diagonal)] == [4, 4]


@pytest.mark.parametrize("case", ["ct_model_output", "oblique_mr"])
def test_a_structure_set_is_valid_and_reads_back_to_exactly_the_voxels_written(case, ct, oblique_mr, model_output,
                                                                                 tmp_path):
    volume, label_map = (ct, model_output) if case == "ct_model_output" else (oblique_mr, oblique_labels(oblique_mr))
    path = write_rtstruct(tmp_path / "rt.dcm", label_map, volume,
                          algorithm=SegmentAlgorithm("semiautomatic", method="graph_cut"))
    assert dciodvfy_errors(path) == []
    read = read_rtstruct(path, volume.geometry)
    assert len(read.layers) == 1 and read.message == ""
    assert np.array_equal(read.label_map.array, label_map.array)
    via_loader, _ = read_label_map(path, volume.geometry)  # the app's and --labels' loader
    assert np.array_equal(via_loader.array, label_map.array)
    for value in label_map.present_values():
        assert read.label_map.table.name_of(value) == label_map.table.name_of(value)
        assert read.label_map.table.colour_of(value) == label_map.table.colour_of(value)


def test_contours_lie_on_their_images_plane_and_reference_it(oblique_mr, tmp_path):
    labels = oblique_labels(oblique_mr)
    ds = pydicom.dcmread(write_rtstruct(tmp_path / "rt.dcm", labels, oblique_mr))
    sources = {str(d.SOPInstanceUID): d for d in map(pydicom.dcmread, oblique_mr.metadata["files"])}
    normal = oblique_mr.geometry.direction[:, 2]
    assert {r.ROINumber for r in ds.StructureSetROISequence} == set(labels.present_values())  # ROI number = label
    assert {r.ROIGenerationAlgorithm for r in ds.StructureSetROISequence} == {"MANUAL"}
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            image = sources[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
            points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            assert np.allclose(points @ normal, np.dot(np.asarray(image.ImagePositionPatient, float), normal),
                               atol=1e-3)


def test_overlapping_structures_become_separate_label_maps_and_off_plane_contours_are_counted(oblique_mr, tmp_path):
    labels = oblique_labels(oblique_mr)
    path = write_rtstruct(tmp_path / "rt.dcm", labels, oblique_mr)
    ds = pydicom.dcmread(path)
    # ROI 7 also claims ROI 2's voxels (a copy of ROI 2's contours), and one contour of ROI 2
    # is moved half a slice off its plane
    rois = {roi.ReferencedROINumber: roi for roi in ds.ROIContourSequence}
    for contour in rois[2].ContourSequence:
        rois[7].ContourSequence.append(contour)
    shifted = pydicom.dcmread(path).ROIContourSequence[0].ContourSequence[0]
    points = np.asarray(shifted.ContourData, float).reshape(-1, 3)
    points += oblique_mr.geometry.direction[:, 2] * oblique_mr.geometry.spacing[2] * 0.5
    shifted.ContourData = [f"{v:.10g}" for v in points.reshape(-1)]
    rois[2].ContourSequence.append(shifted)
    ds.save_as(tmp_path / "edited.dcm")
    read = read_rtstruct(tmp_path / "edited.dcm", oblique_mr)
    assert len(read.layers) == 2 and "overlap" in read.message and "1 contour(s) not on the image's slice" in read.message
    assert np.array_equal(read.layers[0].array == 2, labels.array == 2)
    assert np.array_equal(read.layers[1].array == 7, (labels.array == 7) | (labels.array == 2))


def test_a_structure_set_needs_its_series_and_a_dicom_source(oblique_mr, spleen_paths, tmp_path):
    path = write_rtstruct(tmp_path / "rt.dcm", oblique_labels(oblique_mr), oblique_mr)
    with pytest.raises(DicomObjectError, match="holds contours, not voxels; open the image series"):
        read_rtstruct(path, None)
    labels, _ = read_label_map(spleen_paths[1])
    with pytest.raises(DicomExportError, match="is not a DICOM series"):
        write_rtstruct(tmp_path / "x.dcm", labels, spleen_paths[0])
    with pytest.raises(DicomExportError, match="empty"):
        write_rtstruct(tmp_path / "x.dcm", LabelMap.empty(oblique_mr.geometry), oblique_mr)
    assert not (tmp_path / "x.dcm").exists()
