"""Round trips of images and label maps through every format, checked by independent readers.

NIfTI files are read back with nibabel (RAS affine vs ``Geometry.ras_affine`` to 1e-4 mm,
voxels exact; nibabel's array is ``[i, j, k]``, ours ``[k, j, i]``). NRRD and MetaImage
headers are plain text and are parsed here directly (LPS). Every file is also read back
with segviewer's own reader. Cases: oblique (DICOM mr_brain_t1post), LPS-flipped
(spleen_ct), anisotropic + rotated, single-slice, uint16 labels.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from segviewer.io.images import read_header, read_image, write_image
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable

LABEL_SUFFIXES = [".nii.gz", ".nii", ".nrrd", ".seg.nrrd", ".nhdr", ".mha", ".mhd"]
AFFINE_TOLERANCE_MM = 1e-4


# -- independent readers ----------------------------------------------------------------------
def nibabel_affine_and_array(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(str(path))
    array = np.asanyarray(image.dataobj)
    if array.ndim == 2:  # a single slice may come back 2D
        array = array[:, :, None]
    return image.affine, np.transpose(array, (2, 1, 0))


def _text_header(path: Path) -> str:
    raw = path.read_bytes()[:8192]
    return raw.split(b"\n\n")[0].decode("latin-1") if raw.startswith(b"NRRD") else raw.decode("latin-1")


def nrrd_affine(path: Path) -> np.ndarray:
    """LPS affine from a NRRD header's ``space directions`` and ``space origin``."""
    header = _text_header(path)
    assert "space: left-posterior-superior" in header
    vectors = re.search(r"space directions: (.*)", header).group(1)
    columns = [[float(v) for v in triple.split(",")] for triple in re.findall(r"\(([^)]*)\)", vectors)]
    origin = [float(v) for v in re.search(r"space origin: \(([^)]*)\)", header).group(1).split(",")]
    affine = np.eye(4)
    affine[:3, :3] = np.array(columns).T
    affine[:3, 3] = origin
    return affine


def metaimage_affine(path: Path) -> np.ndarray:
    """LPS affine from a MetaImage header (``TransformMatrix`` lists the axis vectors)."""
    header = _text_header(path).split("ElementDataFile")[0]
    matrix = np.array([float(v) for v in re.search(r"TransformMatrix = (.*)", header).group(1).split()])
    spacing = np.array([float(v) for v in re.search(r"ElementSpacing = (.*)", header).group(1).split()])
    offset = [float(v) for v in re.search(r"Offset = (.*)", header).group(1).split()]
    affine = np.eye(4)
    affine[:3, :3] = matrix.reshape(3, 3).T * spacing[None, :]
    affine[:3, 3] = offset
    return affine


def check_independently(path: Path, geometry: Geometry, array: np.ndarray) -> None:
    name = path.name
    if name.endswith((".nii", ".nii.gz")):
        affine, stored = nibabel_affine_and_array(path)
        np.testing.assert_allclose(affine, geometry.ras_affine, atol=AFFINE_TOLERANCE_MM, rtol=0)
        assert stored.dtype == array.dtype
        np.testing.assert_array_equal(stored, array)
    elif name.endswith((".nrrd", ".nhdr")):
        np.testing.assert_allclose(nrrd_affine(path), geometry.affine, atol=AFFINE_TOLERANCE_MM, rtol=0)
    elif name.endswith((".mha", ".mhd")):
        np.testing.assert_allclose(metaimage_affine(path), geometry.affine, atol=AFFINE_TOLERANCE_MM, rtol=0)


# -- cases ------------------------------------------------------------------------------------
def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 2] *= -1
    return q


def _blob_labels(shape, values, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if max(values) > 255 else np.uint8
    labels = np.zeros(shape, dtype=dtype)
    k, j, i = np.indices(shape)
    for value in values:
        centre = [rng.uniform(0, n) for n in shape]
        radius = max(1.5, min(shape) / 3)
        labels[((k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2) < radius ** 2 * 4] = value
    labels[0, 0, 0] = max(values)  # corner voxel pins the orientation
    return labels


@pytest.fixture(scope="module")
def cases(shared_data):
    oblique = read_image(shared_data / "dicom" / "mr_brain_t1post")
    spleen = read_image(shared_data / "spleen_ct" / "spleen_ct.nii.gz")
    spleen_labels = read_label_map(shared_data / "spleen_ct" / "spleen_ct_label.nii.gz", spleen.geometry)[0]
    assert oblique.geometry.is_oblique()
    assert spleen.geometry.orientation_letters() == ("R", "A", "S")  # LPS-flipped in x and y
    anisotropic = Geometry((23, 17, 9), (0.43, 0.91, 3.7), (-12.5, 40.25, 101.0), _rotation(3))
    single = Geometry((31, 19, 1), (0.7, 0.7, 2.5), (3.0, -4.0, 5.5), _rotation(5))
    wide = Geometry((20, 21, 7), (1.0, 1.2, 1.4), (0.0, 0.0, 0.0), np.diag([1.0, -1.0, -1.0]))
    return {
        "oblique": (oblique, _blob_labels(oblique.geometry.shape, [1, 2, 7])),
        "flipped": (spleen, spleen_labels.array),
        "anisotropic": (ImageVolume(np.random.default_rng(1).normal(size=anisotropic.shape).astype(np.float32),
                                    anisotropic), _blob_labels(anisotropic.shape, [3, 4])),
        "single_slice": (ImageVolume(np.arange(np.prod(single.shape), dtype=np.int16).reshape(single.shape),
                                     single), _blob_labels(single.shape, [1, 2])),
        "uint16": (ImageVolume(np.zeros(wide.shape, np.uint8), wide), _blob_labels(wide.shape, [300, 1000, 65534])),
    }


CASE_NAMES = ["oblique", "flipped", "anisotropic", "single_slice", "uint16"]


@pytest.mark.parametrize("suffix", LABEL_SUFFIXES)
@pytest.mark.parametrize("case", CASE_NAMES)
def test_label_map_round_trip(cases, case, suffix, tmp_path):
    image, labels = cases[case]
    geometry = image.geometry
    table = LabelTable()
    table.ensure(np.unique(labels))
    label_map = LabelMap(labels.copy(), geometry, table)
    path = tmp_path / f"labels{suffix}"
    write_label_map(path, label_map, geometry)

    check_independently(path, geometry, labels)
    header_geometry = read_header(path).geometry
    np.testing.assert_allclose(header_geometry.affine, geometry.affine, atol=AFFINE_TOLERANCE_MM, rtol=0)
    back, message = read_label_map(path, geometry)
    assert message == ""  # same grid: used as it is, never resampled
    assert back.array.dtype == labels.dtype
    np.testing.assert_array_equal(back.array, labels)
    assert back.table.values == table.values


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_image_round_trip(cases, case, suffix, tmp_path):
    image, _ = cases[case]
    path = tmp_path / f"image{suffix}"
    write_image(path, image)
    check_independently(path, image.geometry, image.array)
    back = read_image(path)
    assert back.array.dtype == image.array.dtype
    np.testing.assert_array_equal(back.array, image.array)
    np.testing.assert_allclose(back.geometry.affine, image.geometry.affine, atol=AFFINE_TOLERANCE_MM, rtol=0)


def test_gipl_round_trip_keeps_axis_aligned_geometry(tmp_path):
    geometry = Geometry((12, 10, 4), (0.5, 0.75, 2.0), (-3.0, 7.5, 12.0))
    array = np.random.default_rng(0).integers(-1000, 1000, size=geometry.shape).astype(np.int16)
    path = tmp_path / "image.gipl"
    write_image(path, ImageVolume(array, geometry))
    back = read_image(path)
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.geometry.affine, geometry.affine, atol=1e-5)


def test_gipl_refuses_a_rotated_image(cases, tmp_path):
    from segviewer.io.paths import WritePathError

    image, _ = cases["anisotropic"]
    with pytest.raises(WritePathError, match="orientation"):
        write_image(tmp_path / "image.gipl", image)


def test_float_labels_in_nifti_are_cast_and_stay_aligned(cases, tmp_path):
    """Float-stored whole labels (as some tools write them) come back as uint8 on the same voxels."""
    image, labels = cases["flipped"]
    path = tmp_path / "float_labels.nii.gz"
    affine = image.geometry.ras_affine
    nib.save(nib.Nifti1Image(np.transpose(labels, (2, 1, 0)).astype(np.float32), affine), str(path))
    back, message = read_label_map(path, image.geometry)
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, labels)


def test_nibabel_written_oblique_mask_lands_on_the_same_voxels(cases, tmp_path):
    """A mask written by nibabel (another writer) is read onto the DICOM grid unchanged."""
    image, labels = cases["oblique"]
    path = tmp_path / "nibabel_mask.nii.gz"
    nib.save(nib.Nifti1Image(np.transpose(labels, (2, 1, 0)), image.geometry.ras_affine), str(path))
    back, message = read_label_map(path, image.geometry)
    np.testing.assert_array_equal(back.array, labels)


def test_compressed_outputs_are_compressed(cases, tmp_path):
    image, labels = cases["uint16"]
    path = tmp_path / "labels.nii.gz"
    write_label_map(path, LabelMap(labels, image.geometry), image.geometry)
    with gzip.open(path) as handle:
        assert len(handle.read()) > path.stat().st_size
