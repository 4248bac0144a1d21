"""Label maps on the image grid and their label table (value, name, colour, visibility, lock)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
from psygnal import Signal

from segviewer.model.geometry import Geometry

#: Label values a label map can hold (0 is background; 65535 marks unannotated scribbles).
LOWEST_LABEL, HIGHEST_LABEL = 1, 65534

#: ITK-SNAP's first default colours, so masks look familiar to its users.
_DEFAULT_COLOURS = [
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
    (255, 239, 213), (0, 0, 205), (205, 133, 63), (210, 180, 140), (102, 205, 170),
    (0, 0, 128), (0, 139, 139), (46, 139, 87), (255, 228, 225), (106, 90, 205),
]


def default_colour(value: int) -> tuple[int, int, int]:
    """A distinct colour for label ``value`` (ITK-SNAP's palette, then golden-angle hues)."""
    if 1 <= value <= len(_DEFAULT_COLOURS):
        return _DEFAULT_COLOURS[value - 1]
    hue = (value * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class LabelInfo:
    """One row of the label table."""

    value: int
    name: str
    colour: tuple[int, int, int]
    visible: bool = True
    locked: bool = False
    opacity: float = 1.0

    def to_dict(self) -> dict:
        return {"value": self.value, "name": self.name, "colour": list(self.colour),
                "visible": self.visible, "locked": self.locked, "opacity": self.opacity}

    @classmethod
    def from_dict(cls, data: dict) -> "LabelInfo":
        return cls(int(data["value"]), str(data.get("name", f"Label {data['value']}")),
                   tuple(int(c) for c in data.get("colour", default_colour(int(data["value"])))),
                   bool(data.get("visible", True)), bool(data.get("locked", False)),
                   float(data.get("opacity", 1.0)))


class LabelTable:
    """Ordered table of labels (0, "Clear Label", is implicit and never listed).

    ``changed`` is emitted with no arguments after any edit.
    """

    changed = Signal()

    def __init__(self, entries: list[LabelInfo] | None = None) -> None:
        self._entries: dict[int, LabelInfo] = {}
        for entry in entries or []:
            self._entries[entry.value] = entry

    def __iter__(self) -> Iterator[LabelInfo]:
        return iter(sorted(self._entries.values(), key=lambda e: e.value))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, value: int) -> bool:
        return int(value) in self._entries

    def __getitem__(self, value: int) -> LabelInfo:
        return self._entries[int(value)]

    def get(self, value: int) -> LabelInfo | None:
        return self._entries.get(int(value))

    @property
    def values(self) -> list[int]:
        return sorted(self._entries)

    @property
    def max_value(self) -> int:
        return max(self._entries, default=0)

    def name_of(self, value: int) -> str:
        if value == 0:
            return "Clear Label"
        entry = self._entries.get(int(value))
        return entry.name if entry else f"Label {value}"

    def colour_of(self, value: int) -> tuple[int, int, int]:
        entry = self._entries.get(int(value))
        return entry.colour if entry else default_colour(int(value))

    def add(self, value: int | None = None, name: str | None = None,
            colour: tuple[int, int, int] | None = None) -> LabelInfo:
        """Add a label (the next free value when none is given) and return it."""
        if value is None:
            value = self.max_value + 1
        value = int(value)
        if not LOWEST_LABEL <= value <= HIGHEST_LABEL:
            raise ValueError(f"label values run from {LOWEST_LABEL} to {HIGHEST_LABEL}, got {value}")
        if value in self._entries:
            raise ValueError(f"label {value} already exists")
        entry = LabelInfo(value, name or f"Label {value}", colour or default_colour(value))
        self._entries[value] = entry
        self.changed.emit()
        return entry

    def ensure(self, values) -> None:
        """Add default rows for any label values present in data but not in the table."""
        added = False
        for value in values:
            value = int(value)
            if value > 0 and value not in self._entries:
                self._entries[value] = LabelInfo(value, f"Label {value}", default_colour(value))
                added = True
        if added:
            self.changed.emit()

    def update(self, value: int, **changes) -> LabelInfo:
        """Change fields of a row (name, colour, visible, locked, opacity)."""
        entry = replace(self._entries[int(value)], **changes)
        self._entries[int(value)] = entry
        self.changed.emit()
        return entry

    def remove(self, value: int) -> None:
        del self._entries[int(value)]
        self.changed.emit()

    def replace_all(self, entries: list[LabelInfo]) -> None:
        self._entries = {e.value: e for e in entries}
        self.changed.emit()

    def locked_values(self) -> list[int]:
        return [e.value for e in self._entries.values() if e.locked]

    def to_list(self) -> list[dict]:
        return [e.to_dict() for e in self]

    def copy(self) -> "LabelTable":
        return LabelTable([replace(e) for e in self])

    def lookup_table(self, size: int | None = None) -> np.ndarray:
        """RGBA ``uint8`` lookup table indexed by label value (hidden labels transparent)."""
        size = size or (self.max_value + 1)
        table = np.zeros((max(size, 1), 4), dtype=np.uint8)
        for entry in self:
            if entry.value < size and entry.visible:
                table[entry.value, :3] = entry.colour
                table[entry.value, 3] = int(round(255 * entry.opacity))
        return table


def label_dtype_for(max_value: int) -> np.dtype:
    """uint8 while every label fits, uint16 beyond 255."""
    if max_value <= 255:
        return np.dtype(np.uint8)
    if max_value <= 65535:
        return np.dtype(np.uint16)
    raise ValueError(f"label value {max_value} exceeds 65535")


@dataclass(eq=False)
class LabelMap:
    """Labels on exactly the image grid: ``array[k, j, i]`` holds the label of voxel (i, j, k)."""

    array: np.ndarray
    geometry: Geometry
    table: LabelTable = field(default_factory=LabelTable)

    def __post_init__(self) -> None:
        if self.array.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"label maps are uint8 or uint16, got {self.array.dtype}")
        if tuple(self.array.shape) != self.geometry.shape:
            raise ValueError(
                f"label array shape {self.array.shape} does not match grid {self.geometry.shape}")

    @classmethod
    def empty(cls, geometry: Geometry, table: LabelTable | None = None,
              dtype: np.dtype | type = np.uint8) -> "LabelMap":
        return cls(np.zeros(geometry.shape, dtype=dtype), geometry, table or LabelTable())

    def present_values(self) -> list[int]:
        """Non-zero label values present in the array (bincount: fast for uint8/uint16)."""
        counts = np.bincount(self.array.reshape(-1), minlength=1)
        return [int(v) for v in np.flatnonzero(counts) if v != 0]

    def widen_if_needed(self, value: int) -> None:
        """Switch to uint16 in place when ``value`` no longer fits in uint8."""
        if value > np.iinfo(self.array.dtype).max:
            self.array = self.array.astype(label_dtype_for(value))

    def value_at(self, index: tuple[int, int, int]) -> int:
        i, j, k = index
        return int(self.array[k, j, i])
