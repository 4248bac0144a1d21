"""DICOM series: geometry equal to SimpleITK's own series reader, series choice, and the
mirrored model-output mask landing on the same anatomy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import ImageReadError
from segviewer.io.dicom import choose_series, list_series, read_dicom_series
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map

SERIES = ["ct_chest_20slices", "mr_brain_t1post", "mr_hippo_crop"]


def _sitk_series(folder):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize("name", SERIES)
def test_geometry_and_voxels_equal_simpleitk_series_reader(shared_data, name):
    folder = shared_data / "dicom" / name
    volume = read_image(folder)
    reference = _sitk_series(folder)
    geometry = volume.geometry
    assert geometry.size == reference.GetSize()
    np.testing.assert_allclose(geometry.spacing, reference.GetSpacing(), atol=1e-9, rtol=0)
    np.testing.assert_allclose(geometry.origin, reference.GetOrigin(), atol=1e-9, rtol=0)
    np.testing.assert_allclose(geometry.direction.reshape(-1), reference.GetDirection(), atol=1e-12, rtol=0)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(reference))
    # Physical positions of a few voxels, both ways.
    for index in [(0, 0, 0), (7, 3, 1), tuple(n - 1 for n in geometry.size)]:
        np.testing.assert_allclose(geometry.index_to_physical(index),
                                   reference.TransformIndexToPhysicalPoint(index), atol=1e-9)
    assert volume.metadata["format"] == "DICOM"


def test_oblique_series_is_accepted(shared_data):
    volume = read_image(shared_data / "dicom" / "mr_brain_t1post")
    assert volume.geometry.is_oblique()
    assert volume.metadata["series_description"] == "T1post"


def test_series_without_uid_is_listed(shared_data):
    found = list_series(shared_data / "dicom" / "ct_chest_20slices")
    assert len(found) == 1 and found[0].uid == "" and len(found[0].files) == 20
    assert "(no series UID)" in found[0].summary()


@pytest.fixture(scope="module")
def two_series_folder(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_series")
    for name in ("mr_hippo_crop", "mr_brain_t1post"):
        for file in (shared_data / "dicom" / name).iterdir():
            shutil.copy(file, folder / f"{name}_{file.name}")
    return folder


def test_several_series_default_to_the_largest_and_list_them(two_series_folder):
    volume = read_image(two_series_folder)
    assert volume.geometry.size == (280, 320, 22)  # mr_brain_t1post is the larger
    assert len(volume.metadata["series"]) == 2
    assert "2 series found; opened the largest" in volume.metadata["message"]


def test_choose_series_by_index_and_by_uid(two_series_folder):
    found = list_series(two_series_folder)
    small = next(s for s in found if s.columns == 35)
    by_index = read_dicom_series(two_series_folder, found.index(small))
    assert by_index.geometry.size == (35, 51, 32)
    by_uid = read_image(two_series_folder, series=small.uid)
    assert by_uid.metadata["series_uid"] == small.uid
    by_prefix = read_image(two_series_folder, series=small.uid[:24])
    assert by_prefix.geometry.size == (35, 51, 32)


def test_bad_series_choices(two_series_folder, tmp_path):
    found = list_series(two_series_folder)
    with pytest.raises(ImageReadError, match="out of range"):
        choose_series(found, 5, two_series_folder)
    with pytest.raises(ImageReadError, match="no series has the UID"):
        choose_series(found, "9.9.9", two_series_folder)
    with pytest.raises(ImageReadError, match="no DICOM series found"):
        read_image(tmp_path)


def test_series_found_in_subfolders(shared_data, tmp_path):
    shutil.copytree(shared_data / "dicom" / "mr_hippo_crop", tmp_path / "patient" / "study" / "series")
    volume = read_image(tmp_path)
    assert volume.geometry.size == (35, 51, 32)


# -- the mirrored model output ------------------------------------------------------------------
def _centroids_mm(array: np.ndarray, to_physical, values) -> dict[int, np.ndarray]:
    result = {}
    for value in values:
        k, j, i = np.nonzero(array == value)
        mean_index = (i.mean(), j.mean(), k.mean())
        result[value] = np.asarray(to_physical(mean_index))
    return result


def test_mirrored_model_output_lands_on_the_same_anatomy(shared_data):
    """The model output is stored with y flipped (a mirrored index grid). Loaded onto the
    DICOM series, each organ's centroid in mm must equal the centroid computed from the
    original file with its own geometry, and bones must sit on bright CT voxels."""
    series = read_image(shared_data / "dicom" / "ct_chest_20slices")
    mask_path = shared_data / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz"
    original = sitk.ReadImage(str(mask_path))
    original_array = sitk.GetArrayFromImage(original)
    assert original.GetDirection()[4] == -1.0  # y flipped on disk

    label_map, message = read_label_map(mask_path, series.geometry)
    assert "resampled" in message
    organs = [1, 5, 32, 69, 70, 117]  # a spread of labels across the volume
    expected = _centroids_mm(original_array, original.TransformContinuousIndexToPhysicalPoint, organs)
    loaded = _centroids_mm(label_map.array, series.geometry.index_to_physical, organs)
    for value in organs:
        np.testing.assert_allclose(loaded[value], expected[value], atol=1e-3)
        assert np.count_nonzero(label_map.array == value) == np.count_nonzero(original_array == value)

    # Independent of any geometry code: bones (humeri 69/70, vertebra 32) over bone HU.
    for bone in (69, 70, 32):
        assert series.array[label_map.array == bone].mean() > 200
    # The raw array (mirrored) would put them over air or soft tissue.
    assert series.array[original_array == 69].mean() < 0


# -- slices missing, duplicated, unreadable or of two sizes (issue 11) -------------------------
_UID = "1.2.826.0.1.3680043.2.1125.11.1"


def _write_slices(folder, count=10, step=2.0, sizes=None, tilt=False):
    """A synthetic series, one DICOM file per slice (``slice000.dcm`` ...), written by
    SimpleITK with positions ``k * step`` along the slice normal (oblique when ``tilt``)."""
    folder.mkdir(parents=True, exist_ok=True)
    row, column = ((1, 0, 0), (0, 0.8, -0.6)) if tilt else ((1, 0, 0), (0, 1, 0))
    normal = np.cross(row, column)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(count):
        rows, columns = sizes[k] if sizes else (8, 12)
        image = sitk.GetImageFromArray((np.arange(rows * columns, dtype=np.int16) + 100 * k).reshape(1, rows, columns))
        image.SetSpacing((0.5, 0.5, step))
        position = normal * k * step + (3.0, -4.0, 5.0)
        tags = {"0020|000e": _UID, "0020|0032": "\\".join(f"{v:.6f}" for v in position),
                "0020|0037": "\\".join(str(v) for v in (*row, *column)), "0020|0013": str(k + 1),
                "0008|0018": f"{_UID}.{k + 1}", "0008|0060": "CT", "0010|0020": "test",
                "0028|0030": "0.5\\0.5"}
        for key, value in tags.items():
            image.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(image)
    return folder


@pytest.mark.parametrize("tilt", [False, True])
def test_even_series_reads_with_its_step(tmp_path, tilt):
    volume = read_image(_write_slices(tmp_path / "series", tilt=tilt))
    assert volume.geometry.size == (12, 8, 10)
    assert volume.geometry.spacing[2] == pytest.approx(2.0)
    assert "message" not in volume.metadata


def test_a_missing_slice_is_refused_naming_the_gap(tmp_path):
    folder = _write_slices(tmp_path / "series")
    (folder / "slice004.dcm").unlink()  # before: read as 9 slices 2.25 mm apart, exit 0
    with pytest.raises(ImageReadError) as caught:
        read_image(folder)
    message = str(caught.value)
    assert "not evenly spaced" in message and "a slice may be missing" in message
    assert "4 mm between slice 4 (slice003.dcm, at" in message and "slice 5 (slice005.dcm" in message


def test_a_truncated_slice_is_named(tmp_path):
    folder = _write_slices(tmp_path / "series")
    data = (folder / "slice004.dcm").read_bytes()
    (folder / "slice004.dcm").write_bytes(data[: len(data) // 2])  # GDCM leaves it out of the series
    with pytest.raises(ImageReadError, match=r"slice004\.dcm could not be read \(truncated or damaged\?\)"):
        read_image(folder)


def test_a_copied_slice_is_dropped_with_a_note(tmp_path):
    folder = _write_slices(tmp_path / "series")
    reference = read_image(folder)
    shutil.copy(folder / "slice004.dcm", folder / "slice004_copy.dcm")  # before: 11 slices, 1 mm
    volume = read_image(folder)
    assert volume.geometry == reference.geometry
    np.testing.assert_array_equal(volume.array, reference.array)
    assert "ignored 1 duplicate file(s) of the same slice: slice004_copy.dcm (a copy of slice004.dcm)" \
        in volume.metadata["message"]
    assert len(volume.metadata["files"]) == 10


def test_two_images_at_one_position_are_refused(tmp_path):
    folder = _write_slices(tmp_path / "series")
    image = sitk.ReadImage(str(folder / "slice004.dcm"))
    image.SetMetaData("0008|0018", f"{_UID}.99")  # another image (an echo) at the same place
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(folder / "echo2.dcm"))
    writer.Execute(image)
    with pytest.raises(ImageReadError, match="two different images at the same position .*echo2.dcm"):
        read_image(folder)


def test_slices_of_two_sizes_get_a_clear_message(tmp_path):
    folder = _write_slices(tmp_path / "series", sizes=[(8, 12)] * 6 + [(10, 12)] * 4)
    with pytest.raises(ImageReadError, match=r"slices of 2 different sizes: 6 of 12x8 .*4 of 12x10 \(slice006.dcm"):
        read_image(folder)


def test_series_problems_reach_the_command_line(tmp_path, capsys):
    from segviewer.cli import main

    folder = _write_slices(tmp_path / "series")
    (folder / "slice004.dcm").unlink()
    assert main(["info", str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("segviewer: error: ") and error.count("\n") == 1 and "not evenly spaced" in error


def test_the_files_a_series_was_read_from_are_protected_by_the_guards_given_it(tmp_path):
    """A volume records the files it came from (a dropped duplicate slice too); the session's
    guard and the label writer, given the volume, refuse to write over any of them, and
    reading alone protects nothing behind the caller's back."""
    from segviewer.app.files import session_guard
    from segviewer.io.atomic import OutputGuard, write_text_atomically
    from segviewer.io.labels import write_label_map
    from segviewer.io.paths import WritePathError
    from segviewer.model.labels import LabelMap
    from segviewer.model.session import Session

    folder = _write_slices(tmp_path / "series")
    shutil.copy(folder / "slice004.dcm", folder / "slice004_copy.dcm")
    volume = read_image(folder)
    assert {p.name for p in map(Path, volume.metadata["source_files"])} == \
        {f"slice{k:03d}.dcm" for k in range(10)} | {"slice004_copy.dcm"}
    before = {p: p.read_bytes() for p in folder.iterdir()}
    guard = session_guard(Session(volume))
    for name in ("slice000.dcm", "slice004_copy.dcm"):
        with pytest.raises(WritePathError, match="is the source image"):
            write_text_atomically(folder / name, "{}", guard=guard)
    with pytest.raises(WritePathError, match="is the source image"):
        write_label_map(folder / "slice009.dcm", LabelMap.empty(volume.geometry), volume)
    assert {p: p.read_bytes() for p in folder.iterdir()} == before
    # nothing global: a guard that was not given the volume protects nothing
    scratch = tmp_path / "scratch.json"
    write_text_atomically(scratch, "{}", guard=OutputGuard())
    assert OutputGuard().role_of(folder / "slice000.dcm") is None
    # labels saved beside the series (not over it) are fine
    write_label_map(folder / "labels.nii.gz", LabelMap.empty(volume.geometry), volume, write_table=False)
