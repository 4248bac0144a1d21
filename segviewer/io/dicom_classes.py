"""DICOM objects that hold labels, not images (SEG, RT Structure Set), by SOP class UID.

A dependency-free module so that the image readers (which must refuse these files as
images, and leave them out of a folder's series) and the label readers share one list.
"""

from __future__ import annotations

from pathlib import Path

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: SOP class UID -> what the object is called, for messages.
LABEL_OBJECTS = {SEG_SOP_CLASS: "DICOM-SEG", LABELMAP_SEG_SOP_CLASS: "DICOM-SEG (label map)",
                 RTSTRUCT_SOP_CLASS: "RT Structure Set"}

_DICOM_MAGIC_OFFSET = 128


def sop_class_of(path: str | Path) -> str:
    """The SOP class UID of a DICOM file ("" when ``path`` is not a readable DICOM file)."""
    if not Path(path).is_file():  # a pipe or device would block the read; the caller refuses it
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(_DICOM_MAGIC_OFFSET)
            if handle.read(4) != b"DICM":
                return ""
    except OSError:
        return ""
    # pydicom only for DICOM files: every label map opened passes through here
    import pydicom  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, TypeError):
        return ""
    meta = getattr(dataset, "file_meta", None)
    return str(dataset.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))


def not_an_image_message(path: str | Path, sop_class: str) -> str | None:
    """What to tell a user who opened a labels object as an image (None for other classes)."""
    kind = LABEL_OBJECTS.get(str(sop_class).strip())
    if kind is None:
        return None
    return (f"{path}: is a {kind} - labels, not an image; open the DICOM series it segments and "
            "load this file as labels (Open labels, --labels)")
