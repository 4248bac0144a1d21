"""Ruler, angle and region statistics on physical points (LPS mm)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from segviewer.errors import SegviewerError
from segviewer.model.geometry import Geometry


class MeasurementError(SegviewerError):
    """A measurement that cannot be made as asked (a zero-length arm, a region outside the image)."""


def _point(value: Sequence[float]) -> np.ndarray:
    point = np.asarray(value, dtype=np.float64).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise MeasurementError(f"a point is three finite millimetre coordinates, got {list(value)}")
    return point


def ruler_length(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance in mm between two physical points (on any slices of any view)."""
    return float(np.linalg.norm(_point(b) - _point(a)))


def angle_degrees(a: Sequence[float], vertex: Sequence[float], b: Sequence[float]) -> float:
    """The angle at ``vertex`` between the arms to ``a`` and ``b``, in degrees (0..180)."""
    u, v = _point(a) - _point(vertex), _point(b) - _point(vertex)
    lengths = np.linalg.norm(u) * np.linalg.norm(v)
    if lengths == 0:
        raise MeasurementError("an angle needs two arms of non-zero length")
    # atan2 of |u x v| and u . v: accurate near 0 and 180 degrees, where acos is not
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v)), np.dot(u, v))))


@dataclass(frozen=True)
class RegionStatistics:
    """Intensities inside an ellipse (one slice) or an ellipsoid/sphere region."""

    voxel_count: int
    size_mm: float  # area in mm² for an ellipse on one slice, volume in mm³ otherwise
    mean: float
    std: float  # sample standard deviation (n - 1), as label statistics report it
    minimum: float
    maximum: float
    median: float

    def to_dict(self) -> dict:
        return asdict(self)


def region_mask(geometry: Geometry, centre: Sequence[float], radii_ijk_mm: Sequence[float]):
    """``(box, mask)``: the voxels whose centres lie in the ellipsoid with ``centre`` (LPS mm)
    and semi-axes ``radii_ijk_mm`` along the image's index axes (i, j, k); a radius of 0 keeps
    the one slice through the centre on that axis (an ellipse drawn on a slice)."""
    radii = np.asarray(radii_ijk_mm, dtype=np.float64)
    if radii.shape != (3,) or np.any(radii < 0) or np.count_nonzero(radii) < 2:
        raise MeasurementError("a region needs at least two positive radii (mm)")
    spacing = np.asarray(geometry.spacing)
    centre_index = geometry.physical_to_index(_point(centre))
    reach = np.where(radii > 0, radii / spacing, 0.5)  # in voxels, per axis i, j, k
    low = np.maximum(np.floor(centre_index - reach).astype(int), 0)
    high = np.minimum(np.ceil(centre_index + reach).astype(int) + 1, geometry.size)
    if np.any(high <= low):
        raise MeasurementError("the region lies outside the image")
    axes = [np.arange(lo, hi) for lo, hi in zip(low, high)]
    offsets = [(a - c) * s for a, c, s in zip(axes, centre_index, spacing)]  # mm along i, j, k
    grids = np.meshgrid(*offsets, indexing="ij")
    inside = sum((d / r) ** 2 for d, r in zip(grids, radii) if r > 0) <= 1
    for d, r, s in zip(grids, radii, spacing):
        if r == 0:
            inside &= np.abs(d) <= s / 2  # the slice through the centre only
    box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low[::-1], high[::-1]))
    return box, np.ascontiguousarray(inside.transpose(2, 1, 0))


def region_statistics(image: np.ndarray, geometry: Geometry, centre: Sequence[float],
                      radii_ijk_mm: Sequence[float]) -> RegionStatistics:
    """Statistics of ``image`` inside the region (see :func:`region_mask`)."""
    box, mask = region_mask(geometry, centre, radii_ijk_mm)
    values = np.asarray(image[box][mask], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        raise MeasurementError("no image voxel lies inside the region")
    flat = np.count_nonzero(radii_ijk_mm) == 2
    spacing = np.asarray(geometry.spacing)
    unit = np.prod(spacing[np.asarray(radii_ijk_mm) > 0]) if flat else np.prod(spacing)
    return RegionStatistics(
        voxel_count=int(values.size), size_mm=float(values.size * unit), mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0, minimum=float(values.min()),
        maximum=float(values.max()), median=float(np.median(values)))
