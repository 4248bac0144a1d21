"""Where a campaign's cases come from: :func:`cases_from_source` turns a SOURCE into cases.

A SOURCE is one of

* a **folder of images** (``*.nii.gz``, ``.nrrd``, ``.mha`` ...); a file named like an image
  plus ``_label`` / ``_seg`` / ``_mask`` ... (``spleen.nii.gz`` + ``spleen_label.nii.gz``) is
  that image's starting mask, not a case;
* an **nnU-Net raw dataset** (a folder with ``imagesTr/``, channel files ``CASE_0000.nii.gz``,
  ``CASE_0001.nii.gz`` ... grouped into one case; ``labelsTr/CASE.nii.gz`` is its starting
  mask; ``imagesTs/`` cases are added without masks);
* a **MONAI / Decathlon datalist** ``.json`` (``{"training": [{"image": ..., "label": ...}],
  "validation": [...], "testing": [...]}``; an image may be a list of channels; paths relative
  to the JSON's folder);
* a **CSV** table with a header naming ``image`` and optionally ``mask`` (or ``label``,
  ``seg``) and ``comment``; paths relative to the CSV's folder;
* a **list of DICOM folders**: a ``.txt`` file with one folder per line (``#`` comments), or a
  folder whose subfolders hold DICOM series (one case per series folder).

Images are only referenced, never copied or changed.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from segviewer.app.campaign.records import CampaignError
from segviewer.io.paths import IMAGE_SUFFIXES, image_suffix, strip_image_suffix

#: Name endings that mark a mask beside its image (``case_label.nii.gz``).
MASK_SUFFIXES = ("_label", "_labels", "_seg", "_mask", "_gt")
_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: CSV column names understood, by role (compared without case).
CSV_COLUMNS = {"image": ("image", "img", "path", "volume", "file"),
               "mask": ("mask", "label", "labels", "seg", "segmentation", "start_mask"),
               "comment": ("comment", "comments", "note", "notes")}


@dataclass(frozen=True)
class SourceCase:
    """One case as the source lists it."""

    id: str
    image: Path
    channels: tuple[Path, ...] = ()
    start_labels: Path | None = None
    comment: str = ""


def safe_case_id(text: str) -> str:
    """A case id usable as a folder name: runs of other characters become ``_``."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "case"
    return cleaned[:120]


def _stem(path: Path) -> str:
    return strip_image_suffix(path).name if image_suffix(path) else path.name


def _is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and image_suffix(path) in IMAGE_SUFFIXES \
        and image_suffix(path) not in (".img", ".dcm")


def _resolve(base: Path, value: str) -> Path:
    path = Path(str(value).strip())
    return path if path.is_absolute() else (base / path)


def cases_from_source(source: str | Path) -> tuple[str, list[SourceCase]]:
    """``(kind, cases)`` for ``source`` (see the module docstring); kind is ``"folder"``,
    ``"nnunet"``, ``"datalist"``, ``"csv"`` or ``"dicom"``. Raises :class:`CampaignError`
    when nothing usable is found, naming what was looked for."""
    source = Path(source)
    if not source.exists():
        raise CampaignError(f"{source}: no such file or folder")
    suffix = source.suffix.lower()
    if source.is_file():
        if suffix == ".json":
            kind, cases = "datalist", _datalist_cases(source)
        elif suffix in (".csv", ".tsv"):
            kind, cases = "csv", _csv_cases(source)
        elif suffix in (".txt", ".lst", ".list"):
            kind, cases = "dicom", _dicom_list_cases(source)
        else:
            raise CampaignError(f"{source}: not a case source; give a folder of images, an nnU-Net "
                                "dataset, a datalist .json, a .csv or a .txt list of DICOM folders")
    elif (source / "imagesTr").is_dir():
        kind, cases = "nnunet", _nnunet_cases(source)
    else:
        cases = _folder_cases(source)
        kind = "folder"
        if not cases:
            kind, cases = "dicom", _dicom_folder_cases(source)
    if not cases:
        raise CampaignError(f"{source}: holds no images to make cases of")
    return kind, _unique_ids(cases)


def _unique_ids(cases: list[SourceCase]) -> list[SourceCase]:
    """Ids made safe and unique (``a``, ``a_2`` ...), in the source's order."""
    seen: set[str] = set()
    unique = []
    for case in cases:
        base = safe_case_id(case.id)
        name, number = base, 2
        while name.lower() in seen:  # case-insensitive: a campaign may live on such a disk
            name, number = f"{base}_{number}", number + 1
        seen.add(name.lower())
        unique.append(SourceCase(name, case.image, case.channels, case.start_labels, case.comment))
    return unique


def _folder_cases(folder: Path) -> list[SourceCase]:
    files = sorted(p for p in folder.iterdir() if _is_image_file(p))
    stems = {_stem(p): p for p in files}
    masks: dict[str, Path] = {}
    for stem, path in stems.items():
        for ending in MASK_SUFFIXES:
            if stem.endswith(ending) and stem[: -len(ending)] in stems:
                masks[stem[: -len(ending)]] = path
    mask_files = set(masks.values())
    return [SourceCase(_stem(p), p, (p,), masks.get(_stem(p))) for p in files if p not in mask_files]


def _nnunet_cases(root: Path) -> list[SourceCase]:
    cases = []
    for images, labels in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs")):
        folder = root / images
        if not folder.is_dir():
            continue
        channels: dict[str, list[Path]] = {}
        for path in sorted(p for p in folder.iterdir() if _is_image_file(p)):
            match = _CHANNEL.match(_stem(path))
            channels.setdefault(match.group("case") if match else _stem(path), []).append(path)
        for case, paths in channels.items():
            ending = image_suffix(paths[0])
            mask = root / labels / f"{case}{ending}"
            cases.append(SourceCase(case, paths[0], tuple(paths), mask if mask.is_file() else None))
    return cases


def _datalist_cases(path: Path) -> list[SourceCase]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CampaignError(f"{path}: cannot be read as JSON ({error})") from None
    sections = [data] if isinstance(data, list) else [data.get(key) for key in
                                                      ("training", "validation", "test", "testing")]
    base = path.parent
    cases: list[SourceCase] = []
    seen: set[Path] = set()
    for section in sections:
        for entry in section or []:
            image = entry if isinstance(entry, (str, list)) else entry.get("image") if isinstance(entry, dict) else None
            if not image:
                raise CampaignError(f"{path}: an entry names no image: {str(entry)[:80]}")
            channels = tuple(_resolve(base, p) for p in (image if isinstance(image, list) else [image]))
            if channels[0] in seen:
                continue
            seen.add(channels[0])
            label = entry.get("label") if isinstance(entry, dict) else None
            mask = _resolve(base, label) if isinstance(label, str) and label else None
            cases.append(SourceCase(_case_name(channels[0]), channels[0], channels, mask))
    _require_files(path, cases)
    return cases


def _case_name(image: Path) -> str:
    """A case id from an image name (an nnU-Net channel suffix ``_0000`` dropped)."""
    stem = _stem(image)
    match = _CHANNEL.match(stem)
    return match.group("case") if match else stem


def _csv_cases(path: Path) -> list[SourceCase]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CampaignError(f"{path}: cannot be read ({error.strerror or error})") from None
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    rows = list(csv.reader(text.splitlines(), dialect))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    columns = {role: next((header.index(n) for n in names if n in header), None)
               for role, names in CSV_COLUMNS.items()}
    if columns["image"] is None:
        raise CampaignError(f"{path}: the first row must name the columns; found no image column "
                            f"(one of: {', '.join(CSV_COLUMNS['image'])})")

    def cell(row: list[str], role: str) -> str:
        index = columns[role]
        return row[index].strip() if index is not None and index < len(row) else ""

    cases = []
    for row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        image = _resolve(path.parent, cell(row, "image"))
        mask = cell(row, "mask")
        cases.append(SourceCase(_case_name(image), image, (image,),
                                _resolve(path.parent, mask) if mask else None, cell(row, "comment")))
    _require_files(path, cases)
    return cases


def _dicom_list_cases(path: Path) -> list[SourceCase]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CampaignError(f"{path}: cannot be read ({error.strerror or error})") from None
    folders = [_resolve(path.parent, line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise CampaignError(f"{path}: not a folder: {', '.join(missing[:3])}")
    return [SourceCase(folder.name, folder, (folder,)) for folder in folders]


def _dicom_folder_cases(folder: Path) -> list[SourceCase]:
    from segviewer.io.dicom import list_series  # noqa: PLC0415 - GDCM only for this kind

    folders = sorted({series.folder for series in list_series(folder, recursive=True)})
    return [SourceCase(str(f.relative_to(folder)).replace("/", "_") if f != folder else f.name, f, (f,))
            for f in folders]


def _require_files(source: Path, cases: list[SourceCase]) -> None:
    """Refuse a table that names images or masks that are not there (before anything is made)."""
    missing = [str(p) for case in cases for p in (*case.channels, case.start_labels)
               if p is not None and not p.exists()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CampaignError(f"{source}: names files that do not exist: {', '.join(missing[:3])}{more}")
