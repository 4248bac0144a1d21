"""Reading images: real files, memory sharing, NaNs, and every kind of bad input."""

from __future__ import annotations

import gc
import gzip
import re
import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import ImageReadError, TooLargeError
from segviewer.io import images as images_module
from segviewer.io import memory as memory_module
from segviewer.io.images import array_from_sitk, read_header, read_image, write_image
from segviewer.io.labels import write_label_map
from segviewer.io.paths import WritePathError
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap


@pytest.fixture
def small_nifti(tmp_path):
    geometry = Geometry((20, 18, 6), (0.8, 0.8, 2.5), (10.0, -20.0, 30.0), np.diag([-1.0, -1.0, 1.0]))
    array = np.arange(np.prod(geometry.shape), dtype=np.int16).reshape(geometry.shape)
    path = tmp_path / "small.nii.gz"
    write_image(path, ImageVolume(array, geometry))
    return path, array, geometry


def test_spleen_ct_keeps_its_dtype_and_geometry(spleen_paths):
    image_path, _ = spleen_paths
    volume = read_image(image_path)
    reference = sitk.ReadImage(str(image_path))
    assert volume.array.dtype == sitk.GetArrayViewFromImage(reference).dtype
    np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(reference))
    assert volume.geometry.size == reference.GetSize()
    np.testing.assert_allclose(volume.geometry.direction.reshape(-1), reference.GetDirection())
    assert volume.metadata["format"] == "Nifti"


def test_array_shares_simpleitk_memory_and_outlives_the_volume(small_nifti):
    path, array, _ = small_nifti
    volume = read_image(path)
    assert not volume.array.flags.owndata  # no copy of the pixel buffer
    assert volume.array.flags.writeable and volume.array.flags.c_contiguous
    kept = volume.array[2:4]
    del volume
    gc.collect()
    _ = [np.ones(10_000) for _ in range(100)]  # reuse freed memory if it had been freed
    np.testing.assert_array_equal(kept, array[2:4])


def test_array_from_sitk_keeps_the_image_alive():
    image = sitk.Image(30, 20, 10, sitk.sitkInt16)
    image += 7
    array = array_from_sitk(image)
    del image
    gc.collect()
    _ = [np.ones(5_000) for _ in range(100)]
    assert int(array.sum()) == 7 * 30 * 20 * 10
    array[0, 0, 0] = 3  # writeable
    assert array[0, 0, 0] == 3


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".nii.gz"])
def test_nan_voxels_do_not_break_loading(tmp_path, suffix):
    geometry = Geometry((8, 7, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    array = np.linspace(-5, 5, np.prod(geometry.shape), dtype=np.float32).reshape(geometry.shape)
    array[1, 2, 3] = np.nan
    array[2, 2, 2] = np.inf
    path = tmp_path / f"nan{suffix}"
    write_image(path, ImageVolume(array, geometry))
    volume = read_image(path)
    low, high = volume.intensity_range
    assert np.isfinite(low) and np.isfinite(high)
    assert low == pytest.approx(-5) and high == pytest.approx(5)
    assert all(np.isfinite(volume.percentiles()))
    # Every format keeps them (ITK's NIfTI reader turns NaN and Inf into 0: put back), and
    # the user is told how many there are.
    assert np.isnan(volume.array[1, 2, 3]) and np.isinf(volume.array[2, 2, 2])
    assert volume.metadata["non_finite_voxels"] == 2
    assert "2 voxels are NaN or infinite" in volume.metadata["message"]


def test_four_d_with_one_volume_reads_as_3d(tmp_path):
    path = tmp_path / "t1.nii.gz"
    data = np.arange(5 * 4 * 3, dtype=np.int16).reshape(5, 4, 3, 1)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])), str(path))
    volume = read_image(path)
    assert volume.geometry.size == (5, 4, 3)
    np.testing.assert_array_equal(volume.array, np.transpose(data[..., 0], (2, 1, 0)))


def test_2d_image_reads_as_one_slice(tmp_path):
    path = tmp_path / "flat.nrrd"
    image = sitk.GetImageFromArray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    image.SetSpacing((0.5, 0.25))
    sitk.WriteImage(image, str(path))
    volume = read_image(path)
    assert volume.geometry.size == (4, 3, 1)
    assert volume.geometry.spacing[:2] == (0.5, 0.25)


def test_single_dicom_file_reads_its_whole_series(shared_data):
    folder = shared_data / "dicom" / "mr_hippo_crop"
    volume = read_image(folder / "5.dcm")
    assert volume.geometry.size == (35, 51, 32)
    assert "whole series" in volume.metadata["message"]


# -- bad inputs ----------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "absent.nii.gz")


def test_truncated_nii_gz_is_refused(spleen_paths, tmp_path):
    data = spleen_paths[0].read_bytes()
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_truncated_uncompressed_nii_is_refused(small_nifti, tmp_path):
    path, _, _ = small_nifti
    raw = tmp_path / "raw.nii"
    raw.write_bytes(gzip.decompress(path.read_bytes())[:-100])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(raw)


def test_multi_member_gzip_nifti_is_accepted(small_nifti, tmp_path):
    """The gzip trailer only sizes the last member: a complete multi-member file must pass."""
    path, array, _ = small_nifti
    raw = gzip.decompress(path.read_bytes())
    split = tmp_path / "members.nii.gz"
    split.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    np.testing.assert_array_equal(read_image(split).array, array)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_truncated_nrrd_and_metaimage_are_refused(small_nifti, tmp_path, suffix):
    path, _, _ = small_nifti
    whole = tmp_path / f"whole{suffix}"
    write_image(whole, read_image(path))
    data = whole.read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(data[: len(data) - 200])
    with pytest.raises(ImageReadError, match="truncated or damaged"):
        read_image(truncated)


def test_text_file_renamed_nii(tmp_path):
    path = tmp_path / "notes.nii"
    path.write_text("these are not voxels\n" * 40)
    with pytest.raises(ImageReadError, match="not an image format"):
        read_image(path)


def test_four_d_image_is_refused(tmp_path):
    path = tmp_path / "timeseries.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((5, 4, 3, 2), np.int16), np.eye(4)), str(path))
    with pytest.raises(ImageReadError, match="4D"):
        read_image(path)


def test_vector_image_is_refused(tmp_path):
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.Image([6, 5, 4], sitk.sitkVectorUInt8, 3), str(path))
    with pytest.raises(ImageReadError, match="values per voxel"):
        read_image(path)


@pytest.mark.parametrize("header_name, header", [
    ("huge.nhdr", "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\n"
                  "sizes: 40000 40000 4000\nspace directions: (1,0,0) (0,1,0) (0,0,1)\n"
                  "kinds: domain domain domain\nendian: little\nencoding: raw\n"
                  "space origin: (0,0,0)\ndata file: huge.raw\n"),
    ("huge.mhd", "ObjectType = Image\nNDims = 3\nDimSize = 40000 40000 4000\n"
                 "ElementType = MET_SHORT\nElementSpacing = 1 1 1\nElementDataFile = huge.raw\n"),
])
def test_image_too_large_for_memory_is_refused_before_reading(tmp_path, header_name, header):
    """A header declaring 12.8 TB; the data file is empty, so reading it would fail with a
    different error - TooLargeError proves the refusal came first."""
    (tmp_path / header_name).write_text(header)
    (tmp_path / "huge.raw").write_bytes(b"")
    with pytest.raises(TooLargeError, match=r"would need 11\.6 TiB"):
        read_image(tmp_path / header_name)
    assert read_header(tmp_path / header_name).nbytes == 40000 * 40000 * 4000 * 2


def test_low_available_memory_refuses_a_real_file_without_reading_it(spleen_paths, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the voxels were read")

    monkeypatch.setattr(memory_module, "available_memory_bytes", lambda: 1_000_000)
    monkeypatch.delenv("SEGVIEWER_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(images_module.sitk.ImageFileReader, "Execute", never)
    with pytest.raises(TooLargeError) as error:
        read_image(spleen_paths[0])
    assert "2.7 MiB" in str(error.value)  # 164 x 166 x 26 float32 voxels
    assert "976.6 KiB is available" in str(error.value)


def test_memory_limit_environment_override(spleen_paths, monkeypatch):
    monkeypatch.setenv("SEGVIEWER_MEMORY_LIMIT", "1000")
    with pytest.raises(TooLargeError):
        read_image(spleen_paths[0])


# -- writes never overwrite the source -----------------------------------------------------------
def test_saving_over_the_source_image_is_refused(small_nifti):
    path, _, geometry = small_nifti
    volume = read_image(path)
    before = path.read_bytes()
    with pytest.raises(WritePathError, match="source image"):
        write_label_map(path, LabelMap.empty(geometry), volume)
    with pytest.raises(WritePathError, match="source image"):
        write_image(path, volume)
    assert path.read_bytes() == before


def test_failed_write_leaves_the_old_file_and_no_partials(small_nifti, tmp_path, monkeypatch):
    path, _, geometry = small_nifti
    target = tmp_path / "labels.nii.gz"
    write_label_map(target, LabelMap.empty(geometry), geometry)
    before = target.read_bytes()

    def broken(self, image):
        raise RuntimeError("disk full")

    monkeypatch.setattr(images_module.sitk.ImageFileWriter, "Execute", broken)
    with pytest.raises(WritePathError, match="disk full"):
        write_label_map(target, LabelMap(np.ones(geometry.shape, np.uint8), geometry), geometry)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_multi_file_formats_are_written_with_consistent_names(small_nifti, tmp_path):
    path, array, geometry = small_nifti
    target = tmp_path / "out" / "labels.mhd"
    target.parent.mkdir()
    write_label_map(target, LabelMap((array % 3).astype(np.uint8), geometry), geometry)
    names = sorted(p.name for p in target.parent.iterdir())
    # the data file has a unique name the header references (see segviewer.io.atomic)
    assert len(names) == 3 and names[1:] == ["labels.labels.json", "labels.mhd"]
    assert re.fullmatch(r"labels\.[0-9a-f]{8}\.zraw", names[0])
    shutil.move(str(target.parent), str(tmp_path / "moved"))  # the header names its data file
    back = read_image(tmp_path / "moved" / "labels.mhd")
    np.testing.assert_array_equal(back.array, array % 3)


def test_unknown_output_suffix_is_refused(small_nifti, tmp_path):
    _, _, geometry = small_nifti
    with pytest.raises(WritePathError, match="use one of"):
        write_label_map(tmp_path / "labels.png", LabelMap.empty(geometry), geometry)


# -- headers that lie, and NIfTI values ITK changes (issue 11) ---------------------------------
def _nifti_with_pixdim(tmp_path, pixdim_j: float):
    """A float NIfTI whose voxel size along j is ``pixdim_j`` (patched in the raw header)."""
    path = tmp_path / "pixdim.nii"
    nib.save(nib.Nifti1Image(np.ones((5, 4, 3), dtype=np.float32), np.diag([1.5, 1.0, 2.0, 1.0])), path)
    data = bytearray(path.read_bytes())
    data[84:88] = np.float32(pixdim_j).tobytes()  # pixdim[2]
    path.write_bytes(bytes(data))
    return path


def test_nifti_voxel_size_zero_is_reported(tmp_path):
    volume = read_image(_nifti_with_pixdim(tmp_path, 0.0))
    assert volume.geometry.spacing == pytest.approx((1.5, 1.0, 2.0))  # ITK's 1 mm, but the user is told
    assert "no voxel size along j (pixdim 0); taken as 1 mm along j" in volume.metadata["message"]
    assert "message" not in read_image(_nifti_with_pixdim(tmp_path, 1.0)).metadata


@pytest.mark.parametrize("compressed", [False, True])
def test_nifti_non_finite_values_are_kept_and_counted(tmp_path, compressed):
    array = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    array[0, 0, 0], array[1, 1, 1], array[2, 2, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / ("values.nii.gz" if compressed else "values.nii")
    nib.save(nib.Nifti1Image(array.T, np.eye(4)), path)  # nibabel: (i, j, k); ours: (k, j, i)
    volume = read_image(path)
    assert np.isnan(volume.array[0, 0, 0]) and volume.array[1, 1, 1] == np.inf and volume.array[2, 2, 2] == -np.inf
    assert volume.array[0, 0, 1] == 1 and volume.metadata["non_finite_voxels"] == 3
    assert volume.intensity_range == (1.0, 59.0)


def _tiny_files_declaring_a_huge_volume(tmp_path):
    """1 kB files whose headers declare 1000³ voxels (1 GB)."""
    payload = bytes(1000)
    files = {
        "raw.nrrd": b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1000 1000 1000\nencoding: raw\n\n" + payload,
        "gzip.nrrd": b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1000 1000 1000\nencoding: gzip\n\n" + payload,
        "local.mha": (b"ObjectType = Image\nNDims = 3\nDimSize = 1000 1000 1000\nElementType = MET_UCHAR\n"
                      b"ElementDataFile = LOCAL\n" + payload),
        "detached.mhd": (b"ObjectType = Image\nNDims = 3\nDimSize = 1000 1000 1000\nElementType = MET_UCHAR\n"
                         b"ElementDataFile = detached.raw\n"),
        "detached.nhdr": (b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1000 1000 1000\nencoding: raw\n"
                          b"data file: detached.raw\n"),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "detached.raw").write_bytes(payload)
    return [tmp_path / name for name in files]


def test_declared_size_beyond_the_file_is_refused_before_allocating(tmp_path, monkeypatch):
    # Memory is plentiful here, so only the file-size check can refuse: before it, ITK
    # allocated the whole gigabyte and then failed to read.
    monkeypatch.setenv("SEGVIEWER_MEMORY_LIMIT", str(64 << 30))
    for path in _tiny_files_declaring_a_huge_volume(tmp_path):
        with pytest.raises(ImageReadError, match="is truncated|compressed bytes can hold"):
            read_image(path)


def test_declared_size_check_accepts_real_files(tmp_path):
    geometry = Geometry((9, 7, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    volume = ImageVolume(np.zeros(geometry.shape, dtype=np.int16), geometry)  # compresses extremely well
    for suffix in (".nrrd", ".mha", ".mhd", ".nhdr", ".gipl", ".gipl.gz"):
        read_image(write_image(tmp_path / f"zeros{suffix}", volume))


@pytest.mark.parametrize("spacing", [1e-30, 1e30])
def test_absurd_voxel_sizes_are_refused(tmp_path, spacing):
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), dtype=np.int16))
    image.SetSpacing((1.0, spacing, 1.0))
    path = tmp_path / "spacing.nrrd"
    sitk.WriteImage(image, str(path))
    with pytest.raises(ImageReadError, match="voxel size .* mm is outside 1e-06 .. 100000 mm"):
        read_image(path)


@pytest.mark.parametrize("variant", ["plain", "scaled", "big_endian", "float64", "two_d", "one_volume_4d", "oblique"])
def test_float_nifti_read_by_segviewer_equals_itk_where_finite(tmp_path, variant):
    """Float NIfTI voxels are read by segviewer (to keep NaN): values and geometry must be
    exactly what ITK gives for every finite voxel."""
    rng = np.random.default_rng(3)
    shape = {"two_d": (7, 5), "one_volume_4d": (7, 5, 4, 1)}.get(variant, (7, 5, 4))
    data = rng.normal(0, 100, shape).astype(np.float64 if variant == "float64" else np.float32)
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    if variant == "oblique":
        angle = 0.3
        affine[:2, :2] = [[0.7 * np.cos(angle), -0.8 * np.sin(angle)], [0.7 * np.sin(angle), 0.8 * np.cos(angle)]]
    affine[:3, 3] = (10.0, -20.0, 5.0)
    header = nib.Nifti1Header()
    if variant == "big_endian":
        header = header.as_byteswapped(">")
    image = nib.Nifti1Image(data, affine, header)
    if variant == "scaled":
        image.header.set_slope_inter(2.5, -7.0)
    path = tmp_path / f"{variant}.nii.gz"
    nib.save(image, path)
    volume = read_image(path)
    reference = sitk.ReadImage(str(path))
    expected = sitk.GetArrayFromImage(reference)
    if variant == "two_d":
        expected = expected[np.newaxis]
    assert volume.array.dtype == expected.dtype
    np.testing.assert_array_equal(volume.array, expected)
    size = reference.GetSize()[:3]
    assert volume.geometry.size == (*size, 1)[:3]
    np.testing.assert_allclose(volume.geometry.spacing[:len(size)], reference.GetSpacing()[:len(size)], rtol=0, atol=0)
    np.testing.assert_allclose(volume.geometry.origin[:len(size)], reference.GetOrigin()[:len(size)], rtol=0, atol=0)
    if reference.GetDimension() == 3:
        np.testing.assert_allclose(volume.geometry.direction.reshape(-1), reference.GetDirection(), rtol=0, atol=0)
