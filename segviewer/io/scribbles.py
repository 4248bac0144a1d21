"""Scribble files: the nnU-Net "ignore label" convention, with a JSON sidecar.

On disk a scribble file is a label image on the image grid: ``0`` = background scribble,
``k`` = a scribble of label ``k``, and one reserved value (the dtype's maximum, 255 or 65535)
= not annotated. The sidecar ``case.scribbles.json`` names that value and the classes, in
the shape of nnU-Net's ``dataset.json`` (``"labels": {"background": 0, ..., "ignore": 255}``)::

    {"format": "segviewer-scribbles", "version": 1, "ignore_value": 255,
     "labels": {"background": 0, "Spleen": 1, "ignore": 255}}

Reading accepts any ignore value the sidecar declares (nnU-Net puts it just above the
highest class) and maps it to the in-memory sentinel. Without a sidecar, the maximum of the
file's voxel type (255 for uint8, 65535 for uint16) is taken as "not annotated".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
import SimpleITK as sitk

from segviewer.errors import LabelValueError, SegviewerError
from segviewer.io.atomic import OutputGuard, write_text_atomically
from segviewer.io.images import declare_header, read_sitk_image
from segviewer.io.labels import check_label_values, reference_grid, resample_onto, write_layer_on_reference_grid
from segviewer.io.paths import sidecar_path
from segviewer.io.sitk_images import array_from_sitk, geometry_of
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelTable
from segviewer.model.scribbles import Scribbles

SIDECAR_FORMAT = "segviewer-scribbles"
SIDECAR_VERSION = 1


class ScribblesRead(NamedTuple):
    """What :func:`read_scribbles` returns: the scribbles and a message for the user."""

    scribbles: Scribbles
    message: str


def scribble_sidecar(path: str | Path) -> Path:
    """``case.nii.gz`` -> ``case.scribbles.json``."""
    return sidecar_path(path, "scribbles")


# -- writing ---------------------------------------------------------------------------------
def write_scribbles(path: str | Path, scribbles: Scribbles,
                    reference_geometry: Geometry | ImageVolume | None = None,
                    label_table: LabelTable | None = None, *,
                    protected_paths: OutputGuard | Iterable = ()) -> Path:
    """Save scribbles (values as in memory) with exactly the reference geometry, atomically,
    plus the sidecar naming the "not annotated" value and the classes; neither over a file
    ``protected_paths`` (a guard or paths) protects."""
    path = Path(path)
    sidecar = (scribble_sidecar(path), "the scribbles' sidecar")
    guard = write_layer_on_reference_grid(path, scribbles.array, scribbles.geometry, reference_geometry,
                                          "scribbles", protected_paths, sidecar=sidecar)
    write_text_atomically(sidecar[0], json.dumps(sidecar_content(scribbles, label_table), indent=2) + "\n",
                          guard=guard, what=sidecar[1])
    return path


def sidecar_content(scribbles: Scribbles, label_table: LabelTable | None = None) -> dict:
    """The sidecar's JSON: the ignore value and an nnU-Net-style ``labels`` mapping."""
    classes = set(scribbles.classes()) | set(label_table.values if label_table else [])
    labels: dict[str, int] = {"background": 0}
    for value in sorted(classes - {0}):
        name = label_table.name_of(value) if label_table else f"Label {value}"
        if name in labels or name == "ignore":
            name = f"{name} ({value})"
        labels[name] = int(value)
    labels["ignore"] = scribbles.unannotated
    return {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
            "ignore_value": scribbles.unannotated, "background_value": 0, "labels": labels}


# -- reading ---------------------------------------------------------------------------------
def read_scribbles(path: str | Path, reference_geometry: Geometry | ImageVolume | None = None, *,
                   sidecar: str | Path | None = None) -> ScribblesRead:
    """Read a scribble file onto ``reference_geometry`` (resampled by physical position,
    nearest neighbour, when it is on another grid over the same space).

    Returns
    -------
    ScribblesRead
        ``(scribbles, message)``.
    """
    path = Path(path)
    reference = reference_grid(reference_geometry)
    header = declare_header(path)
    if header.components != 1 or (header.dimension >= 4 and header.size[3] != 1):
        raise LabelValueError(f"{path}: a scribble file is a 3D image with one value per voxel")
    ignore, declared, known = _ignore_value(path, header.pixel_type, sidecar)
    image = read_sitk_image(path, "scribble file", header=header)
    top = check_label_values(array_from_sitk(image), path, "scribble file")
    if ignore is None:
        ignore = 255 if top <= 255 else 65535
    wide = sitk.sitkUInt16 if max(top, ignore) > 255 else sitk.sitkUInt8
    if image.GetPixelID() != wide:
        image = sitk.Cast(image, wide)
    message = ""
    own = geometry_of(image)
    geometry = reference or own
    if reference is not None and not own.same_grid(reference):
        image, message = resample_onto(image, own, reference, path, "scribble file", fill_value=ignore)
    array = array_from_sitk(image)
    counts = _class_counts(array, ignore)
    if known is not None:
        _refuse_undeclared_classes(counts, known, path)
    classes_top = max(counts, default=0)
    dtype = np.uint8 if classes_top < 255 else np.uint16
    if classes_top >= 65535:
        raise LabelValueError(f"{path}: class value 65535 collides with the 'not annotated' value")
    sentinel = np.iinfo(dtype).max
    if array.dtype != dtype or ignore != sentinel:
        unannotated = array == ignore
        array = array.astype(dtype)
        array[unannotated] = sentinel
    if not declared and message:
        message += f"; 'not annotated' taken as {ignore} (no sidecar)"
    return ScribblesRead(Scribbles(array, geometry), message)


def _class_counts(array: np.ndarray, ignore: int) -> dict[int, int]:
    """Voxels per scribbled class value (0 = background; the ignore value left out)."""
    counts = np.bincount(array.reshape(-1))
    return {int(v): int(counts[v]) for v in np.flatnonzero(counts) if v != ignore}


def _refuse_undeclared_classes(counts: dict[int, int], known: set[int], path: Path) -> None:
    """Refuse scribbles of values the sidecar's label table does not list: one stray voxel
    would otherwise grow into a whole new label, without a word."""
    unknown = sorted(set(counts) - known - {0})
    if unknown:
        found = ", ".join(f"{v} ({counts[v]} voxel{'s' if counts[v] != 1 else ''})" for v in unknown)
        listed = ", ".join(str(v) for v in sorted(known - {0})) or "none"
        raise LabelValueError(f"{path}: holds scribbles of label value(s) {found} that its sidecar "
                              f"{scribble_sidecar(path).name} does not list (labels: {listed}); remove those "
                              "strokes or add the labels to the sidecar")


def _listed_values(labels, ignore: int) -> set[int] | None:
    """Class values of a sidecar's ``labels`` mapping (nnU-Net regions list several), or None."""
    if not isinstance(labels, dict):
        return None
    values = set()
    for value in labels.values():
        values.update(int(v) for v in (value if isinstance(value, list) else [value]))
    return values - {ignore}


def _ignore_value(path: Path, pixel_type: str, sidecar) -> tuple[int | None, bool, set[int] | None]:
    """The "not annotated" value: from the sidecar, else the voxel type's maximum; whether
    the sidecar declared it; and the class values the sidecar lists (None: no list)."""
    sidecar_file = Path(sidecar) if sidecar is not None else scribble_sidecar(path)
    if sidecar_file.is_file():
        try:
            data = json.loads(sidecar_file.read_text(encoding="utf-8"))
            if int(data.get("version", 1)) > SIDECAR_VERSION:
                raise SegviewerError(f"{sidecar_file}: written by a newer segviewer "
                                     f"(version {data['version']})")
            if "ignore_value" in data:
                value = int(data["ignore_value"])
            else:  # an nnU-Net dataset.json
                value = int(data["labels"]["ignore"])
            known = _listed_values(data.get("labels"), value)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise SegviewerError(f"{sidecar_file}: not a scribble sidecar ({error})") from None
        if not 0 < value <= 65535:
            raise SegviewerError(f"{sidecar_file}: ignore value {value} is outside 1..65535")
        return value, True, known
    if pixel_type == "8-bit unsigned integer":
        return 255, False, None
    if pixel_type == "16-bit unsigned integer":
        return 65535, False, None
    return None, False, None
