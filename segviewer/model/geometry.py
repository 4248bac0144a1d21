"""Image geometry: the voxel grid in physical space (ITK/LPS conventions).

Arrays are indexed ``array[k, j, i]`` (SimpleITK's order); an index is written
``(i, j, k)``. Physical coordinates are millimetres in the LPS world used by
ITK, DICOM and SimpleITK: ``x = origin + direction @ (spacing * index)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

#: A region in array order: three ``slice`` objects ``(k, j, i)`` with explicit bounds.
Box = tuple[slice, slice, slice]

#: Tolerances used to decide that two grids are "the same" (mm and unit-vector components).
GRID_TOLERANCE_MM = 1e-3
DIRECTION_TOLERANCE = 1e-4

_LPS_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # positive / negative end of x, y, z


@dataclass(frozen=True)
class Geometry:
    """The voxel grid of a volume.

    Parameters
    ----------
    size : (nx, ny, nz)
        Number of voxels along i, j, k (ITK order). ``shape`` gives the array order.
    spacing : (sx, sy, sz)
        Voxel size in mm along i, j, k.
    origin : (x, y, z)
        Physical position (mm, LPS) of the centre of voxel (0, 0, 0).
    direction : 3x3
        Direction cosines; column ``c`` is the physical direction of index axis ``c``.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))
        object.__setattr__(self, "spacing", tuple(float(v) for v in self.spacing))
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        direction = np.array(self.direction, dtype=np.float64).reshape(3, 3)
        direction.setflags(write=False)
        object.__setattr__(self, "direction", direction)
        if len(self.size) != 3 or len(self.spacing) != 3 or len(self.origin) != 3:
            raise ValueError("geometry must be 3D")
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    # -- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(nz, ny, nx)``."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def voxel_count(self) -> int:
        return int(np.prod(self.size, dtype=np.int64))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous ``(i, j, k, 1)`` to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction * np.asarray(self.spacing)[None, :]
        matrix[:3, 3] = self.origin
        return matrix

    @property
    def ras_affine(self) -> np.ndarray:
        """The same mapping in RAS (NIfTI/nibabel's world): x and y negated."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine

    # -- transforms -----------------------------------------------------------------
    def index_to_physical(self, index: Sequence[float] | np.ndarray) -> np.ndarray:
        """Continuous index ``(i, j, k)`` (or an ``(N, 3)`` array) to LPS mm."""
        ijk = np.asarray(index, dtype=np.float64)
        scaled = ijk * np.asarray(self.spacing)
        return scaled @ self.direction.T + np.asarray(self.origin)

    def physical_to_index(self, point: Sequence[float] | np.ndarray) -> np.ndarray:
        """LPS mm ``(x, y, z)`` (or an ``(N, 3)`` array) to continuous index ``(i, j, k)``."""
        xyz = np.asarray(point, dtype=np.float64) - np.asarray(self.origin)
        return (xyz @ np.linalg.inv(self.direction).T) / np.asarray(self.spacing)

    def physical_to_voxel(self, point: Sequence[float]) -> tuple[int, int, int] | None:
        """Nearest voxel index ``(i, j, k)`` for a physical point, or None when outside."""
        ijk = np.rint(self.physical_to_index(point)).astype(int)
        if np.all(ijk >= 0) and np.all(ijk < np.asarray(self.size)):
            return int(ijk[0]), int(ijk[1]), int(ijk[2])
        return None

    def contains_index(self, index: Sequence[int]) -> bool:
        return all(0 <= int(v) < n for v, n in zip(index, self.size))

    # -- comparisons ----------------------------------------------------------------
    def same_grid(self, other: "Geometry", tolerance_mm: float = GRID_TOLERANCE_MM) -> bool:
        """True when both describe the same voxels in the same places."""
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, atol=tolerance_mm, rtol=0)
            and np.allclose(self.origin, other.origin, atol=tolerance_mm, rtol=0)
            and np.allclose(self.direction, other.direction, atol=DIRECTION_TOLERANCE, rtol=0)
        )

    def physical_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned (LPS) min and max corners of the volume, voxel edges included."""
        corners = np.array(
            [[i, j, k] for i in (-0.5, self.size[0] - 0.5)
             for j in (-0.5, self.size[1] - 0.5) for k in (-0.5, self.size[2] - 0.5)]
        )
        points = self.index_to_physical(corners)
        return points.min(axis=0), points.max(axis=0)

    def overlaps(self, other: "Geometry") -> bool:
        """True when the physical extents of both grids intersect."""
        low_a, high_a = self.physical_bounds()
        low_b, high_b = other.physical_bounds()
        return bool(np.all(low_a < high_b) and np.all(low_b < high_a))

    # -- derived grids ----------------------------------------------------------------
    def cropped(self, box: Box) -> "Geometry":
        """Geometry of the sub-grid ``box`` (array order slices with explicit bounds)."""
        k, j, i = (s.start or 0 for s in box)
        stops = [s.stop for s in box]
        size = (stops[2] - i, stops[1] - j, stops[0] - k)
        origin = self.index_to_physical((i, j, k))
        return Geometry(size, self.spacing, tuple(origin), self.direction)

    def orientation_letters(self) -> tuple[str, str, str]:
        """For each index axis i, j, k the LPS letter it points towards (nearest axis).

        e.g. ``("L", "P", "S")`` for an RAS-stored NIfTI read by ITK is ``("L","P","S")``
        only when unflipped; an oblique axis gets the letter of its dominant component.
        """
        letters = []
        for column in self.direction.T:
            axis = int(np.argmax(np.abs(column)))
            positive, negative = _LPS_LETTERS[axis]
            letters.append(positive if column[axis] > 0 else negative)
        return tuple(letters)  # type: ignore[return-value]

    def is_oblique(self, tolerance: float = DIRECTION_TOLERANCE) -> bool:
        return not np.allclose(np.abs(self.direction), np.round(np.abs(self.direction)), atol=tolerance)

    def to_dict(self) -> dict:
        return {
            "size": list(self.size),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": self.direction.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Geometry":
        return cls(tuple(data["size"]), tuple(data["spacing"]), tuple(data["origin"]),
                   np.asarray(data["direction"], dtype=float))

    def __eq__(self, other: object) -> bool:  # dataclass eq would compare arrays ambiguously
        return isinstance(other, Geometry) and self.same_grid(other, tolerance_mm=0.0)

    def __hash__(self) -> int:
        return hash((self.size, self.spacing, self.origin, self.direction.tobytes()))


# -- boxes ------------------------------------------------------------------------------
def full_box(shape: Sequence[int]) -> Box:
    """The box covering a whole array of ``shape``."""
    return tuple(slice(0, int(n)) for n in shape)  # type: ignore[return-value]


def box_from_bounds(lower: Iterable[int], upper: Iterable[int], shape: Sequence[int]) -> Box:
    """Box from inclusive-exclusive bounds in array order, clipped to ``shape``."""
    return tuple(
        slice(max(0, int(lo)), min(int(n), int(hi))) for lo, hi, n in zip(lower, upper, shape)
    )  # type: ignore[return-value]


def bounding_box(mask: np.ndarray) -> Box | None:
    """Tightest box around the True voxels of ``mask``, or None when it is empty."""
    if not mask.any():
        return None
    bounds = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        bounds.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(bounds)  # type: ignore[return-value]


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box containing both (None is the empty box)."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))  # type: ignore[return-value]


def grow_box(box: Box, margin_voxels: Sequence[int], shape: Sequence[int]) -> Box:
    """Enlarge ``box`` by a margin per axis (array order), clipped to ``shape``."""
    return tuple(
        slice(max(0, s.start - int(m)), min(int(n), s.stop + int(m)))
        for s, m, n in zip(box, margin_voxels, shape)
    )  # type: ignore[return-value]


def box_size(box: Box) -> tuple[int, int, int]:
    return tuple(s.stop - s.start for s in box)  # type: ignore[return-value]
