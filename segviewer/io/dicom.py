"""DICOM series: find the series in a folder, pick one, read it (GDCM through SimpleITK).

Slices are ordered by GDCM along the slice normal (image position patient), exactly as
``SimpleITK.ImageSeriesReader`` does, so the geometry equals SimpleITK's own series reader.

ITK builds the volume from the slice positions it is given without checking them, so a
missing, duplicated or unreadable slice gives a volume with the wrong spacing and no
warning. :func:`check_slice_positions` checks them first, as 3D Slicer's DICOM loader does:

* copies of one slice (same SOP instance at the same position) are dropped, with a note;
* different images at one position (two echoes, phases or acquisitions in one series) and
  uneven steps between slices (a missing or unreadable file) are refused, naming the
  slices, their positions and files. Slicer only warns about uneven spacing; we refuse,
  because every distance and volume measured on such a volume would be wrong.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.errors import ImageReadError
from segviewer.io.dicom_classes import LABEL_OBJECTS, sop_class_of
from segviewer.io.memory import ensure_fits_in_memory
from segviewer.io.sitk_images import ImageHeader, array_from_sitk, describe_itk_error, geometry_of, pixel_dtype
from segviewer.model.image import ImageVolume

#: How deep below the given folder series are looked for.
MAX_DEPTH = 3

_TAGS = {"description": "0008|103e", "modality": "0008|0060", "series_number": "0020|0011",
         "patient_id": "0010|0020", "study_date": "0008|0020"}
_POSITION, _ORIENTATION, _SOP_INSTANCE = "0020|0032", "0020|0037", "0008|0018"

#: Slices closer than this along the normal are at the same position (mm).
SAME_POSITION_MM = 0.01
#: Steps between slices may differ by this much (mm, plus 0.1 % of the step) - Slicer's
#: DICOM loader uses 0.01 mm.
SPACING_TOLERANCE_MM = 0.01


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
                if files and sop_class_of(files[0]) not in LABEL_OBJECTS:  # not a SEG beside the images
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
    volume.add_note(message)
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
        volume.add_note(f"read the whole series of {path.name} ({len(files)} files)")
    return volume


def read_series(series: SeriesInfo) -> ImageVolume:
    """Read the files of ``series`` into a volume (memory checked before reading, slice
    positions checked after: see :func:`check_slice_positions`)."""
    try:
        itemsize = pixel_dtype(series.pixel_id).itemsize
    except ImageReadError:
        itemsize = 8  # unknown yet: assume the widest scalar
    ensure_fits_in_memory(series.voxel_count * itemsize, series.folder, "DICOM series")
    files = list(series.files)
    image, reader = _execute(series.folder, files)
    note = ""
    if len(files) > 1 and series.frames <= 1:
        kept, note = check_slice_positions(series.folder, files, _slice_tags(reader, len(files)))
        if kept != files:
            files = kept
            image, reader = _execute(series.folder, files)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{series.folder}: a colour DICOM series; segviewer opens scalar volumes")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    pixel_dtype(image.GetPixelID(), series.folder)
    # "files": the slices read; "source_files": every file of the series, a dropped duplicate
    # too (what no output may overwrite, see OutputGuard.protect_image)
    metadata = {"format": "DICOM", "series_uid": series.uid, "modality": series.modality,
                "series_description": series.description, "files": files, "source_files": list(series.files)}
    volume = ImageVolume(array_from_sitk(image), geometry_of(image),
                         name=series.description or series.folder.name, path=series.folder,
                         metadata=metadata)
    volume.add_note(note)
    return volume


def _execute(folder: Path, files: list[str]) -> tuple[sitk.Image, sitk.ImageSeriesReader]:
    """Read ``files`` as one volume; the reader keeps each slice's tags for the checks."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        with _itk_warnings_off():  # ITK's "non uniform sampling" warning: we say it better
            image = reader.Execute()
    except RuntimeError as error:
        raise ImageReadError(_slice_sizes_message(folder, files)
                             or describe_itk_error(folder, error)) from None
    return image, reader


def _slice_tags(reader: sitk.ImageSeriesReader, count: int) -> list[dict[str, str]]:
    """Position, orientation and SOP instance UID of each slice the reader read."""
    return [{tag: reader.GetMetaData(n, tag).strip() if reader.HasMetaDataKey(n, tag) else ""
             for tag in (_POSITION, _ORIENTATION, _SOP_INSTANCE)} for n in range(count)]


def _numbers(text: str, count: int) -> np.ndarray | None:
    try:
        values = np.array([float(v) for v in text.split("\\")])
    except ValueError:
        return None
    return values if values.size == count and np.all(np.isfinite(values)) else None


def check_slice_positions(folder: Path, files: list[str], tags: list[dict[str, str]]) -> tuple[list[str], str]:
    """Check that the slices of a series sit at distinct, evenly spaced positions along the
    slice normal (image position patient projected on the normal of image orientation).

    Returns the files to read, in position order (copies of one slice dropped), and a note
    for the user ("" when there is nothing to say). Raises :class:`ImageReadError` naming
    the slices for different images at one position and for uneven steps (a gap).
    Series without positions or orientation are left as they are.
    """
    orientation = _numbers(tags[0][_ORIENTATION], 6)
    positions = [_numbers(t[_POSITION], 3) for t in tags]
    if orientation is None or any(p is None for p in positions):
        return files, ""
    normal = np.cross(orientation[:3], orientation[3:])
    along = np.array([float(np.dot(p, normal)) for p in positions])
    order = sorted(range(len(files)), key=lambda n: (along[n], Path(files[n]).name))
    kept, dropped = [order[0]], []
    for n in order[1:]:
        if abs(along[n] - along[kept[-1]]) > SAME_POSITION_MM:
            kept.append(n)
        elif tags[n][_SOP_INSTANCE] and tags[n][_SOP_INSTANCE] == tags[kept[-1]][_SOP_INSTANCE]:
            dropped.append((n, kept[-1]))  # the same image twice (a copied file)
        else:
            raise ImageReadError(
                f"{folder}: two different images at the same position ({along[n]:.6g} mm along the "
                f"slice normal): {Path(files[kept[-1]]).name} and {Path(files[n]).name}; the series mixes "
                "acquisitions (echoes, phases or a repeated scan) - move one set to another folder")
    _check_even_steps(folder, [files[n] for n in kept], along[kept])
    note = ""
    if dropped:
        copies = ", ".join(f"{Path(files[n]).name} (a copy of {Path(files[first]).name})"
                           for n, first in dropped)
        note = f"ignored {len(dropped)} duplicate file(s) of the same slice: {copies}"
    if not dropped:
        return files, note
    return [files[n] for n in kept], note


def _check_even_steps(folder: Path, files: list[str], along: np.ndarray) -> None:
    """Refuse uneven steps between consecutive slice positions, naming the slices."""
    if len(along) < 3:
        return
    steps = np.diff(along)
    step = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - step) > SPACING_TOLERANCE_MM + 1e-3 * step)
    if not uneven.size:
        return
    gaps = "; ".join(f"{steps[n]:.4g} mm between slice {n + 1} ({Path(files[n]).name}, at {along[n]:.6g} mm) "
                     f"and slice {n + 2} ({Path(files[n + 1]).name}, at {along[n + 1]:.6g} mm)"
                     for n in uneven[:3])
    more = f" and {uneven.size - 3} more" if uneven.size > 3 else ""
    uneven_text = f"the slices are not evenly spaced (step {step:.4g} mm, but {gaps}{more})"
    unreadable = _unreadable_dicom_files(folder, files)
    if unreadable:
        raise ImageReadError(f"{folder}: {', '.join(unreadable)} could not be read (truncated or damaged?), "
                             f"so {uneven_text}; the series was not opened")
    raise ImageReadError(f"{folder}: {uneven_text} - a slice may be missing; its geometry would be wrong, "
                         "so the series was not opened")


def _unreadable_dicom_files(folder: Path, files: list[str]) -> list[str]:
    """Names of files beside the series that start like DICOM but that GDCM cannot read."""
    listed = {Path(f).name for f in files}
    found = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name in listed or not entry.is_file():
            continue
        try:
            with open(entry.path, "rb") as handle:
                if handle.read(132)[128:] != b"DICM":
                    continue
        except OSError:
            continue
        reader = sitk.ImageFileReader()
        reader.SetFileName(entry.path)
        try:
            with _itk_warnings_off():
                reader.ReadImageInformation()
        except RuntimeError:
            found.append(entry.name)
    return found


def _slice_sizes_message(folder: Path, files: list[str]) -> str:
    """A clear message when the series' slices are of different sizes ("" otherwise)."""
    sizes: dict[tuple, list[str]] = {}
    for file in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(file)
        try:
            with _itk_warnings_off():
                reader.ReadImageInformation()
        except RuntimeError:
            continue
        sizes.setdefault(tuple(reader.GetSize()[:2]), []).append(Path(file).name)
    if len(sizes) < 2:
        return ""
    groups = "; ".join(f"{len(names)} of {size[0]}x{size[1]} ({', '.join(names[:3])}{' ...' if len(names) > 3 else ''})"
                       for size, names in sorted(sizes.items(), key=lambda item: -len(item[1])))
    return (f"{folder}: the series has slices of {len(sizes)} different sizes: {groups}; a volume needs "
            "one slice size - move the odd slices to another folder")
