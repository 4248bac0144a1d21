"""Labels from a DICOM object: a DICOM-SEG or an RT Structure Set file opened as a label map.

:func:`segviewer.io.labels.read_label_map` asks :func:`read_dicom_labels` first, so the
app's "Open labels", ``--labels`` and ``convert`` read both through one loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from segviewer.io.dicom_classes import LABEL_OBJECTS, RTSTRUCT_SOP_CLASS, sop_class_of
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap

if TYPE_CHECKING:  # highdicom and pydicom load only when a DICOM object is read (start-up)
    from segviewer.io.dicom_seg import DicomLabels

def is_dicom_labels(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM-SEG or RT Structure Set file (a cheap check first)."""
    return sop_class_of(path) in LABEL_OBJECTS


def read_dicom_object(path: str | Path, reference: ImageVolume | Geometry | None = None) -> DicomLabels:
    """Read a DICOM-SEG or an RT Structure Set (onto ``reference`` when given)."""
    if sop_class_of(path) == RTSTRUCT_SOP_CLASS:
        from segviewer.io.rtstruct import read_rtstruct  # noqa: PLC0415 - RT users only

        return read_rtstruct(path, reference)
    from segviewer.io.dicom_seg import read_dicom_seg  # noqa: PLC0415 - see the imports

    return read_dicom_seg(path, reference)


def read_dicom_labels(path: str | Path, reference: ImageVolume | Geometry | None = None,
                      layer: int = 1) -> tuple[LabelMap, str] | None:
    """``(label map, message)`` of layer ``layer`` of a DICOM-SEG / RT Structure Set file,
    or None when ``path`` is neither."""
    if not is_dicom_labels(path):
        return None
    return read_dicom_object(path, reference).layer(layer, path)
