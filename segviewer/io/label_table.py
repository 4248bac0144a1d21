"""Label tables on disk: ITK-SNAP label description files and segviewer's JSON sidecar.

ITK-SNAP (``.label`` / ``.txt``), one label per line::

    # IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
        1   255    0    0     1   1  1    "Spleen"

(``A`` is the opacity 0..1, ``VIS`` visibility, ``MSH`` mesh visibility; row 0 "Clear Label"
is implicit here.) 3D Slicer colour tables (``value name r g b a``, alpha 0..255) are read too.

The JSON sidecar (``case.labels.json`` beside ``case.nii.gz``)::

    {"format": "segviewer-label-table", "version": 1,
     "labels": [{"value": 1, "name": "Spleen", "colour": [255, 0, 0], "visible": true,
                 "locked": false, "opacity": 1.0}]}

Reading also accepts ``{"1": "Spleen"}`` and nnU-Net's ``{"labels": {"background": 0, "spleen": 1}}``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.atomic import OutputGuard, write_text_atomically
from segviewer.io.paths import sidecar_path
from segviewer.model.labels import LabelInfo, LabelTable, default_colour

JSON_FORMAT = "segviewer-label-table"
JSON_VERSION = 1

_ITKSNAP_LINE = re.compile(
    r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-+\d.eE]+)\s+(\d+)\s+(\d+)\s+"(.*)"\s*$')
_SLICER_LINE = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(\d+))?\s*$")

_ITKSNAP_HEADER = """\
################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
# Fields:
#    IDX:   Zero-based index
#    -R-:   Red color component (0..255)
#    -G-:   Green color component (0..255)
#    -B-:   Blue color component (0..255)
#    -A-:   Label transparency (0.00 .. 1.00)
#    VIS:   Label visibility (0 or 1)
#    IDX:   Label mesh visibility (0 or 1)
#  LABEL:   Label description
################################################
"""


class LabelTableError(SegviewerError):
    """A label description file could not be understood."""


# -- ITK-SNAP / Slicer text files ---------------------------------------------------------------
def parse_label_description(text: str, source: str = "label file") -> LabelTable:
    """Parse an ITK-SNAP label description (or a 3D Slicer colour table)."""
    entries: dict[int, LabelInfo] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ITKSNAP_LINE.match(line)
        if match:
            value, red, green, blue = (int(match.group(n)) for n in range(1, 5))
            opacity, visible = float(match.group(5)), match.group(6) != "0"
            name = match.group(8)
        else:
            match = _SLICER_LINE.match(line)
            if not match:
                raise LabelTableError(f"{source}, line {number}: not a label line "
                                      f"(expected: IDX R G B A VIS MSH \"NAME\"): {stripped[:60]!r}")
            value, red, green, blue = (int(match.group(n)) for n in (1, 3, 4, 5))
            alpha = int(match.group(6)) if match.group(6) is not None else 255
            opacity, visible, name = alpha / 255.0, True, match.group(2).replace("_", " ")
        if value == 0:
            continue  # "Clear Label" is implicit
        if value > 65534:
            raise LabelTableError(f"{source}, line {number}: label value {value} exceeds 65534")
        if any(c > 255 for c in (red, green, blue)):
            raise LabelTableError(f"{source}, line {number}: colour components run from 0 to 255")
        if not 0.0 <= opacity <= 1.0:
            raise LabelTableError(f"{source}, line {number}: opacity {opacity} is not within 0..1")
        entries[value] = LabelInfo(value, name, (red, green, blue), visible=visible, opacity=opacity)
    return LabelTable(list(entries.values()))


def format_label_description(table: LabelTable) -> str:
    """ITK-SNAP's label description text for ``table`` (with the "Clear Label" row)."""
    lines = [_ITKSNAP_HEADER.rstrip("\n"),
             f'{0:5d} {0:5d} {0:4d} {0:4d} {0:8g} {0:2d} {0:2d}    "Clear Label"']
    for entry in table:
        name = entry.name.replace('"', "'")
        red, green, blue = entry.colour
        lines.append(f"{entry.value:5d} {red:5d} {green:4d} {blue:4d} {entry.opacity:8g} "
                     f"{int(entry.visible):2d} {int(entry.visible):2d}    \"{name}\"")
    return "\n".join(lines) + "\n"


# -- JSON -------------------------------------------------------------------------------------
def table_to_json(table: LabelTable) -> dict:
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "labels": table.to_list()}


def table_from_json(data, source: str = "label table") -> LabelTable:
    """A table from the sidecar's JSON (or the simpler forms the module docstring lists)."""
    try:
        if isinstance(data, dict) and "version" in data and int(data["version"]) > JSON_VERSION:
            raise LabelTableError(f"{source}: written by a newer segviewer (version {data['version']})")
        labels = data.get("labels", data) if isinstance(data, dict) else data
        entries = []
        if isinstance(labels, list):
            entries = [LabelInfo.from_dict(item) for item in labels]
        elif isinstance(labels, dict):
            for key, item in labels.items():
                if isinstance(item, dict):
                    entries.append(LabelInfo.from_dict({"value": int(key), **item}))
                elif isinstance(item, (int, float)) and not isinstance(item, bool):
                    if key.lower() in ("background", "ignore") or int(item) == 0:
                        continue  # nnU-Net's dataset.json: name -> value
                    entries.append(LabelInfo(int(item), key, default_colour(int(item))))
                else:
                    entries.append(LabelInfo(int(key), str(item), default_colour(int(key))))
        else:
            raise TypeError("expected a list or an object")
    except LabelTableError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise LabelTableError(f"{source}: not a label table ({error})") from None
    entries = [entry for entry in entries if entry.value != 0]
    for entry in entries:
        if not 0 < entry.value < 65535:
            raise LabelTableError(f"{source}: label value {entry.value} is outside 1..65534")
        if len(entry.colour) != 3 or any(not 0 <= c <= 255 for c in entry.colour):
            raise LabelTableError(f"{source}: label {entry.value} has colour {entry.colour}, not RGB 0..255")
    return LabelTable(entries)


# -- files ------------------------------------------------------------------------------------
def read_label_table(path: str | Path) -> LabelTable:
    """Read a label table: ``.json`` (sidecar), else ITK-SNAP / Slicer text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise LabelTableError(f"{path}: cannot be read ({error.strerror or error})") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise LabelTableError(f"{path}: not valid JSON ({error})") from None
        return table_from_json(data, str(path))
    return parse_label_description(text, str(path))


def write_label_table(path: str | Path, table: LabelTable, *, guard: OutputGuard | None = None) -> Path:
    """Write ``table`` atomically (never over a file ``guard`` protects): JSON for
    ``.json``, ITK-SNAP's format otherwise."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(table_to_json(table), indent=2) + "\n"
    else:
        text = format_label_description(table)
    write_text_atomically(path, text, guard=guard, what="the label table")
    return path


def label_table_sidecar(mask_path: str | Path) -> Path:
    """The JSON sidecar beside a mask: ``case.nii.gz`` -> ``case.labels.json``."""
    return sidecar_path(mask_path, "labels")


def find_label_table(mask_path: str | Path) -> Path | None:
    """The label table that accompanies a mask, if any: its JSON sidecar, or an ITK-SNAP
    ``.label`` file of the same name."""
    sidecar = label_table_sidecar(mask_path)
    if sidecar.is_file():
        return sidecar
    itksnap = sidecar.with_name(sidecar.name[: -len(".labels.json")] + ".label")
    return itksnap if itksnap.is_file() else None
