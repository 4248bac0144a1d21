"""The model grid: where a network sees the image, and the exact way back.

A card may ask for an orientation (``"RAS"``: index axes i, j, k point towards Right,
Anterior, Superior) and a spacing. Reorientation is a permutation and flips of the axes —
exact, done with NumPy. A spacing change is a resampling in physical space (SimpleITK).
The inverse mapping puts the network's output back on exactly the request's voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segviewer.model.geometry import Box, Geometry
from segviewer.methods.deep.preprocess import model_grid, needs_resampling, resample

# physical (LPS) unit vector each orientation letter points towards
_LETTER_VECTORS = {
    "L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1),
}


@dataclass
class Reorientation:
    """Index axis ``a`` of the new grid is index axis ``permutation[a]`` of the old one (i, j, k
    order), reversed where ``flips[a]``."""

    permutation: tuple[int, int, int]
    flips: tuple[bool, bool, bool]

    @property
    def identity(self) -> bool:
        return self.permutation == (0, 1, 2) and not any(self.flips)

    def apply(self, array: np.ndarray) -> np.ndarray:
        """(…, k, j, i) array on the old grid -> (…, k', j', i') on the new grid."""
        if self.identity:
            return array
        lead = array.ndim - 3
        # array axes in (k, j, i) order: index axis c lives at array axis lead + 2 - c
        axes = list(range(lead)) + [lead + 2 - self.permutation[2 - n] for n in range(3)]
        out = np.transpose(array, axes)
        flip_axes = [lead + 2 - a for a in range(3) if self.flips[a]]
        return np.flip(out, axis=flip_axes) if flip_axes else out

    def invert(self, array: np.ndarray) -> np.ndarray:
        """(…, k', j', i') on the new grid -> (…, k, j, i) on the old one."""
        if self.identity:
            return array
        lead = array.ndim - 3
        flip_axes = [lead + 2 - a for a in range(3) if self.flips[a]]
        if flip_axes:
            array = np.flip(array, axis=flip_axes)
        inverse = [0, 0, 0]
        for a, p in enumerate(self.permutation):
            inverse[p] = a
        axes = list(range(lead)) + [lead + 2 - inverse[2 - n] for n in range(3)]
        return np.transpose(array, axes)

    def box_to_old(self, box: Box, new_size: tuple[int, int, int]) -> Box:
        """A box on the new grid (array order) as a box on the old grid."""
        new_ranges = [(box[2 - a].start, box[2 - a].stop) for a in range(3)]  # per new index axis
        old_ranges = [None, None, None]
        for a, p in enumerate(self.permutation):
            lo, hi = new_ranges[a]
            if self.flips[a]:
                lo, hi = new_size[a] - hi, new_size[a] - lo
            old_ranges[p] = (lo, hi)
        return tuple(slice(*old_ranges[2 - n]) for n in range(3))  # type: ignore[return-value]


def reorientation_for(geometry: Geometry, letters: str | None) -> Reorientation:
    """The axis permutation and flips that make index axes point towards ``letters``."""
    if not letters:
        return Reorientation((0, 1, 2), (False, False, False))
    letters = letters.upper()
    if len(letters) != 3 or any(c not in _LETTER_VECTORS for c in letters):
        raise ValueError(f"orientation {letters!r} is not three of L/R, P/A, S/I")
    direction = geometry.direction
    permutation, flips, used = [], [], set()
    for letter in letters:
        target = np.asarray(_LETTER_VECTORS[letter], dtype=float)
        dots = direction.T @ target  # component of each index axis along the target
        order = np.argsort(-np.abs(dots))
        axis = next(int(a) for a in order if int(a) not in used)
        used.add(axis)
        permutation.append(axis)
        flips.append(bool(dots[axis] < 0))
    if len(used) != 3:
        raise ValueError(f"orientation {letters!r} names the same axis twice")
    return Reorientation(tuple(permutation), tuple(flips))  # type: ignore[arg-type]


def reoriented_geometry(geometry: Geometry, reorientation: Reorientation) -> Geometry:
    if reorientation.identity:
        return geometry
    size = [geometry.size[p] for p in reorientation.permutation]
    spacing = [geometry.spacing[p] for p in reorientation.permutation]
    columns = []
    first = [0.0, 0.0, 0.0]
    for a, p in enumerate(reorientation.permutation):
        column = geometry.direction[:, p].copy()
        if reorientation.flips[a]:
            column = -column
            first[p] = geometry.size[p] - 1
        columns.append(column)
    origin = geometry.index_to_physical(first)
    return Geometry(tuple(size), tuple(spacing), tuple(origin), np.stack(columns, axis=1))


@dataclass
class ModelGridMapping:
    """From the request grid to the network's grid and back."""

    image_geometry: Geometry
    oriented_geometry: Geometry
    model_geometry: Geometry
    reorientation: Reorientation
    resampled: bool

    @classmethod
    def plan(cls, geometry: Geometry, spacing: list[float] | None, orientation: str | None) -> "ModelGridMapping":
        reorientation = reorientation_for(geometry, orientation)
        oriented = reoriented_geometry(geometry, reorientation)
        if needs_resampling(oriented, spacing):
            return cls(geometry, oriented, model_grid(oriented, spacing), reorientation, True)
        return cls(geometry, oriented, oriented, reorientation, False)

    @property
    def identity(self) -> bool:
        return self.reorientation.identity and not self.resampled

    def to_model(self, array: np.ndarray) -> np.ndarray:
        """Image (k, j, i) -> model grid (float32, linear interpolation where resampled)."""
        if self.resampled:
            return resample(np.asarray(array, dtype=np.float32), self.image_geometry, self.model_geometry)
        return np.ascontiguousarray(self.reorientation.apply(array))

    def channels_to_image(self, data: np.ndarray) -> np.ndarray:
        """Model-grid (C, k, j, i) float data -> image grid (linear where resampled)."""
        if self.resampled:
            from segviewer.methods.deep.preprocess import resample_channels

            return resample_channels(data, self.model_geometry, self.image_geometry)
        return np.ascontiguousarray(self.reorientation.invert(data))

    def labels_to_image(self, labels: np.ndarray) -> np.ndarray:
        """Model-grid label array -> image grid (nearest neighbour where resampled)."""
        if self.resampled:
            return resample(labels, self.model_geometry, self.image_geometry, linear=False)
        return np.ascontiguousarray(self.reorientation.invert(labels))

    def box_labels_to_image(self, box: Box, labels: np.ndarray) -> tuple[Box, np.ndarray, np.ndarray | None]:
        """Labels of a model-grid box -> (image box, labels there, decided mask or None)."""
        if not self.resampled:
            return (self.reorientation.box_to_old(box, self.model_geometry.size),
                    np.ascontiguousarray(self.reorientation.invert(labels)), None)
        sub = self.model_geometry.cropped(box)
        corners = np.array([[i, j, k] for i in (-0.5, sub.size[0] - 0.5) for j in (-0.5, sub.size[1] - 0.5)
                            for k in (-0.5, sub.size[2] - 0.5)])
        index = self.image_geometry.physical_to_index(sub.index_to_physical(corners))
        low = np.clip(np.floor(index.min(axis=0)).astype(int), 0, None)
        high = np.minimum(np.ceil(index.max(axis=0)).astype(int) + 1, self.image_geometry.size)
        image_box = tuple(slice(int(low[c]), int(high[c])) for c in (2, 1, 0))
        target = self.image_geometry.cropped(image_box)
        out = resample(labels, sub, target, linear=False)
        inside = resample(np.ones(labels.shape, np.uint8), sub, target, linear=False).astype(bool)
        return image_box, out, inside
