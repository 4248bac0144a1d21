"""Point prompts: positive/negative clicks per label, in physical millimetres (LPS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from segviewer.model.geometry import Geometry


@dataclass(frozen=True)
class PointPrompt:
    """One click: where (LPS mm), for which label, and whether it says "this is" or "this is not"."""

    position_mm: tuple[float, float, float]
    label: int
    positive: bool = True

    def to_dict(self) -> dict:
        return {"position_mm": [float(v) for v in self.position_mm], "label": int(self.label),
                "positive": bool(self.positive)}

    @classmethod
    def from_dict(cls, data: dict) -> "PointPrompt":
        position = tuple(float(v) for v in data["position_mm"])
        if len(position) != 3 or not all(np.isfinite(position)):
            raise ValueError(f"a point needs three finite coordinates, got {data['position_mm']}")
        return cls(position, int(data["label"]), bool(data.get("positive", True)))


class PointSet:
    """An ordered list of point prompts."""

    def __init__(self, points: list[PointPrompt] | None = None) -> None:
        self._points: list[PointPrompt] = list(points or [])

    def __iter__(self) -> Iterator[PointPrompt]:
        return iter(self._points)

    def __len__(self) -> int:
        return len(self._points)

    def __getitem__(self, index: int) -> PointPrompt:
        return self._points[index]

    def add(self, point: PointPrompt) -> int:
        self._points.append(point)
        return len(self._points) - 1

    def insert(self, index: int, point: PointPrompt) -> None:
        self._points.insert(index, point)

    def replace_all(self, points) -> None:
        """Make this set hold ``points`` (in that order), keeping its identity."""
        self._points[:] = list(points)

    def remove_at(self, index: int) -> PointPrompt:
        return self._points.pop(index)

    def clear(self) -> None:
        self._points.clear()

    def nearest(self, position_mm, max_distance_mm: float) -> int | None:
        """Index of the closest point within ``max_distance_mm``, else None."""
        if not self._points:
            return None
        positions = np.array([p.position_mm for p in self._points])
        distances = np.linalg.norm(positions - np.asarray(position_mm, dtype=float), axis=1)
        best = int(np.argmin(distances))
        return best if distances[best] <= max_distance_mm else None

    def for_label(self, label: int) -> list[PointPrompt]:
        return [p for p in self._points if p.label == label]

    def voxel_indices(self, geometry: Geometry) -> list[tuple[tuple[int, int, int], PointPrompt]]:
        """Each point inside ``geometry`` with its nearest voxel index ``(i, j, k)``."""
        result = []
        for point in self._points:
            index = geometry.physical_to_voxel(point.position_mm)
            if index is not None:
                result.append((index, point))
        return result

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self._points]

    def copy(self) -> "PointSet":
        return PointSet(list(self._points))
