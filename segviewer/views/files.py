"""File access for the GUI, on top of :mod:`segviewer.io`.

The viewer reads and writes through these small functions so that the menus, drag and drop,
the command line and tests share one path. They use the I/O layer's readers and writers
(label maps with resampling and checks, scribble files with their sidecar, point JSON); where
a reader is not available in this build, a strict fallback accepts only a file on exactly the
image grid and says so otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segviewer.errors import GeometryMismatchError, LabelValueError, SegviewerError
from segviewer.io.images import image_to_sitk, read_image
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable, label_dtype_for
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: File-dialog filters.
IMAGE_FILTER = ("Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.gipl *.gipl.gz *.dcm);;"
                "All files (*)")
LABEL_FILTER = "Label maps (*.nii.gz *.nii *.nrrd *.seg.nrrd *.mha);;All files (*)"
POINTS_FILTER = "Point prompts (*.json);;All files (*)"


def demo_paths() -> tuple[Path, Path | None]:
    """The bundled demo image and its label map."""
    try:
        from segviewer.io.demo import demo_image_path, demo_labels_path  # type: ignore

        return Path(demo_image_path()), Path(demo_labels_path())
    except ImportError:
        folder = PROJECT_ROOT.parent / "shared" / "data" / "spleen_ct"
        labels = folder / "spleen_ct_label.nii.gz"
        return folder / "spleen_ct.nii.gz", labels if labels.exists() else None


def open_image(path: str | Path) -> ImageVolume:
    return read_image(path)


def _split(result) -> tuple[object, str]:
    """The I/O readers return ``(layer, message)``; older ones returned the layer alone."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        return result[0], result[1]
    return result, ""


def read_labels(path: str | Path, geometry: Geometry) -> tuple[LabelMap, str]:
    """A label map on ``geometry``'s grid (resampled by the I/O layer when needed) and a
    message for the user ("" or what was done, e.g. resampled)."""
    try:
        from segviewer.io.labels import read_label_map  # type: ignore
    except ImportError:
        read_label_map = None
    if read_label_map is not None:
        return _split(read_label_map(path, geometry))  # type: ignore[return-value]
    volume = read_image(path)
    if not volume.geometry.same_grid(geometry):
        raise GeometryMismatchError(f"{Path(path).name}: not on the image grid")
    array = volume.array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.mod(array, 1) == 0):
            raise LabelValueError(f"{Path(path).name}: holds fractional values; not a label map")
    if array.min(initial=0) < 0:
        raise LabelValueError(f"{Path(path).name}: holds negative values; not a label map")
    top = int(array.max(initial=0))
    label_map = LabelMap(array.astype(label_dtype_for(top)), geometry, LabelTable())
    label_map.table.ensure(label_map.present_values())
    return label_map, ""


def write_labels(path: str | Path, label_map: LabelMap, image: ImageVolume | None = None) -> None:
    """Save with exactly the image's geometry; never over the image file itself."""
    try:
        from segviewer.io.labels import write_label_map  # type: ignore
    except ImportError:
        write_label_map = None
    if write_label_map is not None:
        write_label_map(path, label_map, image)
        return
    import SimpleITK as sitk

    from segviewer.io.atomic import atomic_path

    with atomic_path(path) as temporary:
        sitk.WriteImage(image_to_sitk(label_map.array, label_map.geometry), str(temporary), True)


def read_scribbles(path: str | Path, geometry: Geometry) -> tuple[Scribbles, str]:
    try:
        from segviewer.io.scribbles import read_scribbles as reader  # type: ignore
    except ImportError:
        reader = None
    if reader is not None:
        return _split(reader(path, geometry))  # type: ignore[return-value]
    volume = read_image(path)
    if not volume.geometry.same_grid(geometry):
        raise GeometryMismatchError(f"{Path(path).name}: not on the image grid")
    array = volume.array
    dtype = np.uint8 if array.max(initial=0) <= 255 else np.uint16
    return Scribbles(array.astype(dtype), geometry), ""


def write_scribbles(path: str | Path, scribbles: Scribbles, image: ImageVolume | None = None,
                    table: LabelTable | None = None) -> None:
    try:
        from segviewer.io.scribbles import write_scribbles as writer  # type: ignore
    except ImportError:
        writer = None
    if writer is not None:
        writer(path, scribbles, image, label_table=table)
        return
    import SimpleITK as sitk

    from segviewer.io.atomic import atomic_path

    with atomic_path(path) as temporary:
        sitk.WriteImage(image_to_sitk(scribbles.array, scribbles.geometry), str(temporary), True)


def read_points(path: str | Path) -> PointSet:
    try:
        from segviewer.io.points import read_points as reader  # type: ignore
    except ImportError:
        reader = None
    if reader is not None:
        return reader(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        items = data["points"] if isinstance(data, dict) else data
        return PointSet([PointPrompt.from_dict(item) for item in items])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SegviewerError(f"{Path(path).name}: not a point file ({error})") from None


def write_points(path: str | Path, points: PointSet) -> None:
    try:
        from segviewer.io.points import write_points as writer  # type: ignore
    except ImportError:
        writer = None
    if writer is not None:
        writer(path, points)
        return
    from segviewer.io.atomic import write_text_atomically

    write_text_atomically(path, json.dumps({"points": points.to_list()}, indent=2))


def guess_kind(path: str | Path) -> str:
    """"image", "labels", "scribbles" or "points" for a dropped file, from its name."""
    name = Path(path).name.lower()
    if name.endswith(".json"):
        return "points"
    if "scribble" in name:
        return "scribbles"
    if any(word in name for word in ("label", "seg", "mask")):
        return "labels"
    return "image"
