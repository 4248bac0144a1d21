"""DICOM-SEG: what we write is valid (dciodvfy) and reads back to exactly the voxels written
through independent readers (highdicom, dcmqi's segimage2itkimage), on the CT series, the
oblique MR series and the flipped model output; SEGs of another producer read right."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import highdicom as hd
from segviewer.errors import GeometryMismatchError
from segviewer.io.dicom import read_dicom_series
from segviewer.io.dicom_seg import (DicomExportError, SegmentAlgorithm, build_dicom_seg, read_dicom_seg,
                                    source_series, write_dicom_seg)
from segviewer.io.images import geometry_of, read_image
from segviewer.io.labels import read_label_map
from segviewer.io.paths import WritePathError
from segviewer.io.atomic import OutputGuard
from segviewer.io.segment_codes import SegmentCodeError, load_segment_codes
from segviewer.model.labels import LabelInfo, LabelMap, LabelTable

#: What the Debian dicom3tools (2024) says of a LABELMAP SEG: it predates DICOM Supplement 243
#: (Label Map Segmentation Storage), so it knows neither the IOD nor its segment 0 (background).
DCIODVFY_PREDATES_LABELMAP = {
    "Error - Information Object Not found",
    "Error - SegmentNumber not monotonically increasing from one by one - have SegmentSequence item "
    "number 1 (from one) with SegmentNumber of 0",
}


def dciodvfy_errors(path) -> list[str]:
    """The error lines of dicom3tools' validator for ``path`` (the test skips without it)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools, installed by packaging/setup.sh) is not installed")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    return sorted({line.strip() for line in (result.stdout + result.stderr).splitlines()
                   if line.startswith("Error")})


@pytest.fixture(autouse=True)
def every_dicom_object_is_valid(monkeypatch):
    """Every DICOM-SEG and RT structure set a test here writes is checked by dciodvfy as it is
    written (a LABELMAP SEG: only what this dciodvfy cannot know yet)."""
    from segviewer.io import dicom_seg

    save = dicom_seg.save_dicom

    def save_and_check(path, dataset, **options):
        written = save(path, dataset, **options)
        allowed = DCIODVFY_PREDATES_LABELMAP if dataset.get("SegmentationType") == "LABELMAP" else set()
        assert set(dciodvfy_errors(written)) <= allowed, f"{written} is not valid DICOM"
        return written

    monkeypatch.setattr(dicom_seg, "save_dicom", save_and_check)


@pytest.fixture(scope="module")
def ct(shared_data):
    return read_dicom_series(shared_data / "dicom" / "ct_chest_20slices")


@pytest.fixture(scope="module")
def oblique_mr(shared_data):
    volume = read_dicom_series(shared_data / "dicom" / "mr_brain_t1post")
    assert not np.allclose(volume.geometry.direction, np.eye(3), atol=1e-3)  # the oblique one
    return volume


@pytest.fixture(scope="module")
def model_output(shared_data, ct):
    """The model's multi-organ labels, stored y-flipped, placed on the CT series' grid."""
    label_map, message = read_label_map(shared_data / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz",
                                        ct.geometry)
    assert "axes flipped: j" in message
    label_map.table.update(1, name="spleen")
    label_map.table.update(5, name="liver", colour=(221, 130, 101))
    return label_map


def oblique_labels(volume) -> LabelMap:
    """Two overlapping-free boxes and a one-voxel structure on the MR grid (not on every slice)."""
    array = np.zeros(volume.geometry.shape, dtype=np.uint8)
    array[5:15, 100:200, 50:120] = 2
    array[8:12, 150:250, 130:200] = 7
    array[10, 60, 60] = 10  # a one-voxel structure
    return LabelMap(array, volume.geometry, LabelTable([LabelInfo(2, "tumour", (250, 20, 20)),
                                                        LabelInfo(7, "Hippocampus", (20, 200, 30))]))


def highdicom_labels(path, source_uids: list[str]) -> np.ndarray:
    """The SEG's voxels as highdicom reads them, as label values (from our tracking ids)."""
    seg = hd.seg.segread(path)
    stack = seg.get_pixels_by_source_instance(source_uids, segment_numbers=list(seg.segment_numbers))
    labels = np.zeros(stack.shape[:3], dtype=np.uint16)
    for n, number in enumerate(seg.segment_numbers):
        value = int(seg.get_segment_description(number).TrackingID.split()[-1])
        assert not np.any(labels[stack[..., n] > 0]), "our segments never overlap"
        labels[stack[..., n] > 0] = value
    return labels


def dcmqi_tool(name: str) -> str | None:
    """A dcmqi program (the test extra's wheel puts it beside this Python), or None."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def dcmqi_labels(path, tmp_path, geometry) -> np.ndarray | None:
    """The SEG's voxels as dcmqi's segimage2itkimage reads them (None when not installed)."""
    tool = dcmqi_tool("segimage2itkimage")
    if tool is None:
        return None
    out = tmp_path / "dcmqi"
    out.mkdir()
    subprocess.run([tool, "--inputDICOM", str(path), "--outputDirectory", str(out), "--outputType", "nifti"],
                   check=True, capture_output=True, timeout=300)
    meta = json.loads((out / "meta.json").read_text())
    labels = np.zeros(geometry.shape, dtype=np.uint16)
    for number, attributes in enumerate(meta["segmentAttributes"], 1):
        image = sitk.ReadImage(str(out / f"{number}.nii.gz"))  # the labelled slices only
        own = geometry_of(image)
        offset = own.physical_to_index(geometry.origin)  # where the series starts on dcmqi's grid
        assert np.allclose(own.direction, geometry.direction, atol=1e-4) and np.allclose(offset[:2], 0, atol=1e-3)
        assert np.isclose(offset[2], round(offset[2]), atol=1e-3)
        first = -int(round(offset[2]))  # dcmqi's slice 0 is the series' slice ``first``
        array = np.zeros(geometry.shape, dtype=np.uint16)
        array[first:first + own.size[2]] = sitk.GetArrayFromImage(image)
        for segment in attributes:
            labels[array == segment["labelID"]] = int(segment["TrackingIdentifier"].split()[-1])
    return labels


# -- writing: valid, and the voxels come back exactly -------------------------------------------------
@pytest.mark.parametrize("case", ["ct_model_output", "oblique_mr"])
def test_a_seg_is_valid_and_reads_back_to_exactly_the_voxels_written(case, ct, oblique_mr, model_output, tmp_path):
    volume, label_map = (ct, model_output) if case == "ct_model_output" else (oblique_mr, oblique_labels(oblique_mr))
    path = write_dicom_seg(tmp_path / "labels.dcm", label_map, volume)
    assert dciodvfy_errors(path) == []
    uids = source_series(volume).sop_instance_uids
    assert np.array_equal(highdicom_labels(path, uids), label_map.array)
    by_dcmqi = dcmqi_labels(path, tmp_path, volume.geometry)
    if by_dcmqi is not None:
        assert np.array_equal(by_dcmqi, label_map.array)
    for reference in (volume, volume.geometry, None):  # by SOP instance, by position, on its own grid
        read = read_dicom_seg(path, reference)
        assert len(read.layers) == 1 and read.label_map.geometry.same_grid(volume.geometry) or reference is None
        if reference is not None:
            assert np.array_equal(read.label_map.array, label_map.array)
    own = read_dicom_seg(path).label_map  # the SEG's own grid: the labelled slices of the series
    placed, _ = read_label_map(path, volume.geometry)
    assert np.array_equal(placed.array, label_map.array)
    first = volume.geometry.physical_to_index(own.geometry.origin)
    assert np.allclose(first[:2], 0, atol=1e-4) and np.isclose(first[2], round(first[2]), atol=1e-4)
    assert np.allclose(own.geometry.direction, volume.geometry.direction, atol=1e-4)


def test_each_frame_sits_on_its_source_images_plane_and_references_it(oblique_mr, tmp_path):
    labels = oblique_labels(oblique_mr)
    seg = pydicom.dcmread(write_dicom_seg(tmp_path / "mr.dcm", labels, oblique_mr))
    sources = {ds.SOPInstanceUID: ds for ds in source_series(oblique_mr).datasets}
    assert seg.FrameOfReferenceUID == next(iter(sources.values())).FrameOfReferenceUID
    orientation = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert np.allclose(frame.PlanePositionSequence[0].ImagePositionPatient, sources[uid].ImagePositionPatient)
        assert np.allclose(orientation, sources[uid].ImageOrientationPatient)
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == set(sources)


def test_segments_carry_name_cielab_colour_codes_and_algorithm(ct, model_output, tmp_path):
    path = write_dicom_seg(tmp_path / "ct.dcm", model_output, ct,
                           algorithm=SegmentAlgorithm("automatic", method="unet", model="organs.pt"))
    seg = hd.seg.segread(path)
    segments = {d.SegmentLabel: d for d in seg.SegmentSequence}
    assert len(segments) == len(model_output.present_values())
    spleen, liver, other = segments["spleen"], segments["liver"], segments["Label 6"]
    assert (spleen.SegmentedPropertyTypeCodeSequence[0].CodeValue, spleen.SegmentedPropertyTypeCodeSequence[0]
            .CodingSchemeDesignator) == ("78961009", "SCT")
    assert spleen.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Anatomical Structure"
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Liver"
    assert other.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Tissue"  # a name in no table
    assert hd.color.CIELabColor.from_dicom_value(list(liver.RecommendedDisplayCIELabValue)).to_rgb() == (221, 130, 101)
    assert spleen.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = spleen.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "unet (organs.pt)"
    assert algorithm.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
    read = read_dicom_seg(path, ct)
    assert read.label_map.table.name_of(5) == "liver" and read.label_map.table.colour_of(5) == (221, 130, 101)
    assert {s.algorithm_kind for s in read.segments} == {"automatic"}


@pytest.mark.parametrize("algorithm, kind, family", [
    (SegmentAlgorithm(), "MANUAL", None),
    (SegmentAlgorithm("semiautomatic", method="graph_cut"), "SEMIAUTOMATIC", "Cluster analysis"),
    (SegmentAlgorithm("semi-automatic", method="threshold"), "SEMIAUTOMATIC", "Histogram analysis"),
])
def test_manual_and_semi_automatic_segments_say_how_they_were_made(algorithm, kind, family, oblique_mr):
    seg = build_dicom_seg(oblique_labels(oblique_mr), oblique_mr, algorithm=algorithm)
    for description in seg.SegmentSequence:
        assert description.SegmentAlgorithmType == kind
        identification = description.get("SegmentationAlgorithmIdentificationSequence")
        if family is None:
            assert identification is None
        else:
            assert identification[0].AlgorithmName == algorithm.method
            assert identification[0].AlgorithmFamilyCodeSequence[0].CodeMeaning.lower() == family.lower()


def test_a_semi_automatic_segmentation_without_a_method_is_refused():
    with pytest.raises(DicomExportError, match="names its method"):
        SegmentAlgorithm("semiautomatic")
    with pytest.raises(DicomExportError, match="manual, semiautomatic, automatic"):
        SegmentAlgorithm("guessed")


def test_labelmap_seg_reads_back_exactly_and_only_dciodvfys_missing_iod_is_reported(ct, model_output, tmp_path):
    binary = write_dicom_seg(tmp_path / "binary.dcm", model_output, ct)
    labelmap = write_dicom_seg(tmp_path / "labelmap.dcm", model_output, ct, seg_type="labelmap")
    assert labelmap.stat().st_size < binary.stat().st_size / 2  # one frame per slice, not per segment
    assert hd.seg.segread(labelmap).segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
    assert np.array_equal(read_dicom_seg(labelmap, ct).label_map.array, model_output.array)
    assert set(dciodvfy_errors(labelmap)) <= DCIODVFY_PREDATES_LABELMAP


def test_de_identified_series_uids_are_completed_the_same_way_every_time(ct, model_output, tmp_path):
    """The CT test series has empty SOP/study/series UIDs in its data sets (only the file meta
    keeps the instance UID): the SEG references the file meta's UIDs and derived study and
    series UIDs, the same on every export, and the files stay untouched."""
    files = ct.metadata["files"]
    before = [open(f, "rb").read() for f in files[:2]]
    assert pydicom.dcmread(files[0]).SOPInstanceUID == ""
    first = pydicom.dcmread(write_dicom_seg(tmp_path / "a.dcm", model_output, ct))
    second = pydicom.dcmread(write_dicom_seg(tmp_path / "b.dcm", model_output, ct))
    assert first.StudyInstanceUID == second.StudyInstanceUID != ""
    assert first.SeriesInstanceUID != second.SeriesInstanceUID  # each SEG is a new series
    referenced = {i.ReferencedSOPInstanceUID for i in first.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {str(pydicom.dcmread(f).file_meta.MediaStorageSOPInstanceUID) for f in files}
    assert [open(f, "rb").read() for f in files[:2]] == before


# -- refusals ----------------------------------------------------------------------------------------
def test_an_image_with_no_dicom_source_is_refused_with_a_clear_message(spleen_paths):
    image = read_image(spleen_paths[0])
    labels, _ = read_label_map(spleen_paths[1], image.geometry)
    with pytest.raises(DicomExportError, match="is not a DICOM series .*refers to the DICOM images it segments"):
        build_dicom_seg(labels, image)


def test_empty_labels_and_labels_off_the_series_grid_are_refused(ct, oblique_mr, model_output, tmp_path):
    with pytest.raises(DicomExportError, match="empty"):
        write_dicom_seg(tmp_path / "x.dcm", LabelMap.empty(ct.geometry), ct)
    with pytest.raises(GeometryMismatchError, match="not on the DICOM series' grid"):
        write_dicom_seg(tmp_path / "x.dcm", model_output, oblique_mr)
    assert not (tmp_path / "x.dcm").exists()


def test_a_seg_is_never_written_over_an_input_and_replaces_an_old_output_whole(ct, model_output, tmp_path):
    source = tmp_path / "series"
    shutil.copytree(ct.path, source)
    volume = read_dicom_series(source)
    victim = volume.metadata["files"][0]
    before = open(victim, "rb").read()
    with pytest.raises(WritePathError, match="refusing to overwrite"):
        write_dicom_seg(victim, model_output, volume, guard=OutputGuard(source))
    assert open(victim, "rb").read() == before
    target = tmp_path / "out.dcm"
    target.write_bytes(b"old")
    write_dicom_seg(target, model_output, volume)
    assert np.array_equal(read_dicom_seg(target, volume).label_map.array, model_output.array)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- segment codes ----------------------------------------------------------------------------------
def test_the_shipped_codes_are_the_snomed_codes_pydicom_lists():
    from pydicom.sr.codedict import codes

    table = load_segment_codes()
    meanings: dict[str, set[str]] = {}
    for name in dir(codes.SCT):
        code = getattr(codes.SCT, name)
        if not name.startswith("_") and hasattr(code, "value"):
            meanings.setdefault(code.value, set()).add(code.meaning.lower())
    assert len(table.entries) > 60
    for coded in {*table.entries.values(), table.fallback}:
        for concept in (coded.category, coded.type):
            assert concept.scheme == "SCT" and concept.meaning.lower() in meanings[concept.value]
    assert table.codes_for("Kidney_Left").type.meaning == "Kidney"


def test_a_users_code_table_adds_and_overrides_names(private_config, oblique_mr):
    (private_config / "segviewer").mkdir(parents=True, exist_ok=True)
    (private_config / "segviewer" / "segment_codes.json").write_text(json.dumps({"structures": [
        {"names": ["tumour"], "category": ["SCT", "49755003", "Morphologically Abnormal Structure"],
         "type": ["SCT", "86049000", "Malignant neoplasm, primary"]}]}))
    seg = build_dicom_seg(oblique_labels(oblique_mr), oblique_mr)
    tumour = next(d for d in seg.SegmentSequence if d.SegmentLabel == "tumour")
    assert tumour.SegmentedPropertyTypeCodeSequence[0].CodeValue == "86049000"
    hippocampus = next(d for d in seg.SegmentSequence if d.SegmentLabel == "Hippocampus")
    assert hippocampus.SegmentedPropertyTypeCodeSequence[0].CodeValue == "5366008"  # still the shipped one


@pytest.mark.parametrize("text, problem", [
    ("{not json", "is not valid JSON"),
    ('{"structures": [{"names": ["x"], "category": ["SCT", "1"], "type": ["SCT", "2", "b"]}]}',
     r"must be \[scheme, code value, meaning\]"),
    ('{"structures": [{"category": ["SCT", "1", "a"], "type": ["SCT", "2", "b"]}]}', "needs \"names\""),
])
def test_a_malformed_code_table_is_one_clear_error(tmp_path, text, problem):
    table = tmp_path / "codes.json"
    table.write_text(text)
    with pytest.raises(SegmentCodeError, match=problem):
        load_segment_codes(table)


# -- SEGs of another producer --------------------------------------------------------------------------
def test_overlapping_segments_become_separate_label_maps(shared_data):
    path = shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm"
    read = read_dicom_seg(path)
    volume = hd.seg.segread(path).get_volume()
    expected = [int(np.count_nonzero(volume.array[..., n])) for n in range(2)]
    assert len(read.layers) == 2 and "overlap" in read.message
    assert [int(np.count_nonzero(layer.array)) for layer in read.layers] == expected  # nothing lost
    overlap = (read.layers[0].array > 0) & (read.layers[1].array > 0)
    assert overlap.any()
    assert read.layers[0].table.name_of(1) == "first segment" and read.layers[1].table.name_of(2) == "second segment"
    label_map, message = read_label_map(path)
    assert np.array_equal(label_map.array, read.layers[0].array) and "opened layer 1 of 2" in message


def test_a_true_fractional_seg_gives_probabilities_and_thresholded_labels(shared_data):
    path = shared_data / "dicom_seg" / "seg_image_ct_true_fractional.dcm"
    read = read_dicom_seg(path)
    probabilities = read.probabilities[1]
    assert probabilities.dtype == np.float32 and 0 < probabilities.max() <= 1
    assert len(np.unique(probabilities)) > 2  # a soft map, not a mask
    assert np.array_equal(read.label_map.array > 0, probabilities >= 0.5)
    assert "FRACTIONAL" in read.message
    raw = hd.seg.segread(path).get_volume().array[..., 0]
    assert np.allclose(np.sort(probabilities.reshape(-1)), np.sort(raw.reshape(-1)))


def test_binary_values_in_a_fractional_seg_and_a_single_frame_seg(shared_data):
    fractional = read_dicom_seg(shared_data / "dicom_seg" / "seg_image_ct_binary_fractional.dcm")
    assert set(np.unique(fractional.probabilities[1])) == {0.0, 1.0}
    assert np.array_equal(fractional.label_map.array, fractional.probabilities[1].astype(np.uint8))
    single = read_dicom_seg(shared_data / "dicom_seg" / "seg_image_ct_binary_single_frame.dcm").label_map
    assert single.geometry.size[:2] == (128, 128) and single.geometry.size[2] == 1
    assert np.count_nonzero(single.array) > 0


def test_a_foreign_seg_is_placed_on_an_open_image_by_physical_position(shared_data):
    path = shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm"
    own = read_dicom_seg(path).layers[0]
    g = own.geometry
    # an image grid twice as fine in-plane over the same space: each SEG voxel becomes 2x2
    from segviewer.model.geometry import Geometry

    finer = Geometry((g.size[0] * 2, g.size[1] * 2, g.size[2]), (g.spacing[0] / 2, g.spacing[1] / 2, g.spacing[2]),
                     g.index_to_physical((-0.25, -0.25, 0)), g.direction)
    placed = read_dicom_seg(path, finer)
    assert "physical position" in placed.message
    assert np.count_nonzero(placed.layers[0].array) == 4 * np.count_nonzero(own.array)


def test_label_values_above_255_come_back_unchanged(oblique_mr, tmp_path):
    from segviewer.io.rtstruct import read_rtstruct, write_rtstruct

    array = oblique_labels(oblique_mr).array.astype(np.uint16)
    array[array == 7] = 1000
    array[12, 200:220, 200:230] = 65534
    labels = LabelMap(array, oblique_mr.geometry, LabelTable([LabelInfo(1000, "Hippocampus", (20, 200, 30))]))
    seg = write_dicom_seg(tmp_path / "wide.dcm", labels, oblique_mr)
    rt = write_rtstruct(tmp_path / "wide_rt.dcm", labels, oblique_mr)
    assert dciodvfy_errors(seg) == [] and dciodvfy_errors(rt) == []
    for read in (read_dicom_seg(seg, oblique_mr), read_rtstruct(rt, oblique_mr)):
        assert read.label_map.array.dtype == np.uint16 and np.array_equal(read.label_map.array, array)
        assert read.label_map.table.name_of(1000) == "Hippocampus"


def test_dicom_objects_beside_the_images_are_not_read_as_a_series_nor_as_an_image(ct, model_output, tmp_path):
    """Saved into the series' folder, a SEG (one multi-frame file, more "voxels" than the CT)
    would otherwise be picked as the folder's largest series, and read as a broken image."""
    from segviewer.errors import ImageReadError
    from segviewer.io.rtstruct import write_rtstruct

    folder = tmp_path / "series"
    shutil.copytree(ct.path, folder)
    seg = write_dicom_seg(folder / "labels_seg.dcm", model_output, ct)
    rt = write_rtstruct(folder / "labels_rt.dcm", model_output, ct)
    again = read_dicom_series(folder)
    assert again.geometry.same_grid(ct.geometry) and len(again.metadata["series"]) == 1
    assert np.array_equal(again.array, ct.array)
    with pytest.raises(ImageReadError, match="is a DICOM-SEG - labels, not an image; open the DICOM series"):
        read_image(seg)
    assert np.array_equal(read_label_map(seg, again.geometry)[0].array, model_output.array)
    assert np.array_equal(read_label_map(rt, again.geometry)[0].array, model_output.array)
