"""Measurements of labelled structures: the minimum distance between two labels (and where),
the RECIST-style longest axial diameter with its perpendicular short axis, and the local
thickness of a label from its medial axis.

Distances are between voxel centres in LPS millimetres; the direction cosines are orthonormal,
so distances in index space scaled by the spacing are physical distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from segviewer.measure.instruments import MeasurementError
from segviewer.model.geometry import Geometry, bounding_box, grow_box


def _mask_of(labels: np.ndarray, value: int) -> np.ndarray:
    mask = labels == value
    if not mask.any():
        raise MeasurementError(f"label {value} has no voxels")
    return mask


def _surface_indices(mask: np.ndarray) -> np.ndarray:
    """(n, 3) array indices (k, j, i) of the voxels of ``mask`` that touch its outside."""
    eroded = ndimage.binary_erosion(mask, border_value=0)
    return np.argwhere(mask & ~eroded)


def _physical(geometry: Geometry, kji: np.ndarray) -> np.ndarray:
    return geometry.index_to_physical(np.asarray(kji, dtype=np.float64)[..., ::-1])


# == minimum distance ==========================================================================
@dataclass(frozen=True)
class LabelDistance:
    """The closest pair of voxel centres of two labels: the distance and where (LPS mm)."""

    first: int
    second: int
    distance_mm: float
    point_first: tuple[float, float, float]
    point_second: tuple[float, float, float]


def minimum_distance(labels: np.ndarray, geometry: Geometry, first: int, second: int) -> LabelDistance:
    """Minimum centre-to-centre distance between labels ``first`` and ``second`` (touching
    labels are one voxel apart), found with a k-d tree over the two labels' surface voxels."""
    if first == second:
        raise MeasurementError("give two different labels")
    a = _physical(geometry, _surface_indices(_mask_of(labels, first)))
    b = _physical(geometry, _surface_indices(_mask_of(labels, second)))
    from scipy.spatial import cKDTree  # noqa: PLC0415 - scipy.spatial loads when a distance is asked

    distances, nearest = cKDTree(b).query(a, k=1)
    best = int(np.argmin(distances))
    return LabelDistance(int(first), int(second), float(distances[best]),
                         tuple(map(float, a[best])), tuple(map(float, b[nearest[best]])))


# == RECIST ======================================================================================
@dataclass(frozen=True)
class Diameters:
    """RECIST-style diameters of a lesion on its axial slice of largest extent (LPS mm)."""

    label: int
    slice_axis: str  # the index axis across the axial slices: "k" for an axial acquisition
    slice_index: int
    long_mm: float
    long_points: tuple[tuple[float, float, float], tuple[float, float, float]]
    short_mm: float
    short_points: tuple[tuple[float, float, float], tuple[float, float, float]]


def axial_axis(geometry: Geometry) -> int:
    """The index axis (0 = i, 1 = j, 2 = k) closest to the patient's head-foot direction."""
    return int(np.argmax(np.abs(np.asarray(geometry.direction)[2])))


def recist_diameters(labels: np.ndarray, geometry: Geometry, value: int) -> Diameters:
    """Longest in-plane diameter over the (near-)axial slices of label ``value``, and the longest
    chord perpendicular to it on that slice. The lesion's extent is its pixels' outer corners."""
    mask = _mask_of(labels, value)
    axis_ijk = axial_axis(geometry)
    array_axis = 2 - axis_ijk
    in_plane = [a for a in range(3) if a != array_axis]  # array axes of the slice
    from scipy.spatial import ConvexHull  # noqa: PLC0415 - see minimum_distance

    spacing_kji = np.asarray(geometry.spacing[::-1])
    best = None
    for index in np.flatnonzero(mask.any(axis=tuple(in_plane))):
        pixels = np.argwhere(np.take(mask, index, axis=array_axis)).astype(np.float64)
        corners = (pixels[:, None, :] + np.array([[-.5, -.5], [-.5, .5], [.5, -.5], [.5, .5]])).reshape(-1, 2)
        plane_mm = corners * spacing_kji[in_plane]
        hull = plane_mm[ConvexHull(plane_mm).vertices] if len(pixels) > 1 else plane_mm
        gaps = np.linalg.norm(hull[:, None] - hull[None], axis=-1)
        first, second = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
        if best is None or gaps[first, second] > best[1]:
            best = (int(index), float(gaps[first, second]), hull[first], hull[second], plane_mm)
    index, long_mm, start, end, plane_mm = best
    along = (end - start) / long_mm
    across = np.array([-along[1], along[0]])
    # chords perpendicular to the long axis: corners binned by their place along it
    position = (plane_mm - start) @ along
    width = (plane_mm - start) @ across
    bins = np.floor(position / spacing_kji[in_plane].min()).astype(int)
    short_mm, short = 0.0, (start, start)
    for b in np.unique(bins):
        chosen = bins == b
        low, high = np.argmin(np.where(chosen, width, np.inf)), np.argmax(np.where(chosen, width, -np.inf))
        if width[high] - width[low] > short_mm:
            short_mm = float(width[high] - width[low])
            middle = position[chosen].mean()
            short = (start + along * middle + across * width[low], start + along * middle + across * width[high])

    def to_lps(point_mm) -> tuple[float, float, float]:
        kji = np.empty(3)
        kji[array_axis] = index
        kji[in_plane] = np.asarray(point_mm) / spacing_kji[in_plane]
        return tuple(map(float, _physical(geometry, kji)))

    return Diameters(int(value), "ijk"[axis_ijk], index, long_mm, (to_lps(start), to_lps(end)),
                     short_mm, (to_lps(short[0]), to_lps(short[1])))


#: Slack of the sphere-containment test of the distance ridge, in voxels.
RIDGE_TOLERANCE = 0.5


# == local thickness =============================================================================
@dataclass
class Thickness:
    """Local thickness of a label (mm per voxel, 0 outside) and its statistics."""

    label: int
    map_mm: np.ndarray  # float32, the label map's shape
    statistics: dict = field(default_factory=dict)


def boundary_distance(mask: np.ndarray, spacing_kji) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) from each voxel centre of ``mask`` to the label's boundary: the Euclidean
    distance to the nearest outside voxel's centre, less the stretch of that line inside the
    outside voxel (so a slab n voxels thick is n voxels thick, not n + 1). Also returns the
    index steps ``(3, *shape)`` from each voxel to that nearest outside voxel."""
    spacing = np.asarray(spacing_kji, dtype=np.float64)
    distance, nearest = ndimage.distance_transform_edt(mask, sampling=spacing, return_indices=True)
    towards = nearest - np.indices(mask.shape)
    steps = np.abs(towards).max(axis=0)
    return np.where(mask, distance * (1 - 0.5 / np.maximum(steps, 1)), 0.0), towards


def _midway_radii(radius: np.ndarray, towards: np.ndarray, centres: np.ndarray, spacing) -> np.ndarray:
    """Radii of ridge ``centres`` with the medial surface placed half a voxel away where it lies
    between two voxel centres: when the neighbour on the side away from the nearest boundary
    is as far from the opposite boundary (a wall an even number of voxels thick), the largest
    sphere is centred between them and half a voxel larger."""
    radii = radius[tuple(centres.T)].copy()
    steps = towards[(slice(None), *centres.T)].T  # (n, 3)
    axis = np.abs(steps).argmax(axis=1)
    away = centres.copy()
    away[np.arange(len(centres)), axis] -= np.sign(steps[np.arange(len(centres)), axis])
    inside = np.all((away >= 0) & (away < radius.shape), axis=1)
    plateau = np.zeros(len(centres), bool)
    rows = np.flatnonzero(inside)
    beyond = towards[(slice(None), *away[rows].T)].T  # the neighbour's own step to its boundary
    opposite = np.sign(beyond[np.arange(len(rows)), axis[rows]]) == -np.sign(steps[rows, axis[rows]])
    plateau[rows] = (radius[tuple(away[rows].T)] >= radii[rows] - 1e-6) & opposite
    radii[plateau] += np.asarray(spacing)[axis[plateau]] / 2
    return radii


def distance_ridge(radius: np.ndarray, spacing_kji, tolerance_voxels: float = RIDGE_TOLERANCE) -> np.ndarray:
    """Centres of the maximal inscribed spheres (the medial axis as a distance ridge, as
    BoneJ's Local Thickness): voxels whose sphere no neighbour's sphere contains, to within
    ``tolerance_voxels`` of the smallest spacing (on a grid, the containing neighbour's
    sphere is rarely larger by the full step: without slack most voxels would be centres)."""
    tolerance = tolerance_voxels * float(np.min(spacing_kji))
    ridge = radius > 0
    padded = np.pad(radius, 1)
    shape = radius.shape
    for offset in np.ndindex(3, 3, 3):
        step = np.asarray(offset) - 1
        if not step.any():
            continue
        length = float(np.linalg.norm(step * np.asarray(spacing_kji)))
        neighbour = padded[tuple(slice(1 + s, 1 + s + n) for s, n in zip(step, shape))]
        ridge &= neighbour < radius + length - tolerance  # not inside that neighbour's sphere
    return ridge


def local_thickness(labels: np.ndarray, geometry: Geometry, value: int, cancel=None) -> Thickness:
    """Each voxel's local thickness: the diameter of the largest sphere inside the label that
    contains it (Hildebrand & Rüegsegger 1997), with spheres centred on the distance ridge."""
    mask = _mask_of(labels, value)
    box = grow_box(bounding_box(mask), (1, 1, 1), mask.shape)
    crop = mask[box]
    spacing = np.asarray(geometry.spacing[::-1], dtype=np.float64)
    radius, towards = boundary_distance(crop, spacing)
    ridge = np.argwhere(distance_ridge(radius, spacing))
    radii = _midway_radii(radius, towards, ridge, spacing)
    del towards
    order = np.argsort(radii, kind="stable")  # small spheres first: larger ones win
    # every voxel lies in its own inscribed sphere: the floor where no ridge sphere reaches it
    thickness = (2 * radius).astype(np.float32)
    for number, (centre, r) in enumerate(zip(ridge[order], radii[order])):
        if cancel is not None and number % 2000 == 0:
            cancel.raise_if_cancelled()
        reach = np.floor(r / spacing).astype(int)
        low, high = np.maximum(centre - reach, 0), np.minimum(centre + reach + 1, crop.shape)
        offsets = np.ogrid[tuple(slice(lo - c, hi - c) for lo, hi, c in zip(low, high, centre))]
        ball = sum((o * s) ** 2 for o, s in zip(offsets, spacing)) <= r * r
        window = thickness[tuple(slice(lo, hi) for lo, hi in zip(low, high))]
        window[ball] = np.maximum(window[ball], 2 * r)
    thickness[~crop] = 0
    full = np.zeros(mask.shape, np.float32)
    full[box] = thickness
    values = thickness[crop]
    statistics = {"mean_mm": float(values.mean()), "sd_mm": float(values.std()),
                  "median_mm": float(np.median(values)), "minimum_mm": float(values.min()),
                  "maximum_mm": float(values.max()), "p95_mm": float(np.percentile(values, 95)),
                  "voxels": int(values.size), "ridge_voxels": int(len(ridge))}
    return Thickness(int(value), full, statistics)
