"""Reading images (NIfTI, NRRD, MHA/MHD, GIPL, DICOM series) into :class:`ImageVolume`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.errors import ImageReadError
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume


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
    """A SimpleITK image of ``array`` (array order k, j, i) with ``geometry``."""
    return apply_geometry(sitk.GetImageFromArray(array, isVector=False), geometry)


def read_image(path: str | Path) -> ImageVolume:
    """Read a 3D image file or DICOM series folder."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ImageReadError(f"{path}: not a readable image ({_first_line(error)})") from None
    return _volume_from_sitk(image, path)


def _volume_from_sitk(image: sitk.Image, path: Path) -> ImageVolume:
    if image.GetDimension() != 3:
        raise ImageReadError(f"{path}: a {image.GetDimension()}D image; segviewer opens 3D volumes")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{path}: has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                             "segviewer opens scalar volumes")
    array = sitk.GetArrayFromImage(image)
    return ImageVolume(array, geometry_of(image), name=path.name, path=path)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
