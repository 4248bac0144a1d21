"""Intensity normalisation and resampling between the image grid and the model grid.

Both directions are done with SimpleITK in physical space, so that the probabilities a model
computes on its own grid land back exactly on the voxels of the request's grid (spacing,
origin and direction of the crop are kept; only the sampling differs).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from segviewer.methods.common import finite_image
from segviewer.model.geometry import Geometry


def normalize(array: np.ndarray, normalization: dict) -> np.ndarray:
    """A float32 copy of ``array`` normalised as a model card asks (NaN/±inf voxels as the
    lowest finite value: one NaN would otherwise make a z-score input all NaN)."""
    data, _ = finite_image(np.asarray(array, dtype=np.float32))
    kind = normalization.get("kind", "zscore")
    if kind == "zscore":
        mean = float(data.mean(dtype=np.float64))
        std = float(data.std(dtype=np.float64))
        return (data - mean) / max(std, 1e-6)
    if kind == "window":
        low, high = float(normalization["low"]), float(normalization["high"])
        b_min, b_max = float(normalization.get("b_min", 0.0)), float(normalization.get("b_max", 1.0))
        if normalization.get("clip", True):
            data = np.clip(data, low, high)
        return (data - low) / max(high - low, 1e-6) * (b_max - b_min) + b_min
    return data.copy()


def needs_resampling(geometry: Geometry, spacing: list[float] | None, tolerance: float = 1e-3) -> bool:
    return spacing is not None and not np.allclose(geometry.spacing, spacing, atol=tolerance, rtol=0)


def model_grid(geometry: Geometry, spacing: list[float]) -> Geometry:
    """The grid covering the same physical box as ``geometry`` with voxels of ``spacing``.

    Same direction; the first voxel's corner coincides with the image's first voxel corner
    so that the extents match (nnU-Net and MONAI ``Spacing`` do the same).
    """
    old_spacing = np.asarray(geometry.spacing)
    new_spacing = np.asarray(spacing, dtype=np.float64)
    extent = np.asarray(geometry.size) * old_spacing
    new_size = np.maximum(1, np.round(extent / new_spacing)).astype(int)
    # corner of voxel 0 (index -0.5) stays where it was
    corner = geometry.index_to_physical(-0.5 * np.ones(3))
    origin = corner + geometry.direction @ (0.5 * new_spacing)
    return Geometry(tuple(int(v) for v in new_size), tuple(new_spacing), tuple(origin), geometry.direction)


def _to_sitk(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    image = sitk.GetImageFromArray(array, isVector=False)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(float(v) for v in geometry.direction.reshape(-1)))
    return image


def resample(array: np.ndarray, source: Geometry, target: Geometry, *, linear: bool = True,
             default: float = 0.0) -> np.ndarray:
    """Resample a (k, j, i) array from ``source`` grid onto ``target`` grid."""
    image = _to_sitk(array, source)
    reference = _to_sitk(np.zeros(target.shape, dtype=np.uint8), target)
    interpolator = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
    out = sitk.Resample(image, reference, sitk.Transform(), interpolator, float(default), image.GetPixelID())
    return sitk.GetArrayFromImage(out)


def resample_channels(probabilities: np.ndarray, source: Geometry, target: Geometry) -> np.ndarray:
    """Resample ``(C, k, j, i)`` probabilities channel by channel (linear), renormalised."""
    out = np.stack([resample(np.ascontiguousarray(p), source, target, linear=True) for p in probabilities])
    total = out.sum(axis=0, keepdims=True)
    # outside the model grid nothing was predicted: call it background
    empty = total <= 1e-6
    if empty.any():
        out[0][empty[0]] = 1.0
        total = np.where(empty, 1.0, total)
    return (out / total).astype(np.float32)
