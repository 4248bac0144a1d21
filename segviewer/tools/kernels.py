"""Structuring elements in millimetres on anisotropic grids, and the boxes they cover.

Everything here works in array order ``(k, j, i)``; spacing is given in array order too
(``spacing_kji = geometry.spacing[::-1]``). Kernels are cached per (size, spacing, plane)
so a brush dab only slices a precomputed boolean array.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from segviewer.model.geometry import Box


def spacing_kji(geometry) -> tuple[float, float, float]:
    """The geometry's spacing in array order (k, j, i)."""
    return tuple(float(s) for s in geometry.spacing[::-1])  # type: ignore[return-value]


def _key(spacing) -> tuple[float, ...]:
    return tuple(round(float(s), 6) for s in spacing)


@lru_cache(maxsize=64)
def _ellipsoid(radius_mm: float, spacing: tuple[float, ...], flat_axis: int | None) -> np.ndarray:
    half = [int(np.floor(radius_mm / s + 1e-9)) for s in spacing]
    if flat_axis is not None:
        half[flat_axis] = 0
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    distance2 = sum((g * s) ** 2 for g, s in zip(grids, spacing))
    kernel = np.asarray(distance2 <= radius_mm ** 2 + 1e-9)
    kernel = np.broadcast_to(kernel, tuple(2 * h + 1 for h in half)).copy()
    centre = tuple(h for h in half)
    kernel[centre] = True  # a brush always paints at least the voxel under the mouse
    kernel.setflags(write=False)
    return kernel


def ellipsoid_kernel(radius_mm: float, spacing_kji, flat_axis: int | None = None) -> np.ndarray:
    """Boolean ball of ``radius_mm`` on a grid of ``spacing_kji`` (array order).

    With ``flat_axis`` set, the ball is one voxel thick along that array axis (a disc in
    the slice normal to it). The centre voxel is always included. The result is cached
    and read-only; its shape is odd along every axis, centred on the middle voxel.
    """
    return _ellipsoid(float(radius_mm), _key(spacing_kji), flat_axis)


def kernel_box(centre_kji, kernel_shape, volume_shape) -> tuple[Box, tuple[slice, ...]] | None:
    """The volume box a kernel centred at voxel ``centre_kji`` covers, and the matching
    slices of the kernel (both clipped to the volume); None when fully outside."""
    box, local = [], []
    for c, n, size in zip(centre_kji, kernel_shape, volume_shape):
        half = n // 2
        lo, hi = int(c) - half, int(c) + half + 1
        clo, chi = max(lo, 0), min(hi, int(size))
        if clo >= chi:
            return None
        box.append(slice(clo, chi))
        local.append(slice(clo - lo, chi - lo))
    return tuple(box), tuple(local)  # type: ignore[return-value]


def margin_voxels(margin_mm: float, spacing_kji) -> tuple[int, int, int]:
    """Whole voxels per axis (array order) needed to cover ``margin_mm``."""
    return tuple(int(np.ceil(margin_mm / s - 1e-9)) for s in spacing_kji)  # type: ignore[return-value]
