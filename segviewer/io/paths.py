"""File names: image suffixes, JSON sidecars beside a mask, write formats, resource folders.

Which paths a write must never touch is :class:`segviewer.io.atomic.OutputGuard`'s job."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from typing import Iterable

from segviewer.errors import SegviewerError

#: Suffixes segviewer reads as image files (longest first so ".nii.gz" wins over ".gz").
IMAGE_SUFFIXES = (".seg.nrrd", ".nii.gz", ".gipl.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd",
                  ".gipl", ".hdr", ".img", ".dcm")

#: Formats a label map, a scribble file or an image can be written to, by suffix.
LABEL_WRITE_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_WRITE_SUFFIXES = LABEL_WRITE_SUFFIXES + (".gipl", ".gipl.gz")

#: Formats that keep the image's direction cosines (GIPL stores only spacing and origin).
DIRECTION_KEEPING_SUFFIXES = LABEL_WRITE_SUFFIXES


class WritePathError(SegviewerError):
    """A save was refused: unsupported format, or it would overwrite a source file."""


def image_suffix(path: str | Path) -> str:
    """The image-format suffix of ``path`` in lower case (``".nii.gz"``), or its last suffix."""
    name = Path(path).name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


def strip_image_suffix(path: str | Path) -> Path:
    """``/a/case.nii.gz`` -> ``/a/case``."""
    path = Path(path)
    suffix = image_suffix(path)
    if suffix and path.name.lower().endswith(suffix):
        return path.with_name(path.name[: len(path.name) - len(suffix)])
    return path


def sidecar_path(path: str | Path, kind: str) -> Path:
    """The JSON sidecar of an image-like file: ``case.nii.gz`` -> ``case.<kind>.json``.

    ``kind`` is ``"labels"`` for a label map's table and ``"scribbles"`` for a scribble file.
    """
    stem = strip_image_suffix(path)
    return stem.with_name(f"{stem.name}.{kind}.json")


def check_write_suffix(path: str | Path, allowed: Iterable[str], what: str) -> str:
    """Refuse a target whose suffix is not one of ``allowed``; return the suffix."""
    allowed = tuple(allowed)
    suffix = image_suffix(path)
    if suffix not in allowed:
        raise WritePathError(
            f"{path}: cannot save {what} as '{suffix or 'no suffix'}'; use one of " + ", ".join(allowed))
    return suffix


class InputPathError(SegviewerError):
    """An input path that must not be opened (a pipe, socket or device)."""


def refuse_special_file(path: str | Path) -> None:
    """Refuse a FIFO, socket or device as an input before anything opens it: reading one
    blocks forever or never ends. Regular files and folders (DICOM series) pass; a missing
    path is left to the reader, whose message says what was looked for."""
    path = Path(path)
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise InputPathError(f"{path}: is not a regular file or folder (a pipe or device?); "
                             "segviewer reads files and DICOM folders")


def resource_folders(kind: str, override_variable: str | None = None) -> list[Path]:
    """Where bundled resources of ``kind`` ("demo", "models") may live, in search order:
    the folder named by ``override_variable``, ``<root>/resources/<kind>`` of a source
    checkout or editable install, then ``<prefix>/share/segviewer/<kind>`` of a wheel."""
    folders = []
    override = os.environ.get(override_variable) if override_variable else None
    if override:
        folders.append(Path(override))
    folders.append(Path(__file__).resolve().parents[2] / "resources" / kind)
    for prefix in (sysconfig.get_paths().get("data"), sys.prefix, getattr(sys, "base_prefix", None)):
        if prefix:
            folders.append(Path(prefix) / "share" / "segviewer" / kind)
    return list(dict.fromkeys(folders))
