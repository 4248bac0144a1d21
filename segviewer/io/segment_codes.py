"""Coded concepts for segments: a label's name -> (category, type), as DICOM-SEG and RT
Structure Sets require (SNOMED CT codes, DICOM CID 7150 / 7151).

The shipped table (``segment_codes.json`` beside this module) covers common structures; a
user's own table (``$XDG_CONFIG_HOME/segviewer/segment_codes.json``, or a file given
explicitly) has the same format and wins, name by name. Names match case-insensitively
with ``_`` and ``-`` read as spaces (``kidney_left`` = ``Kidney left``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.trust import config_folder

SHIPPED_TABLE = Path(__file__).with_name("segment_codes.json")
USER_TABLE_NAME = "segment_codes.json"


class SegmentCodeError(SegviewerError):
    """A segment code table that cannot be read or holds a malformed entry."""


@dataclass(frozen=True)
class Concept:
    """One coded concept: ``(scheme, value, meaning)``, e.g. ``("SCT", "78961009", "Spleen")``."""

    scheme: str
    value: str
    meaning: str


@dataclass(frozen=True)
class SegmentCodes:
    """A segment's category (e.g. Anatomical Structure) and type (e.g. Spleen)."""

    category: Concept
    type: Concept


def normalised(name: str) -> str:
    """The key a name is looked up by: lower case, ``_``/``-`` as spaces, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]", " ", name)).strip().lower()


class SegmentCodeTable:
    """Names -> :class:`SegmentCodes`, with a fallback for names in no table."""

    def __init__(self, entries: dict[str, SegmentCodes], fallback: SegmentCodes) -> None:
        self.entries = entries
        self.fallback = fallback

    def codes_for(self, name: str) -> SegmentCodes:
        """The codes of the structure called ``name`` (the fallback when it is unknown)."""
        return self.entries.get(normalised(name), self.fallback)

    def knows(self, name: str) -> bool:
        return normalised(name) in self.entries

    def name_for(self, codes: SegmentCodes) -> str | None:
        """The first name listed for ``codes``' type (for a coded segment with no label)."""
        return next((name for name, known in self.entries.items() if known.type == codes.type), None)


def load_segment_codes(extra: str | Path | None = None) -> SegmentCodeTable:
    """The shipped table, overridden by the user's table (when present) and then by
    ``extra`` (a file the user named, which must exist)."""
    entries, fallback = _read_table(SHIPPED_TABLE)
    user = config_folder() / USER_TABLE_NAME
    for path in ([user] if user.is_file() else []) + ([Path(extra)] if extra is not None else []):
        more, own_fallback = _read_table(path)
        entries.update(more)
        fallback = own_fallback or fallback
    if fallback is None:  # pragma: no cover - the shipped table has one
        raise SegmentCodeError(f"{SHIPPED_TABLE}: has no fallback entry")
    return SegmentCodeTable(entries, fallback)


def _read_table(path: Path) -> tuple[dict[str, SegmentCodes], SegmentCodes | None]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SegmentCodeError(f"{path}: cannot read the segment code table ({error.strerror})") from None
    except ValueError as error:
        raise SegmentCodeError(f"{path}: is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("structures", []), list):
        raise SegmentCodeError(f'{path}: expected {{"structures": [...]}} (see the shipped {SHIPPED_TABLE.name})')
    entries: dict[str, SegmentCodes] = {}
    for number, item in enumerate(data.get("structures", []), 1):
        codes = _codes(item, path, f"structure {number}")
        names = item.get("names") if isinstance(item, dict) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise SegmentCodeError(f"{path}: structure {number} needs \"names\": a list of names")
        entries.update({normalised(name): codes for name in names})
    fallback = _codes(data["fallback"], path, "the fallback") if "fallback" in data else None
    return entries, fallback


def _codes(item, path: Path, where: str) -> SegmentCodes:
    if not isinstance(item, dict):
        raise SegmentCodeError(f"{path}: {where} is not an object")
    return SegmentCodes(_concept(item.get("category"), path, where, "category"),
                        _concept(item.get("type"), path, where, "type"))


def _concept(value, path: Path, where: str, field: str) -> Concept:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(part, str) and part.strip() for part in value)):
        raise SegmentCodeError(f'{path}: {where}: "{field}" must be [scheme, code value, meaning], '
                               f'e.g. ["SCT", "78961009", "Spleen"]; got {value!r}')
    return Concept(*(part.strip() for part in value))
