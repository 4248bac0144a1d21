"""File access for the viewer: thin adapters over :mod:`segviewer.io` (no Qt).

The menus, drag and drop, the command line and the tests open and save through these few
functions, so every path gets the I/O layer's checks (resampling by physical position,
refusing non-label values, atomic writes) and its messages ("resampled onto the image
grid ...") reach the status bar. Every save takes the :class:`OutputGuard` of the session
(:func:`session_guard`): the image and the files of the layers other than the one saved.
"""

from __future__ import annotations

from pathlib import Path

from segviewer.io.atomic import OutputGuard, input_guard
from segviewer.io.demo import demo_image_path, demo_labels_path
from segviewer.io.dicom_labels import is_dicom_labels
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.points import read_points, write_points
from segviewer.io.scribbles import read_scribbles as _read_scribbles
from segviewer.io.scribbles import write_scribbles as _write_scribbles
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable
from segviewer.model.scribbles import Scribbles

__all__ = ["IMAGE_FILTER", "LABEL_FILTER", "POINTS_FILTER", "demo_paths", "guess_kind", "open_image",
           "read_labels", "read_points", "read_scribbles", "session_guard", "write_labels",
           "write_points", "write_scribbles"]

#: File-dialog filters.
IMAGE_FILTER = ("Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.gipl *.gipl.gz *.dcm);;"
                "All files (*)")
LABEL_FILTER = "Label maps (*.nii.gz *.nii *.nrrd *.seg.nrrd *.mha);;All files (*)"
POINTS_FILTER = "Point prompts (*.json);;All files (*)"


def demo_paths() -> tuple[Path, Path | None]:
    """The bundled demo image and its label map."""
    labels = Path(demo_labels_path())
    return Path(demo_image_path()), labels if labels.exists() else None


def open_image(path: str | Path) -> ImageVolume:
    """An image file or a DICOM series folder."""
    return read_image(path)


def read_labels(path: str | Path, geometry: Geometry) -> tuple[LabelMap, str]:
    """A label map on ``geometry``'s grid (resampled when needed) and a message for the user
    ("" or what was done)."""
    label_map, message = read_label_map(path, geometry)
    return label_map, message


def session_guard(session, saving: str = "") -> OutputGuard:
    """What a save from ``session`` must not overwrite: the image, and the files the layers
    other than ``saving`` ("labels", "scribbles", "points"; "" = none) came from."""
    if session is None:
        return OutputGuard()
    image = session.image
    layers = {"labels": session.labels_path, "scribbles": session.scribbles_path,
              "points": session.points_path}
    return input_guard(image=getattr(image, "path", None),
                       **{kind: path for kind, path in layers.items() if kind != saving}).protect_image(image)


def write_labels(path: str | Path, label_map: LabelMap, image: ImageVolume | None = None,
                 guard: OutputGuard | None = None) -> None:
    """Save with exactly the image's geometry; never over the image file or what ``guard``
    protects."""
    write_label_map(path, label_map, image, protected_paths=guard)


def read_scribbles(path: str | Path, geometry: Geometry) -> tuple[Scribbles, str]:
    scribbles, message = _read_scribbles(path, geometry)
    return scribbles, message


def write_scribbles(path: str | Path, scribbles: Scribbles, image: ImageVolume | None = None,
                    table: LabelTable | None = None, guard: OutputGuard | None = None) -> None:
    _write_scribbles(path, scribbles, image, label_table=table, protected_paths=guard)


def guess_kind(path: str | Path) -> str:
    """"image", "labels", "scribbles" or "points" for a dropped file, from its name (a
    DICOM-SEG or RT structure set, whatever its name, from its SOP class)."""
    name = Path(path).name.lower()
    if is_dicom_labels(path):
        return "labels"
    if name.endswith(".json"):
        return "points"
    if "scribble" in name:
        return "scribbles"
    if any(word in name for word in ("label", "seg", "mask")):
        return "labels"
    return "image"
