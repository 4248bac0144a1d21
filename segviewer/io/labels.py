"""Label maps in and out, on exactly the image's grid.

Reading (:func:`read_label_map`):

- same physical grid as the image -> used as it is (the image's geometry is adopted);
- another grid over the same space -> resampled by physical position, nearest neighbour,
  and the returned message says so (a mirrored or cropped mask lands on the same anatomy);
- no overlap, values that are not whole numbers, negative or above 65535, 4D or multi-layer
  files -> :class:`GeometryMismatchError` / :class:`LabelValueError` naming the problem;
- integer labels stored as floats are cast: ``uint8``, or ``uint16`` when a value is > 255;
- the label table comes from a file given explicitly, else the mask's JSON sidecar
  (``case.labels.json``) or ITK-SNAP ``case.label``, else a ``.seg.nrrd`` header.

Writing (:func:`write_label_map`): NIfTI / NRRD / MHA with exactly the reference geometry,
atomically, never over a source image, plus the JSON sidecar of the label table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError, ImageReadError, LabelValueError
from segviewer.io.atomic import OutputGuard, as_guard
from segviewer.io.dicom_labels import read_dicom_labels
from segviewer.io.images import declare_header, read_sitk_image, refuse_no_overlap, write_sitk_image
from segviewer.io.label_table import (find_label_table, label_table_sidecar, read_label_table,
                                      write_label_table)
from segviewer.io.memory import ensure_fits_in_memory
from segviewer.io.paths import LABEL_WRITE_SUFFIXES, image_suffix
from segviewer.io.sitk_images import ImageHeader, array_from_sitk, geometry_of, image_to_sitk
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelInfo, LabelMap, LabelTable

MAX_LABEL = 65535


class LabelMapRead(NamedTuple):
    """What :func:`read_label_map` returns: the label map and a message for the user
    (empty, or e.g. "resampled onto the image grid ...")."""

    label_map: LabelMap
    message: str


# -- reading ---------------------------------------------------------------------------------
def read_label_map(path: str | Path, reference_geometry: Geometry | ImageVolume | None = None, *,
                   table_path: str | Path | None = None, what: str = "label map") -> LabelMapRead:
    """Read a label map onto ``reference_geometry`` (the image's grid; its own grid if None).

    Returns
    -------
    LabelMapRead
        ``(label_map, message)``; ``label_map.geometry`` is the reference geometry.
    """
    path = Path(path)
    reference = reference_grid(reference_geometry)
    dicom = read_dicom_labels(path, reference_geometry)  # a DICOM-SEG or RT structure set
    if dicom is not None:
        if table_path is not None:
            dicom[0].table = read_label_table(table_path)
        return LabelMapRead(*dicom)
    image, header = read_label_image(path, what)
    message_parts = []
    table = _table_for(path, header, table_path)
    own = geometry_of(image)
    if reference is None or own.same_grid(reference):
        label_map = LabelMap(array_from_sitk(image), reference or own, table)
    else:
        source_values = _present(array_from_sitk(image))
        image, note = resample_onto(image, own, reference, path, what, fill_value=0)
        message_parts.append(note)
        label_map = LabelMap(array_from_sitk(image), reference, table)
        lost = sorted(set(source_values) - set(label_map.present_values()))
        if lost and len(lost) == len(source_values):
            message_parts.append("none of its labelled voxels fall inside the image")
        elif lost:
            message_parts.append("label " + ", ".join(map(str, lost)) + " fell outside the image grid")
    label_map.table.ensure(label_map.present_values())
    return LabelMapRead(label_map, "; ".join(message_parts))


def read_label_image(path: Path, what: str = "label map") -> tuple[sitk.Image, ImageHeader]:
    """Read ``path`` as a validated uint8/uint16 SimpleITK image on its own grid."""
    header = declare_header(path)
    if header.components != 1:
        if image_suffix(path) == ".seg.nrrd":
            raise LabelValueError(
                f"{path}: a multi-layer Slicer segmentation ({header.components} layers of "
                "overlapping segments); export it as a label map (one layer) to open it here")
        raise LabelValueError(f"{path}: has {header.components} values per voxel; "
                              f"a {what} holds one label value per voxel")
    if header.dimension >= 4 and header.size[3] != 1:
        shape = "x".join(str(s) for s in header.size)
        raise LabelValueError(f"{path}: is a {header.dimension}D image ({shape}); "
                              f"a {what} is 3D")
    try:
        image = read_sitk_image(path, what, header=header)
    except ImageReadError as error:
        if "voxel type" in str(error):
            raise LabelValueError(str(error)) from None
        raise
    top = check_label_values(array_from_sitk(image), path, what)
    target = sitk.sitkUInt8 if top <= 255 else sitk.sitkUInt16
    if image.GetPixelID() != target:
        image = sitk.Cast(image, target)
    return image, header


def check_label_values(array: np.ndarray, path: str | Path = "label map",
                       what: str = "label map", limit: int = MAX_LABEL) -> int:
    """Check that every voxel is a whole number in ``0..limit``; return the largest.

    Floats are checked one slice at a time, so no full-size temporary is made.
    """
    if array.size == 0:
        return 0
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
    elif np.issubdtype(array.dtype, np.floating):
        low, high = np.inf, -np.inf
        for k in range(array.shape[0]):
            plane = array[k]
            finite = np.isfinite(plane)
            if not finite.all():
                j, i = np.argwhere(~finite)[0]
                raise LabelValueError(f"{path}: holds NaN or infinite values (e.g. at voxel "
                                      f"({i}, {j}, {k})); a {what} holds whole numbers 0..{limit}")
            fractional = plane != np.floor(plane)
            if fractional.any():
                count = _count_fractional(array)
                j, i = np.argwhere(fractional)[0]
                raise LabelValueError(
                    f"{path}: holds values that are not whole numbers (e.g. {plane[j, i]:g} at voxel "
                    f"({i}, {j}, {k}); {count} voxels); a {what} holds whole numbers 0..{limit}"
                    " - a probability map must be thresholded first")
            low, high = min(low, float(plane.min())), max(high, float(plane.max()))
        low, high = int(low), int(high)
    else:
        raise LabelValueError(f"{path}: holds {array.dtype} values; a {what} holds whole numbers")
    if low < 0:
        raise LabelValueError(f"{path}: holds negative values (down to {low}); "
                              f"a {what} holds whole numbers 0..{limit}")
    if high > limit:
        raise LabelValueError(f"{path}: holds values up to {high}; a {what} holds whole "
                              f"numbers 0..{limit}")
    return high


def _count_fractional(array: np.ndarray) -> int:
    return int(sum(np.count_nonzero(array[k] != np.floor(array[k])) for k in range(array.shape[0])))


def reference_grid(reference: Geometry | ImageVolume | None) -> Geometry | None:
    """The grid a layer is read onto or written on: a geometry, an image's, or None (the
    layer's own)."""
    if reference is None or isinstance(reference, Geometry):
        return reference
    if isinstance(reference, ImageVolume):
        return reference.geometry
    raise TypeError(f"expected a Geometry or an ImageVolume, got {type(reference).__name__}")


def resample_onto(image: sitk.Image, own: Geometry, reference: Geometry, path: Path, what: str,
                  fill_value: int = 0) -> tuple[sitk.Image, str]:
    """Nearest-neighbour resampling of ``image`` onto ``reference`` by physical position.

    Raises :class:`GeometryMismatchError` when the two grids do not overlap at all.
    Voxels of the reference grid outside ``image`` get ``fill_value``.
    """
    refuse_no_overlap(own, reference, path, what)
    ensure_fits_in_memory(reference.voxel_count * image.GetSizeOfPixelComponent(), path,
                          f"{what} on the image grid")
    resampled = sitk.Resample(image, reference.size, sitk.Transform(), sitk.sitkNearestNeighbor,
                              reference.origin, reference.spacing,
                              tuple(float(v) for v in reference.direction.reshape(-1)),
                              float(fill_value), image.GetPixelID())
    note = (f"resampled onto the image grid by physical position (nearest neighbour); its grid "
            f"differs: {describe_grid_difference(own, reference)}")
    return resampled, note


def _present(array: np.ndarray) -> list[int]:
    counts = np.bincount(array.reshape(-1))
    return [int(v) for v in np.flatnonzero(counts) if v != 0]


def describe_grid_difference(grid: Geometry, reference: Geometry) -> str:
    """Short text naming how ``grid`` differs from ``reference`` (size, spacing, origin, axes)."""
    parts = []
    if grid.size != reference.size:
        parts.append("size " + "x".join(map(str, grid.size)) + " vs " + "x".join(map(str, reference.size)))
    if not np.allclose(grid.spacing, reference.spacing, atol=1e-3, rtol=0):
        parts.append("spacing " + _triple(grid.spacing) + " vs " + _triple(reference.spacing) + " mm")
    if not np.allclose(grid.direction, reference.direction, atol=1e-4, rtol=0):
        letters, ref_letters = "".join(grid.orientation_letters()), "".join(reference.orientation_letters())
        flipped = [axis for axis, (a, b) in enumerate(zip(grid.direction.T, reference.direction.T))
                   if np.allclose(a, -b, atol=1e-4)]
        if flipped:
            parts.append("axes flipped: " + ", ".join("ijk"[a] for a in flipped)
                         + f" ({letters} vs {ref_letters})")
        else:
            parts.append(f"direction {letters} vs {ref_letters}")
    if not np.allclose(grid.origin, reference.origin, atol=1e-3, rtol=0):
        parts.append("origin " + _triple(grid.origin) + " vs " + _triple(reference.origin) + " mm")
    return "; ".join(parts) or "below the grid tolerance"


def _triple(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


# -- label tables that come with a mask -----------------------------------------------------------
def _table_for(path: Path, header: ImageHeader, table_path) -> LabelTable:
    if table_path is not None:
        return read_label_table(table_path)
    found = find_label_table(path)
    if found is not None:
        return read_label_table(found)
    if image_suffix(path) == ".seg.nrrd":
        return slicer_segment_table(header.metadata)
    return LabelTable()


_SEGMENT_KEY = re.compile(r"^Segment(\d+)_(\w+)$")


def slicer_segment_table(metadata: dict[str, str]) -> LabelTable:
    """Segment names and colours from a Slicer ``.seg.nrrd`` header (single layer)."""
    segments: dict[int, dict[str, str]] = {}
    for key, value in metadata.items():
        match = _SEGMENT_KEY.match(key)
        if match:
            segments.setdefault(int(match.group(1)), {})[match.group(2)] = value
    entries = {}
    for number, fields in sorted(segments.items()):
        try:
            value = int(fields.get("LabelValue", number + 1))
            colour = tuple(int(round(float(c) * 255)) for c in fields.get("Color", "").split()[:3])
        except ValueError:
            continue
        if not 0 < value < MAX_LABEL:
            continue
        if len(colour) != 3 or any(not 0 <= c <= 255 for c in colour):
            colour = None
        name = fields.get("Name") or f"Segment {number + 1}"
        entries[value] = LabelInfo(value, name, colour or LabelTable().colour_of(value))
    return LabelTable(list(entries.values()))


def slicer_segment_metadata(table: LabelTable, present: list[int]) -> dict[str, str]:
    """Header fields that let 3D Slicer read a label map as a segmentation (``.seg.nrrd``)."""
    values = sorted(set(present) | set(table.values))
    metadata = {"Segmentation_MasterRepresentation": "Binary labelmap",
                "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
                "Segmentation_ReferenceImageExtentOffset": "0 0 0"}
    for number, value in enumerate(values):
        red, green, blue = table.colour_of(value)
        prefix = f"Segment{number}_"
        metadata.update({
            prefix + "ID": f"Segment_{value}",
            prefix + "Name": table.name_of(value),
            prefix + "NameAutoGenerated": "0",
            prefix + "Color": f"{red / 255:.6g} {green / 255:.6g} {blue / 255:.6g}",
            prefix + "ColorAutoGenerated": "0",
            prefix + "LabelValue": str(value),
            prefix + "Layer": "0",
            prefix + "Tags": "|",
        })
    return metadata


# -- writing -------------------------------------------------------------------------------------
def write_layer_on_reference_grid(path: Path, array: np.ndarray, layer_geometry: Geometry,
                                  reference_geometry: Geometry | ImageVolume | None, what: str,
                                  protected_paths: OutputGuard | Iterable = (),
                                  metadata: dict[str, str] | None = None,
                                  sidecar: tuple[Path, str] | None = None) -> OutputGuard:
    """Write a label-like layer (labels, scribbles) with exactly the reference geometry.

    Refuses a layer that is not on the reference grid (nothing is written) and never
    overwrites the reference image's own file or any of ``protected_paths`` (a guard or
    paths). ``sidecar`` (path, what) is the JSON the caller writes next: it is checked
    first, so a refused sidecar leaves no layer without it. Returns the guard used.
    """
    protected = as_guard(protected_paths)
    if isinstance(reference_geometry, ImageVolume):
        protected = protected.merged().protect_image(reference_geometry)
    reference = reference_grid(reference_geometry) or layer_geometry
    if not layer_geometry.same_grid(reference):
        raise GeometryMismatchError(
            f"{path}: the {what} are not on the image grid "
            f"({describe_grid_difference(layer_geometry, reference)}); nothing was written")
    protected.check(path, what)  # before the grid work below allocates anything
    if sidecar is not None:
        protected.check(*sidecar)
    write_sitk_image(path, image_to_sitk(array, reference), what, protected, LABEL_WRITE_SUFFIXES, metadata)
    return protected


def write_label_map(path: str | Path, label_map: LabelMap,
                    reference_geometry: Geometry | ImageVolume | None = None, *,
                    protected_paths: OutputGuard | Iterable = (), write_table: bool = True) -> Path:
    """Save ``label_map`` with exactly the reference image's geometry.

    Parameters
    ----------
    path
        ``.nii.gz``, ``.nii``, ``.nrrd``, ``.seg.nrrd`` (with Slicer segment fields),
        ``.nhdr``, ``.mha`` or ``.mhd``.
    reference_geometry
        The image's grid (or the image itself, whose file is then protected too).
        The label map must be on that grid; its geometry is what gets written.
        Defaults to the label map's own geometry (always the image grid in a session).
    protected_paths
        An :class:`~segviewer.io.atomic.OutputGuard` (or paths): files never to overwrite,
        besides the files of the reference image. The sidecar is checked against it too.
    write_table
        Also write the label table as ``<name>.labels.json`` beside the file.

    Raises
    ------
    WritePathError
        Unsupported suffix, or the target is a source image or a folder.
    GeometryMismatchError
        The label map is not on the reference grid.
    """
    path = Path(path)
    metadata = None
    if image_suffix(path) == ".seg.nrrd":
        metadata = slicer_segment_metadata(label_map.table, label_map.present_values())
    table = (label_table_sidecar(path), "the label table") if write_table else None
    guard = write_layer_on_reference_grid(path, label_map.array, label_map.geometry, reference_geometry,
                                          "labels", protected_paths, metadata, sidecar=table)
    if table is not None:
        write_label_table(table[0], label_map.table, guard=guard)
    return path
