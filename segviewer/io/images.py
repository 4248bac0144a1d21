"""Reading and writing images (NIfTI, NRRD, MHA/MHD, GIPL, DICOM series) as :class:`ImageVolume`.

Memory: the volume's array *is* SimpleITK's pixel buffer (no copy, see
:func:`segviewer.io.sitk_images.array_from_sitk`). Loading therefore costs what
``SimpleITK.ReadImage`` costs, in time and in memory. DICOM folders and files are read by
:mod:`segviewer.io.dicom`; both stand on :mod:`segviewer.io.sitk_images`.

Before anything is allocated, the header is read and the declared size is compared with
the memory available (:func:`segviewer.io.memory.ensure_fits_in_memory`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError, ImageReadError
from segviewer.io.dicom_classes import not_an_image_message
from segviewer.io.atomic import OutputGuard, as_guard, write_atomically
from segviewer.io.dicom import read_dicom_series, read_series_of_file
from segviewer.io.memory import ensure_fits_in_memory
from segviewer.io.paths import (DIRECTION_KEEPING_SUFFIXES, IMAGE_WRITE_SUFFIXES, WritePathError,
                                check_write_suffix, image_suffix, refuse_special_file)
from segviewer.io.rawdata import (check_data_present, check_nifti_complete, nifti1_fields, nifti_bad_pixdim_axes,
                                  read_nifti_floats, read_nifti_head)
from segviewer.io.sitk_images import (PIXEL_DTYPES, ImageHeader, array_from_sitk, describe_itk_error,
                                      dimension_message, geometry_of, image_to_sitk, pixel_dtype)
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume

#: Peak memory of ITK's readers as a multiple of the array (measured; NIfTI reads into a
#: buffer of its own and copies, MetaImage partly so). Used only to refuse early.
_READ_PEAK_FACTOR = {"NiftiImageIO": 2.0, "MetaImageIO": 1.5}

def _reader_for(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise ImageReadError(describe_itk_error(path, error)) from None
    return reader


def read_header(path: str | Path) -> ImageHeader:
    """Read only the header of an image file (size, voxel type, geometry)."""
    path = Path(path)
    _require_exists(path)
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder; use segviewer.io.dicom for DICOM series")
    reader = _reader_for(path)
    return _header_from_reader(path, reader)


def _header_from_reader(path: Path, reader: sitk.ImageFileReader) -> ImageHeader:
    keys = reader.GetMetaDataKeys()
    image_io = sitk.ImageFileReader.GetImageIOFromFileName(str(path)) or ""
    return ImageHeader(path, image_io, reader.GetDimension(), tuple(reader.GetSize()),
                       tuple(reader.GetSpacing()), tuple(reader.GetOrigin()),
                       tuple(reader.GetDirection()), reader.GetPixelID(),
                       reader.GetNumberOfComponents(),
                       {key: reader.GetMetaData(key) for key in keys})


def read_geometry(path: str | Path, series: str | int | None = None) -> Geometry:
    """The grid of an image file (header only) or of a DICOM series folder."""
    path = Path(path)
    _require_exists(path)
    if path.is_dir():
        return read_dicom_series(path, series).geometry
    return read_header(path).geometry


# -- reading -------------------------------------------------------------------------------
def read_image(path: str | Path, series: str | int | None = None) -> ImageVolume:
    """Read a 3D image file or a DICOM series folder into an :class:`ImageVolume`.

    Parameters
    ----------
    path
        A NIfTI, NRRD, MHA/MHD, GIPL (or other ITK-readable) file, a DICOM folder, or one
        DICOM file (its whole series is read).
    series
        For DICOM folders holding several series: a series UID (or a unique prefix of it)
        or its index in the list. By default the largest series is read; the list found is
        in ``volume.metadata["series"]`` and the choice in ``metadata["message"]``.

    Raises
    ------
    ImageReadError
        Missing, unreadable, truncated, 4D or non-scalar files.
    TooLargeError
        The voxels would not fit in the memory available (checked before reading them).
    """
    path = Path(path)
    _require_exists(path)
    if path.is_dir():
        volume = read_dicom_series(path, series)
    else:
        header = declare_header(path)
        if header.image_io == "GDCMImageIO":
            if message := not_an_image_message(path, header.metadata.get("0008|0016", "")):
                raise ImageReadError(message)  # a DICOM-SEG or RT structure set
            volume = read_series_of_file(path, header)
        else:
            image = read_sitk_image(path, "image", header=header)
            volume = ImageVolume(array_from_sitk(image), geometry_of(image), name=path.name,
                                 path=path, metadata={"format": _format_name(header.image_io)})
            if header.image_io == "NiftiImageIO":
                volume.add_note(_invented_spacing_note(path, volume.geometry))
    check_spacing(volume.geometry, path)
    non_finite = volume.count_non_finite()
    volume.metadata["non_finite_voxels"] = non_finite
    if non_finite:
        volume.add_note(f"{non_finite} voxels are NaN or infinite: treated as missing data "
                        "(methods never label them)")
    return volume


#: Voxel sizes segviewer accepts, in mm: 1 nm (electron microscopy) to 100 m. Beyond them
#: a header is damaged, and margins or distances counted in voxels overflow.
SPACING_RANGE_MM = (1e-6, 1e5)


def check_spacing(geometry: Geometry, path: str | Path) -> None:
    """Refuse voxel sizes that are not numbers or are absurd (see :data:`SPACING_RANGE_MM`)."""
    low, high = SPACING_RANGE_MM
    if not all(np.isfinite(s) and low <= s <= high for s in geometry.spacing):
        spacing = " x ".join(f"{s:g}" for s in geometry.spacing)
        raise ImageReadError(f"{path}: voxel size {spacing} mm is outside {low:g} .. {high:g} mm; "
                             "the header is damaged (fix its spacing, e.g. with SimpleITK)")


def _invented_spacing_note(path: Path, geometry: Geometry) -> str:
    """A warning when ITK took 1 mm for NIfTI voxel sizes the header gives as 0 (or worse)."""
    axes = nifti_bad_pixdim_axes(read_nifti_head(path) or b"")
    if not axes:
        return ""
    sizes = ", ".join(f"{geometry.spacing['ijk'.index(axis)]:g} mm along {axis}" for axis in axes)
    return (f"the header gives no voxel size along {', '.join(axes)} (pixdim 0); taken as {sizes}: "
            "distances and volumes are not real")


def declare_header(path: str | Path) -> ImageHeader:
    """The header facts the checks before reading need (size, voxel type, dimension).

    NIfTI-1 headers are parsed here directly: ITK's own NIfTI header pass costs 6-12 ms,
    a sixth of loading a small volume, and ``Execute`` repeats it anyway. Such a header
    carries no geometry (that comes from the image read). Other formats, and NIfTI files
    this parser does not handle, get ITK's full header (:func:`read_header`).
    """
    path = Path(path)
    _require_exists(path)  # before the quick NIfTI parse opens it
    quick = _nifti_quick_header(path)
    return quick if quick is not None else read_header(path)


def read_sitk_image(path: str | Path, what: str = "image", *, header: ImageHeader | None = None,
                    allow_vector: bool = False) -> sitk.Image:
    """Read a file as a 3D SimpleITK image after checking its header.

    Checks, in order and before the voxels are read: dimension (2D becomes one slice, 4D
    with a single volume becomes 3D, other 4D is refused), scalar voxels, the memory the
    voxels need, and (NIfTI) that the file holds all the bytes its header declares.
    """
    path = Path(path)
    if header is None:
        _require_exists(path)
        header = declare_header(path)
    if header.dimension not in (2, 3) and not (header.dimension == 4 and header.size[3] == 1):
        raise ImageReadError(dimension_message(path, header.dimension, header.size))
    if 0 in header.size[:3]:
        size = " x ".join(str(n) for n in header.size)
        raise ImageReadError(f"{path}: holds no voxels (its header declares a size of {size})")
    if header.components != 1 and not allow_vector:
        raise ImageReadError(f"{path}: has {header.components} values per voxel (a vector or "
                             f"colour image); segviewer opens scalar volumes")
    if not allow_vector:
        pixel_dtype(header.pixel_id, path)
    ensure_fits_in_memory(header.nbytes, path, what, _READ_PEAK_FACTOR.get(header.image_io, 1.0))
    check_nifti_complete(path)
    if header.pixel_id in PIXEL_DTYPES:  # NRRD, MetaImage, GIPL: as many bytes as declared?
        check_data_present(path, int(np.prod(header.size, dtype=np.int64)) * header.components,
                           header.bytes_per_voxel // header.components)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    if header.dimension == 4:
        reader.SetExtractSize((*header.size[:3], 0))
        reader.SetExtractIndex((0, 0, 0, 0))
    try:
        image = _float_nifti_image(path, reader) if header.image_io == "NiftiImageIO" else None
        if image is None:
            image = reader.Execute()
    except RuntimeError as error:
        raise ImageReadError(describe_itk_error(path, error)) from None
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)  # one slice: spacing 1 and origin 0 along k
    if image.GetDimension() != 3:
        raise ImageReadError(dimension_message(path, image.GetDimension(), image.GetSize()))
    if image.GetNumberOfComponentsPerPixel() != 1 and not allow_vector:
        raise ImageReadError(f"{path}: has {image.GetNumberOfComponentsPerPixel()} values per voxel; "
                             "segviewer opens scalar volumes")
    return image


def _float_nifti_image(path: Path, reader: sitk.ImageFileReader) -> sitk.Image | None:
    """A float NIfTI read with its NaN and ±inf voxels (nifti1_io would make them 0), on the
    geometry ITK reads from the header; None for other NIfTI files (ITK reads them)."""
    voxels = read_nifti_floats(path, read_nifti_head(path) or b"")
    if voxels is None:
        return None
    reader.ReadImageInformation()
    dimension = reader.GetDimension()
    image = sitk.GetImageFromArray(voxels[0] if dimension == 2 else voxels)
    del voxels  # the image holds its own copy
    axes = min(dimension, 3)  # a 4D file here has one volume
    image.SetSpacing(reader.GetSpacing()[:axes])
    image.SetOrigin(reader.GetOrigin()[:axes])
    image.SetDirection(tuple(float(v) for v in
                             np.reshape(reader.GetDirection(), (dimension, dimension))[:axes, :axes].reshape(-1)))
    return image


#: NIfTI-1 datatype codes of scalar voxels -> SimpleITK pixel ids.
_NIFTI_DATATYPES = {2: sitk.sitkUInt8, 4: sitk.sitkInt16, 8: sitk.sitkInt32, 16: sitk.sitkFloat32,
                    64: sitk.sitkFloat64, 256: sitk.sitkInt8, 512: sitk.sitkUInt16,
                    768: sitk.sitkUInt32, 1024: sitk.sitkInt64, 1280: sitk.sitkUInt64}


def _nifti_quick_header(path: Path) -> ImageHeader | None:
    """A NIfTI-1 header as ITK would report it, or None to let ITK read the header."""
    if image_suffix(path) not in (".nii", ".nii.gz"):
        return None
    fields = nifti1_fields(read_nifti_head(path) or b"")
    if fields is None:
        return None
    dims, datatype, slope, intercept = fields.dims, fields.datatype, fields.slope, fields.intercept
    ndim = dims[0]
    pixel_id = _NIFTI_DATATYPES.get(datatype)
    if pixel_id is None or not 2 <= ndim <= 4 or any(d <= 0 for d in dims[1:ndim + 1]):
        return None  # vectors, complex, 5D+ or odd files: ITK knows best
    size = tuple(int(d) for d in dims[1:ndim + 1])
    if ndim == 4 and size[3] == 1:
        size = size[:3]  # ITK drops a trailing single time point
    scaled = np.isfinite(slope) and slope != 0 and (slope != 1 or (np.isfinite(intercept) and intercept != 0))
    if scaled and pixel_id != sitk.sitkFloat64:
        pixel_id = sitk.sitkFloat32  # ITK applies scl_slope/scl_inter into float voxels
    return ImageHeader(path, "NiftiImageIO", len(size), size, (), (), (), pixel_id, 1, {})


def _format_name(image_io: str) -> str:
    return image_io.replace("ImageIO", "") or "unknown"


def _require_exists(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    refuse_special_file(path)


# -- writing -------------------------------------------------------------------------------
def write_sitk_image(path: str | Path, image: sitk.Image, what: str = "image",
                     protected_paths: OutputGuard | Iterable = (), allowed_suffixes=IMAGE_WRITE_SUFFIXES,
                     metadata: dict[str, str] | None = None) -> Path:
    """Write ``image`` through the one output writer (:func:`segviewer.io.atomic.write_atomically`:
    complete or absent, never over ``protected_paths`` - a guard or paths), refusing formats
    that would lose its geometry."""
    path = Path(path)
    suffix = check_write_suffix(path, allowed_suffixes, what)
    guard = as_guard(protected_paths)
    guard.check(path, what)
    if suffix not in DIRECTION_KEEPING_SUFFIXES:
        direction = np.reshape(image.GetDirection(), (3, 3))
        if not np.allclose(direction, np.eye(3), atol=1e-6):
            raise WritePathError(f"{path}: {suffix} files cannot store this image's orientation "
                                 "(direction cosines); save as .nii.gz, .nrrd or .mha")
    for key, value in (metadata or {}).items():
        image.SetMetaData(key, value)

    def write(temporary: Path) -> None:
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(temporary))
        writer.SetUseCompression(suffix not in (".nii",))
        writer.Execute(image)

    return write_atomically(path, write, guard=guard, what=what)


def write_image(path: str | Path, volume: ImageVolume, protected_paths: OutputGuard | Iterable = ()) -> Path:
    """Write an image volume with its geometry (atomic; never over the files it was read
    from, nor over ``protected_paths``)."""
    image = image_to_sitk(volume.array, volume.geometry)
    return write_sitk_image(path, image, "the image", as_guard(protected_paths).merged().protect_image(volume))


def refuse_no_overlap(own: Geometry, reference: Geometry, path: str | Path, what: str,
                      onto: str = "the image") -> None:
    """Raise :class:`GeometryMismatchError` when ``own`` and ``reference`` share no physical
    space: resampling would give a blank volume (labels, scribbles and images alike)."""
    if own.overlaps(reference):
        return
    low, high = own.physical_bounds()
    ref_low, ref_high = reference.physical_bounds()
    raise GeometryMismatchError(f"{path}: the {what} does not overlap {onto}: it spans {_span(low, high)} mm "
                                f"(LPS) and {onto} {_span(ref_low, ref_high)} mm")


def _span(low, high) -> str:
    return " x ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(low, high))


def resample_image(volume: ImageVolume, reference: Geometry, linear: bool = True) -> ImageVolume:
    """``volume`` on the ``reference`` grid by physical position (linear or nearest neighbour).

    Voxels outside ``volume`` get its lowest intensity (air for CT, not 0 HU).
    """
    refuse_no_overlap(volume.geometry, reference, volume.path or volume.name, "image", "the reference")
    ensure_fits_in_memory(reference.voxel_count * volume.array.dtype.itemsize,
                          volume.path or volume.name, "resampled image")
    low, _ = volume.intensity_range
    image = image_to_sitk(volume.array, volume.geometry)
    resampled = sitk.Resample(image, reference.size, sitk.Transform(),
                              sitk.sitkLinear if linear else sitk.sitkNearestNeighbor,
                              reference.origin, reference.spacing,
                              tuple(float(v) for v in reference.direction.reshape(-1)),
                              float(low), image.GetPixelID())
    return ImageVolume(array_from_sitk(resampled), reference, name=volume.name, path=None,
                       metadata=dict(volume.metadata))
