"""DICOM series: find the series in a folder, pick one, read it (GDCM through SimpleITK).

Slices are ordered by GDCM along the slice normal (image position patient), exactly as
``SimpleITK.ImageSeriesReader`` does, so the geometry equals SimpleITK's own series reader.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from segviewer.errors import ImageReadError
from segviewer.io.images import (ImageHeader, array_from_sitk, describe_itk_error, geometry_of,
                                 pixel_dtype, remember_source)
from segviewer.io.memory import ensure_fits_in_memory
from segviewer.model.image import ImageVolume

#: How deep below the given folder series are looked for.
MAX_DEPTH = 3

_TAGS = {"description": "0008|103e", "modality": "0008|0060", "series_number": "0020|0011",
         "patient_id": "0010|0020", "study_date": "0008|0020"}


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder."""

    uid: str
    folder: Path
    files: tuple[str, ...]
    description: str = ""
    modality: str = ""
    series_number: str = ""
    columns: int = 0
    rows: int = 0
    frames: int = 1
    pixel_id: int = -1

    @property
    def slices(self) -> int:
        return len(self.files) * max(1, self.frames)

    @property
    def voxel_count(self) -> int:
        return self.columns * self.rows * self.slices

    def summary(self) -> str:
        """One line for lists: size, modality, description and UID."""
        size = f"{self.columns}x{self.rows}x{self.slices}"
        text = " ".join(t for t in (self.modality, repr(self.description) if self.description else "") if t)
        uid = self.uid or "(no series UID)"
        return f"{size:>13s}  {len(self.files):4d} files  {text}  {uid}".rstrip()

    def to_dict(self) -> dict:
        return {"uid": self.uid, "folder": str(self.folder), "files": len(self.files),
                "size": [self.columns, self.rows, self.slices], "modality": self.modality,
                "description": self.description, "series_number": self.series_number,
                "pixel_type": sitk.GetPixelIDValueAsString(self.pixel_id) if self.pixel_id >= 0 else ""}


def list_series(folder: str | Path, recursive: bool = True) -> list[SeriesInfo]:
    """Every DICOM series in ``folder`` (and its subfolders up to :data:`MAX_DEPTH`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: no such folder")
    found: list[SeriesInfo] = []
    with _itk_warnings_off():  # GDCM warns "No Series were found" for every other folder
        for directory in _folders(folder, recursive):
            if not any(entry.is_file() for entry in os.scandir(directory)):
                continue
            try:
                uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory))
            except RuntimeError:
                continue
            for uid in uids:
                files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid))
                if files:
                    found.append(_describe(uid, directory, files))
    return found


@contextlib.contextmanager
def _itk_warnings_off():
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _folders(root: Path, recursive: bool):
    yield root
    if not recursive:
        return
    for directory, subdirectories, _ in os.walk(root):
        depth = len(Path(directory).relative_to(root).parts)
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        if depth >= MAX_DEPTH:
            subdirectories[:] = []
        if Path(directory) != root:
            yield Path(directory)


def _describe(uid: str, folder: Path, files: tuple[str, ...]) -> SeriesInfo:
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return SeriesInfo(uid, folder, files)
    tags = {name: reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else ""
            for name, tag in _TAGS.items()}
    size = reader.GetSize()
    frames = size[2] if len(size) > 2 else 1
    return SeriesInfo(uid, folder, files, tags["description"], tags["modality"],
                      tags["series_number"], int(size[0]), int(size[1]), int(frames),
                      int(reader.GetPixelID()))


def choose_series(series: list[SeriesInfo], selector: str | int | None = None,
                  folder: str | Path = "") -> tuple[SeriesInfo, str]:
    """Pick one series: by index, by UID (or a unique UID prefix), or the largest.

    Returns the series and a message saying which one was chosen and why (empty when the
    folder holds just one series).
    """
    if not series:
        raise ImageReadError(f"{folder}: no DICOM series found in this folder or its subfolders")
    listing = "; ".join(f"[{n}] {s.summary()}" for n, s in enumerate(series))
    if selector is None or selector == "":
        chosen = max(series, key=lambda s: (s.voxel_count, len(s.files)))
        if len(series) == 1:
            return chosen, ""
        index = series.index(chosen)
        return chosen, (f"{len(series)} series found; opened the largest, [{index}] "
                        f"{chosen.summary()} (choose another by index or UID). Found: {listing}")
    if isinstance(selector, int) or (isinstance(selector, str) and selector.strip().isdigit()
                                     and len(selector.strip()) < 6):
        index = int(selector)
        if not 0 <= index < len(series):
            raise ImageReadError(f"{folder}: series index {index} out of range; found {len(series)}: {listing}")
        return series[index], f"opened series [{index}] of {len(series)}" if len(series) > 1 else ""
    selector = str(selector).strip()
    exact = [s for s in series if s.uid == selector]
    matches = exact or [s for s in series if s.uid.startswith(selector)]
    if len(matches) != 1:
        problem = "no series has" if not matches else f"{len(matches)} series have"
        raise ImageReadError(f"{folder}: {problem} the UID '{selector}'; found: {listing}")
    return matches[0], ""


def read_dicom_series(folder: str | Path, series: str | int | None = None) -> ImageVolume:
    """Read one series of a DICOM folder (the largest unless ``series`` says which)."""
    folder = Path(folder)
    found = list_series(folder)
    chosen, message = choose_series(found, series, folder)
    volume = read_series(chosen)
    volume.metadata["series"] = [s.to_dict() for s in found]
    volume.metadata["series_index"] = found.index(chosen)
    if message:
        volume.metadata["message"] = message
    return volume


def read_series_of_file(path: str | Path, header: ImageHeader | None = None) -> ImageVolume:
    """Read the whole series one DICOM file belongs to (the file alone when it is alone)."""
    path = Path(path)
    uid = (header.metadata.get("0020|000e", "") if header else "").strip()
    try:
        files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path.parent), uid))
    except RuntimeError:
        files = ()
    if str(path) not in files and str(path.resolve()) not in {str(Path(f).resolve()) for f in files}:
        files = (str(path),)
    volume = read_series(_describe(uid, path.parent, files))
    volume.path = path
    if len(files) > 1:
        volume.metadata["message"] = f"read the whole series of {path.name} ({len(files)} files)"
    return volume


def read_series(series: SeriesInfo) -> ImageVolume:
    """Read the files of ``series`` into a volume (memory checked before reading)."""
    try:
        itemsize = pixel_dtype(series.pixel_id).itemsize
    except ImageReadError:
        itemsize = 8  # unknown yet: assume the widest scalar
    ensure_fits_in_memory(series.voxel_count * itemsize, series.folder, "DICOM series")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(series.files))
    reader.MetaDataDictionaryArrayUpdateOff()
    reader.LoadPrivateTagsOff()
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise ImageReadError(describe_itk_error(series.folder, error)) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{series.folder}: a colour DICOM series; segviewer opens scalar volumes")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    pixel_dtype(image.GetPixelID(), series.folder)
    metadata = {"format": "DICOM", "series_uid": series.uid, "modality": series.modality,
                "series_description": series.description, "files": list(series.files)}
    volume = ImageVolume(array_from_sitk(image), geometry_of(image),
                         name=series.description or series.folder.name, path=series.folder,
                         metadata=metadata)
    remember_source(series.folder, series.files)
    return volume
