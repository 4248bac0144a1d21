"""SimpleITK images as NumPy arrays on a :class:`Geometry`, what a header declares, and ITK's
errors in one line: the ground the image readers (files in :mod:`segviewer.io.images`, DICOM
series in :mod:`segviewer.io.dicom`) and the label and scribble readers stand on.

Memory: :func:`array_from_sitk` returns SimpleITK's own pixel buffer (no copy). A NumPy view
of that buffer does not keep the SimpleITK image alive by itself, so the array's ``base`` is
a small holder object that owns the image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.errors import ImageReadError
from segviewer.io.paths import image_suffix
from segviewer.io.rawdata import read_nifti_head
from segviewer.model.geometry import Geometry

#: SimpleITK scalar pixel types and their NumPy dtypes.
PIXEL_DTYPES = {
    sitk.sitkUInt8: np.uint8, sitk.sitkInt8: np.int8, sitk.sitkUInt16: np.uint16,
    sitk.sitkInt16: np.int16, sitk.sitkUInt32: np.uint32, sitk.sitkInt32: np.int32,
    sitk.sitkUInt64: np.uint64, sitk.sitkInt64: np.int64, sitk.sitkFloat32: np.float32,
    sitk.sitkFloat64: np.float64,
}


def geometry_of(image: sitk.Image) -> Geometry:
    """The :class:`Geometry` of a 3D SimpleITK image."""
    return Geometry(image.GetSize(), image.GetSpacing(), image.GetOrigin(),
                    np.array(image.GetDirection()).reshape(3, 3))


def apply_geometry(image: sitk.Image, geometry: Geometry) -> sitk.Image:
    """Stamp ``geometry`` (spacing, origin, direction) onto ``image`` in place."""
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(float(v) for v in geometry.direction.reshape(-1)))
    return image


def image_to_sitk(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    """A SimpleITK image of ``array`` (array order k, j, i) with ``geometry`` (copies the array)."""
    if tuple(array.shape) != geometry.shape:
        raise ValueError(f"array shape {array.shape} does not match grid {geometry.shape}")
    return apply_geometry(sitk.GetImageFromArray(array, isVector=False), geometry)


class _PixelBuffer:
    """Owns a SimpleITK image while a NumPy array uses its pixel buffer.

    ``np.asarray(holder)`` builds an array whose ``base`` is the holder, so the image lives
    exactly as long as any array (or view of it) that uses its memory.
    """

    def __init__(self, image: sitk.Image) -> None:
        view = sitk.GetArrayViewFromImage(image)  # calls image.MakeUnique(): the buffer is ours
        interface = dict(view.__array_interface__)
        interface["data"] = (interface["data"][0], False)  # writeable, like any loaded array
        self.__array_interface__ = interface
        self._image = image


def array_from_sitk(image: sitk.Image) -> np.ndarray:
    """The pixels of ``image`` as an ``array[k, j, i]`` sharing its memory (no copy)."""
    return np.asarray(_PixelBuffer(image))


def pixel_dtype(pixel_id: int, path: str | Path = "image") -> np.dtype:
    """NumPy dtype of a scalar SimpleITK pixel type."""
    try:
        return np.dtype(PIXEL_DTYPES[pixel_id])
    except KeyError:
        raise ImageReadError(f"{path}: voxel type '{sitk.GetPixelIDValueAsString(pixel_id)}' "
                             "is not supported (segviewer opens scalar integer or float volumes)") from None


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header declares, read without loading the voxels."""

    path: Path
    image_io: str
    dimension: int
    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    pixel_id: int
    components: int
    metadata: dict = field(default_factory=dict)

    @property
    def pixel_type(self) -> str:
        return sitk.GetPixelIDValueAsString(self.pixel_id)

    @property
    def bytes_per_voxel(self) -> int:
        dtype = PIXEL_DTYPES.get(self.pixel_id)
        if dtype is not None:
            return np.dtype(dtype).itemsize * self.components
        return 8 * self.components  # vector/complex types: an upper bound is enough here

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.size, dtype=np.int64)) * self.bytes_per_voxel

    @property
    def geometry(self) -> Geometry:
        """The 3D grid (a 2D image becomes one slice; a 4D image with one volume is 3D)."""
        if not self.spacing:
            raise ValueError("a quick header (declare_header) has no geometry; use read_header")
        if self.dimension == 2:
            direction = np.eye(3)
            direction[:2, :2] = np.reshape(self.direction, (2, 2))
            return Geometry((*self.size, 1), (*self.spacing, 1.0), (*self.origin, 0.0), direction)
        if self.dimension == 3 or (self.dimension == 4 and self.size[3] == 1):
            direction = np.reshape(self.direction, (self.dimension, self.dimension))[:3, :3]
            return Geometry(self.size[:3], self.spacing[:3], self.origin[:3], direction)
        raise ImageReadError(dimension_message(self.path, self.dimension, self.size))


def dimension_message(path: Path, dimension: int, size) -> str:
    """Why an image that is not 3D is refused (4D: extract one volume first)."""
    shape = "x".join(str(s) for s in size)
    if dimension >= 4:
        return (f"{path}: is a {dimension}D image ({shape}); segviewer opens 3D volumes - "
                "extract one volume first")
    return f"{path}: is a {dimension}D image ({shape}); segviewer opens 3D volumes"


def describe_itk_error(path: Path, error: Exception) -> str:
    """One line saying why ITK could not read ``path``."""
    text = str(error)
    if "Unable to determine ImageIO reader" in text and image_suffix(path) in (".nii", ".nii.gz"):
        head = read_nifti_head(Path(path)) or b""
        if len(head) >= 4 and 540 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]):
            return (f"{path}: a NIfTI-2 file, which this SimpleITK cannot read; save it as "
                    "NIfTI-1 (e.g. nibabel.Nifti1Image) or NRRD")
    if "Unable to determine ImageIO reader" in text:
        return (f"{path}: not an image format segviewer can read "
                "(NIfTI, NRRD, MHA/MHD, GIPL, or a DICOM file/folder)")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = ""
    for line in reversed(lines):
        if line.startswith(("Exception thrown", "/")) or "Reason:" in line:
            continue  # source locations, and errno texts that do not apply ("No such file")
        if "ERROR" in line and "): " in line:
            line = line.split("): ", 1)[1]  # drop "ITK ERROR: NrrdImageIO(0x...)"
        detail = line.removeprefix("[nrrd]").strip()
        break
    detail = detail or type(error).__name__
    return f"{path}: could not be read; the file may be truncated or damaged ({detail})"
