"""The measurements of a case: a list with its own undo/redo, saved beside the case as JSON
in millimetres (``case.measurements.json``) and exported as CSV.

Every measurement keeps its defining points (LPS mm) and its value, so a reader needs no
image to use the file, and segviewer re-opens it on the same image with the marks in place.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from segviewer.io.atomic import OutputGuard, write_text_atomically
from segviewer.io.jsonfile import dumps, json_safe
from segviewer.io.paths import strip_image_suffix
from segviewer.measure.instruments import MeasurementError, angle_degrees, region_statistics, ruler_length
from segviewer.measure.structures import local_thickness, minimum_distance, recist_diameters

FORMAT = "segviewer-measurements"
VERSION = 1
#: What each kind measures, its unit and how many points define it.
KINDS = {
    "ruler": ("length", "mm", 2),
    "angle": ("angle", "deg", 3),
    "region": ("mean intensity", "", 1),
    "distance": ("minimum distance", "mm", 2),
    "diameters": ("longest axial diameter", "mm", 4),  # long axis ends, then short axis ends
    "thickness": ("mean local thickness", "mm", 0),
}
CSV_COLUMNS = ("id", "kind", "name", "quantity", "value", "unit", "points_mm", "details")


@dataclass(frozen=True)
class Measurement:
    """One measurement: its kind, defining points (LPS mm), value and the facts beside it."""

    kind: str
    points_mm: tuple[tuple[float, float, float], ...]
    value: float
    name: str = ""
    details: dict = field(default_factory=dict)
    id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MeasurementError(f"unknown measurement kind {self.kind!r} (known: {', '.join(KINDS)})")
        points = tuple(tuple(float(v) for v in point) for point in self.points_mm)
        if any(len(p) != 3 for p in points) or len(points) != KINDS[self.kind][2]:
            raise MeasurementError(f"a {self.kind} has {KINDS[self.kind][2]} points of three coordinates (mm)")
        object.__setattr__(self, "points_mm", points)
        object.__setattr__(self, "value", float(self.value))

    @property
    def quantity(self) -> str:
        return KINDS[self.kind][0]

    @property
    def unit(self) -> str:
        return KINDS[self.kind][1]

    def label(self) -> str:
        """A short text for lists: "Ruler 2: 43.1 mm"."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name or self.kind.capitalize() + ' ' + str(self.id)}: {self.value:.4g}{unit}"

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "Measurement":
        try:
            return cls(kind=data["kind"], points_mm=tuple(map(tuple, data["points_mm"])), value=data["value"],
                       name=str(data.get("name", "")), details=dict(data.get("details") or {}), id=int(data["id"]))
        except (KeyError, TypeError, ValueError) as error:
            raise MeasurementError(f"not a measurement: {error}") from None


class MeasurementList:
    """The case's measurements in the order made; every change can be undone and redone."""

    def __init__(self, items: Iterable[Measurement] = ()) -> None:
        self._items: list[Measurement] = list(items)
        self._undo: list[tuple[list[Measurement], list[Measurement]]] = []
        self._redo: list[tuple[list[Measurement], list[Measurement]]] = []

    # -- reading -------------------------------------------------------------------------
    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def get(self, measurement_id: int) -> Measurement:
        for item in self._items:
            if item.id == measurement_id:
                return item
        raise MeasurementError(f"no measurement {measurement_id}")

    # -- changing (each one undoable) ----------------------------------------------------------
    def _change(self, items: list[Measurement]) -> None:
        self._undo.append((list(self._items), items))
        self._redo.clear()
        self._items = list(items)

    def add(self, measurement: Measurement) -> Measurement:
        """Add ``measurement`` under a new id (returned)."""
        added = replace(measurement, id=max((m.id for m in self._items), default=0) + 1)
        self._change([*self._items, added])
        return added

    def remove(self, measurement_id: int) -> None:
        self.get(measurement_id)
        self._change([m for m in self._items if m.id != measurement_id])

    def rename(self, measurement_id: int, name: str) -> None:
        self._change([replace(m, name=name) if m.id == measurement_id else m for m in self._items])

    def clear(self) -> None:
        if self._items:
            self._change([])

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        before, after = self._undo.pop()
        self._redo.append((before, after))
        self._items = list(before)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        before, after = self._redo.pop()
        self._undo.append((before, after))
        self._items = list(after)
        return True

    # -- files -------------------------------------------------------------------------------
    def to_json(self) -> str:
        return dumps({"format": FORMAT, "version": VERSION, "coordinates": "LPS mm",
                      "measurements": [m.to_dict() for m in self._items]}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "measurements") -> "MeasurementList":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise MeasurementError(f"{source}: not JSON ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise MeasurementError(f"{source}: not a segviewer measurements file")
        if int(data.get("version", VERSION)) > VERSION:
            raise MeasurementError(f"{source}: version {data['version']} is newer than this segviewer reads")
        return cls(Measurement.from_dict(item) for item in data.get("measurements", []))

    def save(self, path: str | Path, guard: OutputGuard | None = None) -> Path:
        return write_text_atomically(path, self.to_json(), guard=guard, what="the measurements")

    @classmethod
    def load(cls, path: str | Path) -> "MeasurementList":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MeasurementError(f"{path}: cannot be read ({error})") from None
        return cls.from_json(text, str(path))

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for m in self._items:
            points = " ; ".join(" ".join(f"{v:.3f}" for v in p) for p in m.points_mm)
            writer.writerow([m.id, m.kind, m.name, m.quantity, f"{m.value:.6g}", m.unit, points,
                             dumps(m.details) if m.details else ""])
        return buffer.getvalue()

    def export_csv(self, path: str | Path, guard: OutputGuard | None = None) -> Path:
        return write_text_atomically(path, self.to_csv(), guard=guard, what="the measurements table")


def measurements_path(case: str | Path) -> Path:
    """Where a case's measurements live: ``case.nii.gz`` -> ``case.measurements.json``."""
    stem = strip_image_suffix(case)
    return stem.with_name(f"{stem.name}.measurements.json")


# == making measurements ==========================================================================
def ruler(a, b, name: str = "") -> Measurement:
    return Measurement("ruler", (a, b), ruler_length(a, b), name)


def angle(a, vertex, b, name: str = "") -> Measurement:
    return Measurement("angle", (a, vertex, b), angle_degrees(a, vertex, b), name)


def region(image, geometry, centre, radii_ijk_mm, name: str = "") -> Measurement:
    """An ellipse (one radius 0: on that slice) or ellipsoid/sphere with its intensity statistics."""
    statistics = region_statistics(image, geometry, centre, radii_ijk_mm)
    details = {"radii_ijk_mm": [float(r) for r in radii_ijk_mm], **statistics.to_dict()}
    return Measurement("region", (centre,), statistics.mean, name, details)


def label_distance(labels, geometry, first: int, second: int, name: str = "") -> Measurement:
    found = minimum_distance(labels, geometry, first, second)
    return Measurement("distance", (found.point_first, found.point_second), found.distance_mm, name,
                       {"labels": [found.first, found.second], "between": "voxel centres"})


def diameters(labels, geometry, value: int, name: str = "") -> Measurement:
    found = recist_diameters(labels, geometry, value)
    return Measurement("diameters", (*found.long_points, *found.short_points), found.long_mm, name,
                       {"label": found.label, "short_axis_mm": found.short_mm,
                        "slice": {found.slice_axis: found.slice_index}})


def thickness(labels, geometry, value: int, name: str = "", cancel=None) -> tuple[Measurement, np.ndarray]:
    """The thickness measurement of label ``value`` and its map (mm per voxel, for display)."""
    found = local_thickness(labels, geometry, value, cancel)
    return Measurement("thickness", (), found.statistics["mean_mm"], name,
                       {"label": found.label, **found.statistics}), found.map_mm
