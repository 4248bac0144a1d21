"""Euclidean "within a distance" on anisotropic grids, fast for small margins.

``within_distance(sources, r, spacing)`` marks every voxel whose centre lies within ``r``
millimetres of a source voxel's centre — a dilation by an exact ellipsoidal ball, and with
the sources inverted, an erosion. It is the squared Euclidean distance transform computed
axis by axis (Saito & Toriwaki's separable decomposition), truncated to the offsets that can
reach ``r``: a voxel's nearest source within ``r`` is at most ``r / spacing`` voxels away
along every axis. Each axis costs ``2·⌈r/s⌉ + 1`` vectorised ``minimum`` passes over a
float32 slab, so a 1 mm margin on a 512×512×300 volume takes about a second instead of the
tens of seconds (and gigabytes) of a full ``distance_transform_edt``. Slabs along the first
axis bound the memory.

Voxels outside the array are neither sources nor targets (as for
``scipy.ndimage.distance_transform_edt`` on the same array), so a label touching the volume
border is not eroded from it.
"""

from __future__ import annotations

import numpy as np

#: Slab thickness (array axis 0) processed at once; bounds the float32 working memory.
SLAB = 24


def _reach(margin_mm: float, spacing) -> list[int]:
    return [int(np.floor(margin_mm / s + 1e-9)) for s in spacing]


def _min_along(values: np.ndarray, axis: int, reach: int, step_mm: float, out: np.ndarray,
               scratch: np.ndarray) -> None:
    """out = min over |o| <= reach of values shifted by o along ``axis`` + (o·step)²."""
    out[...] = values
    for offset in range(1, reach + 1):
        weight = np.float32((offset * step_mm) ** 2)
        n = values.shape[axis]
        if offset >= n:
            break
        head = [slice(None)] * values.ndim
        tail = [slice(None)] * values.ndim
        head[axis], tail[axis] = slice(offset, None), slice(None, n - offset)
        head, tail = tuple(head), tuple(tail)
        # a source `offset` voxels before: out[x] = min(out[x], values[x - o] + w)
        np.add(values[tail], weight, out=scratch[head])
        np.minimum(out[head], scratch[head], out=out[head])
        # and `offset` voxels after: out[x] = min(out[x], values[x + o] + w)
        np.add(values[head], weight, out=scratch[tail])
        np.minimum(out[tail], scratch[tail], out=out[tail])


def within_distance(sources: np.ndarray, margin_mm: float, spacing) -> np.ndarray:
    """Voxels whose centre lies within ``margin_mm`` of a ``True`` voxel of ``sources``.

    Parameters
    ----------
    sources : 3D boolean array
    margin_mm : the distance (mm); a voxel exactly at it counts as within
    spacing : voxel size per array axis (mm), i.e. in the array's own axis order
    """
    sources = np.asarray(sources, dtype=bool)
    if margin_mm < 0:
        raise ValueError("the margin must not be negative")
    reach = _reach(margin_mm, spacing)
    limit = np.float32(margin_mm ** 2 * (1 + 1e-6) + 1e-9)
    result = np.zeros(sources.shape, dtype=bool)
    n0 = sources.shape[0]
    for start in range(0, n0, SLAB):
        stop = min(start + SLAB, n0)
        low, high = max(0, start - reach[0]), min(n0, stop + reach[0])
        block = sources[low:high]
        if not block.any():
            continue
        values = np.where(block, np.float32(0), np.float32(np.inf)).astype(np.float32, copy=False)
        scratch = np.empty_like(values)
        stage = np.empty_like(values)
        _min_along(values, 2, reach[2], float(spacing[2]), stage, scratch)
        _min_along(stage, 1, reach[1], float(spacing[1]), values, scratch)
        _min_along(values, 0, reach[0], float(spacing[0]), stage, scratch)
        result[start:stop] = stage[start - low:stop - low] <= limit
    return result


def dilate(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary dilation by a ball of ``radius_mm``."""
    return within_distance(mask, radius_mm, spacing)


def erode(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary erosion by a ball of ``radius_mm`` (the volume border does not erode)."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~within_distance(~mask, radius_mm, spacing)
