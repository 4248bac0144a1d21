"""Fill between slices: shape-based interpolation of a label through unlabelled slices.

The user draws a label on a few slices along one axis (the key slices). For each pair of
neighbouring key slices, every slice between them gets the zero level set of the linear
blend of the two slices' signed distance maps (in millimetres, so anisotropic in-plane
spacing is respected) — Raya & Udupa's shape-based interpolation. By default both shapes
are first moved so their centroids meet at the linearly interpolated centroid, so a
structure that drifts between key slices (a vessel, a lesion on an oblique course) is
carried along instead of fading out where the two shapes do not overlap (plain blending
of signed distances leaves the middle empty then). Slices that already hold the label
are left alone.

:func:`interpolate_between_slices` returns a :class:`Preview` (box + crop + mask) without
touching the session; :func:`apply_preview` writes it as ONE undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import Box, bounding_box
from segviewer.model.session import LABELS
from segviewer.tools.brush import PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL, writable_mask
from segviewer.tools.kernels import spacing_kji


@dataclass
class Preview:
    """What an operation would write: ``values`` into ``box`` where ``mask`` is True."""

    box: Box
    mask: np.ndarray
    value: int
    key_slices: list[int]
    filled_slices: list[int]
    description: str = "Fill between slices"

    @property
    def voxel_count(self) -> int:
        return int(self.mask.sum())


def signed_distance(mask2d: np.ndarray, sampling) -> np.ndarray:
    """Signed distance (mm) of a 2D mask: negative inside, positive outside.

    Each pixel gets the distance to the nearest pixel of the other side, so the zero level
    lies between the border pixels and blending two equal masks gives the same mask back.
    """
    if not mask2d.any():
        return np.full(mask2d.shape, np.inf, dtype=np.float32)
    outside = ndimage.distance_transform_edt(~mask2d, sampling=sampling)
    inside = ndimage.distance_transform_edt(mask2d, sampling=sampling)
    return np.where(mask2d, -inside, outside).astype(np.float32)


def key_slices_of(labels: np.ndarray, value: int, axis: int) -> list[int]:
    """Indices along ``axis`` of the slices that hold ``value``."""
    other = tuple(a for a in range(3) if a != axis)
    return [int(v) for v in np.flatnonzero((labels == value).any(axis=other))]


def interpolate_between_slices(session, value: int | None = None, axis: int = 0,
                               paint_over: str = PAINT_OVER_BACKGROUND, over_label: int = 0,
                               key_slices: list[int] | None = None,
                               align_centroids: bool = True) -> Preview | None:
    """Interpolate label ``value`` (default: the active label) through the empty slices
    between its key slices along array ``axis`` (0 = axial). Returns a preview or None
    when fewer than two key slices exist or nothing would change.

    ``key_slices`` restricts which labelled slices are used as input; by default every
    slice holding the label is a key slice. ``align_centroids=False`` gives plain
    signed-distance blending.
    """
    value = int(session.active_label if value is None else value)
    labels = session.labels.array
    present = key_slices_of(labels, value, axis)
    keys = sorted(present if key_slices is None else [k for k in key_slices if k in present])
    if len(keys) < 2:
        return None
    # Crop to the in-plane box of all key slices, grown by 1 (so inside distances are
    # right at the crop edge) and by the largest centroid shift (so moved shapes fit).
    footprint = np.zeros([n for a, n in enumerate(labels.shape) if a != axis], dtype=bool)
    centroids = {}
    for key in keys:
        shape2d = np.take(labels, key, axis=axis) == value
        footprint |= shape2d
        centroids[key] = np.array(ndimage.center_of_mass(shape2d))
    reach = 1
    if align_centroids:
        for lower, upper in zip(keys[:-1], keys[1:]):
            reach = max(reach, 1 + int(np.ceil(np.abs(centroids[upper] - centroids[lower]).max())))
    plane_box = bounding_box(footprint)
    plane_box = tuple(slice(max(0, s.start - reach), min(n, s.stop + reach))
                      for s, n in zip(plane_box, footprint.shape))
    offset = np.array([s.start for s in plane_box], dtype=float)
    spacing = spacing_kji(session.geometry)
    sampling = tuple(s for a, s in enumerate(spacing) if a != axis)
    box = [None, None, None]
    box[axis] = slice(keys[0], keys[-1] + 1)
    rest = [a for a in range(3) if a != axis]
    box[rest[0]], box[rest[1]] = plane_box
    box = tuple(box)
    crop = labels[box]
    mask = np.zeros(crop.shape, dtype=bool)
    filled: list[int] = []
    key_set = set(present)
    locked = session.label_table.locked_values()
    distances: dict[int, np.ndarray] = {}

    def sdf(index: int) -> np.ndarray:
        if index not in distances:
            distances[index] = signed_distance(np.take(crop, index - keys[0], axis=axis) == value, sampling)
        return distances[index]

    for lower, upper in zip(keys[:-1], keys[1:]):
        if upper - lower < 2:
            continue
        d0, d1 = sdf(lower), sdf(upper)
        for index in range(lower + 1, upper):
            if index in key_set:
                continue  # a slice that already holds the label is the user's: keep it
            t = (index - lower) / (upper - lower)
            if align_centroids:
                c0, c1 = centroids[lower] - offset, centroids[upper] - offset
                target = (1.0 - t) * c0 + t * c1
                blend = ((1.0 - t) * ndimage.shift(d0, target - c0, order=1, mode="nearest")
                         + t * ndimage.shift(d1, target - c1, order=1, mode="nearest"))
            else:
                blend = (1.0 - t) * d0 + t * d1
            shape = blend <= 0
            local = index - keys[0]
            region = np.take(crop, local, axis=axis)
            shape &= writable_mask(region, paint_over, over_label, locked) & (region != value)
            if shape.any():
                index_slice = [slice(None)] * 3
                index_slice[axis] = local
                mask[tuple(index_slice)] = shape
                filled.append(index)
    if not mask.any():
        return None
    return Preview(box, mask, value, keys, filled)


def apply_preview(session, preview: Preview):
    """Write a preview as ONE undo step (locked labels stay protected)."""
    return session.apply_layer_crop(LABELS, preview.box, np.asarray(preview.value, dtype=np.uint16),
                                    preview.description, where=preview.mask)


__all__ = ["Preview", "interpolate_between_slices", "apply_preview", "signed_distance",
           "key_slices_of", "PAINT_OVER_BACKGROUND", "PAINT_OVER_LABEL"]
