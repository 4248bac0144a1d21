"""Evaluation cases: image/label pairs found in a folder, selected by a split file.

Layouts understood by :func:`find_cases`:

* the Decathlon / nnU-Net layout: ``DIR/imagesTr/NAME.nii.gz`` with ``DIR/labelsTr/NAME.nii.gz``
  (an nnU-Net channel suffix ``NAME_0000`` is matched to ``NAME``);
* a folder of pairs ``NAME.nii.gz`` + ``NAME_label.nii.gz`` (or ``_labels``, ``_seg``,
  ``_mask``, ``_gt``), like ``spleen_ct/``;
* a single image file whose label file sits beside it under one of those suffixes.

Split files are JSON: ``{"train": [...], "validation": [...]}`` (any subset names, case ids
with or without a file suffix), an nnU-Net ``splits_final.json`` list (fold 0 is used), or a
Decathlon ``dataset.json`` ``{"training": [{"image": ..., "label": ...}]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.errors import SegviewerError
from segviewer.io.atomic import write_atomically, write_text_atomically
from segviewer.io.images import geometry_of, image_to_sitk, read_image
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume

LABEL_SUFFIXES = ("_label", "_labels", "_seg", "_mask", "_gt")
_IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
SUBSET_ALIASES = {"validation": ("validation", "val", "valid", "test"), "train": ("train", "training")}


class CaseError(SegviewerError):
    """Cases or a split file could not be found or understood."""


@dataclass(frozen=True)
class Case:
    name: str
    image: Path
    label: Path


def case_id(path: str | Path) -> str:
    """``/a/hippocampus_001.nii.gz`` -> ``hippocampus_001`` (also strips ``_0000``)."""
    name = Path(str(path)).name
    for ending in _IMAGE_ENDINGS:
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    if len(name) > 5 and name[-5] == "_" and name[-4:].isdigit():
        name = name[:-5]
    return name


def _is_image(path: Path) -> bool:
    return path.is_file() and any(path.name.lower().endswith(e) for e in _IMAGE_ENDINGS)


def _label_beside(image: Path) -> Path | None:
    stem = case_id(image)
    ending = image.name[len(image.name.split(".")[0]):]
    for suffix in LABEL_SUFFIXES:
        candidate = image.with_name(f"{stem}{suffix}{ending}")
        if candidate.is_file():
            return candidate
    return None


def find_cases(location: str | Path) -> list[Case]:
    """Every image/label pair under ``location`` (see the module doc), sorted by name."""
    location = Path(location)
    if not location.exists():
        raise CaseError(f"{location}: no such file or folder")
    if location.is_file():
        label = _label_beside(location)
        if label is None:
            raise CaseError(f"{location}: no label file beside it (looked for {', '.join(LABEL_SUFFIXES)})")
        return [Case(case_id(location), location, label)]
    images_dir, labels_dir = location / "imagesTr", location / "labelsTr"
    if images_dir.is_dir() and labels_dir.is_dir():
        labels = {case_id(p): p for p in labels_dir.iterdir() if _is_image(p) and not p.name.startswith(".")}
        cases = []
        for image in sorted(images_dir.iterdir()):
            if _is_image(image) and not image.name.startswith(".") and case_id(image) in labels:
                cases.append(Case(case_id(image), image, labels[case_id(image)]))
        if not cases:
            raise CaseError(f"{location}: imagesTr and labelsTr hold no matching pairs")
        return cases
    cases = []
    for image in sorted(location.iterdir()):
        if not _is_image(image) or any(case_id(image).endswith(s) for s in LABEL_SUFFIXES):
            continue
        label = _label_beside(image)
        if label is not None:
            cases.append(Case(case_id(image), image, label))
    if not cases:
        raise CaseError(f"{location}: no image/label pairs (imagesTr/labelsTr, or NAME + NAME_label)")
    return cases


def read_split(path: str | Path, subset: str = "validation") -> list[str]:
    """Case ids of ``subset`` in a split file (see the module doc)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CaseError(f"{path}: not a readable JSON split file ({error})") from None
    if isinstance(data, list):  # nnU-Net splits_final.json: folds of {"train", "val"}
        if not data or not isinstance(data[0], dict):
            raise CaseError(f"{path}: an empty or unknown split list")
        data = data[0]
    names = SUBSET_ALIASES.get(subset, (subset,))
    for key in (subset, *names):
        if key in data:
            entries = data[key]
            break
    else:
        raise CaseError(f"{path}: no subset {subset!r}; it has {', '.join(k for k in data if isinstance(data[k], list))}")
    ids = []
    for entry in entries:
        if isinstance(entry, dict):
            entry = entry.get("label") or entry.get("image")
        ids.append(case_id(entry))
    return ids


def select_cases(cases: list[Case], split: str | Path | None = None, subset: str = "validation",
                 limit: int | None = None) -> list[Case]:
    """The cases of a split's subset (in sorted order), then the first ``limit``."""
    if split is not None:
        wanted = set(read_split(split, subset))
        by_name = {c.name: c for c in cases}
        missing = sorted(wanted - set(by_name))
        if missing:
            raise CaseError(f"{len(missing)} cases of the split are not in the case folder, e.g. {missing[0]}")
        cases = [c for c in cases if c.name in wanted]
    cases = sorted(cases, key=lambda c: c.name)
    if limit is not None:
        cases = cases[: max(0, int(limit))]
    return cases


# -- reading and writing ------------------------------------------------------------------
def read_label_array(path: str | Path, reference: Geometry | None = None) -> tuple[np.ndarray, Geometry]:
    """A label map as ``uint8`` (``uint16`` when needed) with its geometry.

    Float-stored whole numbers are cast; fractional or negative values are refused. With
    ``reference``, a map on another grid over the same space is resampled onto it by
    physical position (nearest neighbour); a map that does not overlap it is refused.
    """
    try:  # the foundation's reader when it is there (same rules, better messages)
        from segviewer.io.labels import read_label_map  # type: ignore[import-not-found]
    except ImportError:
        read_label_map = None
    if read_label_map is not None:
        label_map = read_label_map(path, reference).label_map
        return label_map.array, label_map.geometry
    volume = read_image(path)
    array = volume.array
    geometry = volume.geometry
    if not np.issubdtype(array.dtype, np.integer) or array.dtype.itemsize > 2 or array.min() < 0:
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise CaseError(f"{path}: label values must be finite")
        if np.any(array != np.round(array)):
            raise CaseError(f"{path}: label values must be whole numbers")
        if array.size and array.min() < 0:
            raise CaseError(f"{path}: label values must not be negative")
    top = int(array.max()) if array.size else 0
    if top > 65535:
        raise CaseError(f"{path}: label value {top} is above 65535")
    array = array.astype(np.uint8 if top <= 255 else np.uint16, copy=False)
    if reference is not None and not geometry.same_grid(reference):
        if not geometry.overlaps(reference):
            raise CaseError(f"{path}: the label map does not overlap the reference grid")
        moving = image_to_sitk(array, geometry)
        target = sitk.Image(*reference.size, sitk.sitkUInt8)
        target.SetSpacing(reference.spacing)
        target.SetOrigin(reference.origin)
        target.SetDirection(tuple(float(v) for v in reference.direction.reshape(-1)))
        resampled = sitk.Resample(moving, target, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                  moving.GetPixelID())
        array, geometry = sitk.GetArrayFromImage(resampled), geometry_of(resampled)
    return array, geometry


def read_case(case: Case) -> tuple[ImageVolume, np.ndarray]:
    """The image and its reference label array on the image grid."""
    image = read_image(case.image)
    labels, _ = read_label_array(case.label, image.geometry)
    return image, labels


def write_scribble_file(path: str | Path, scribbles: np.ndarray, geometry: Geometry) -> Path:
    """Write scribbles in the project's scribble file format: the image grid, 0 = background,
    k = label k, the dtype maximum = not annotated, named in a ``NAME.scribbles.json`` sidecar.

    Uses the foundation's scribble writer when present, else writes the same convention.
    """
    path = Path(path)
    try:
        from segviewer.io.scribbles import write_scribbles  # type: ignore[import-not-found]
        from segviewer.model.scribbles import Scribbles
    except ImportError:
        write_scribbles = None
    if write_scribbles is not None:
        write_scribbles(path, Scribbles(scribbles, geometry))
        return path
    if tuple(scribbles.shape) != geometry.shape:
        raise CaseError(f"scribble array {scribbles.shape} does not match the grid {geometry.shape}")
    image = image_to_sitk(scribbles, geometry)
    write_atomically(path, lambda temporary: sitk.WriteImage(image, str(temporary), True))
    unannotated = int(np.iinfo(scribbles.dtype).max)
    sidecar = _sidecar(path, "scribbles")
    write_text_atomically(sidecar, json.dumps({"kind": "scribbles", "background": 0,
                                               "unannotated": unannotated}, indent=2) + "\n")
    return path


def _sidecar(path: Path, kind: str) -> Path:
    name = path.name
    for ending in _IMAGE_ENDINGS + (".seg.nrrd",):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return path.with_name(f"{name}.{kind}.json")


def write_points_file(path: str | Path, points) -> Path:
    """Write point prompts (physical LPS mm) as JSON; the foundation's writer when present."""
    path = Path(path)
    try:
        from segviewer.io.points import write_points  # type: ignore[import-not-found]
        from segviewer.model.points import PointSet
    except ImportError:
        write_points = None
    if write_points is not None:
        write_points(path, PointSet(list(points)))
        return path
    data = {"coordinate_system": "LPS", "units": "mm", "points": [p.to_dict() for p in points]}
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
    return path
