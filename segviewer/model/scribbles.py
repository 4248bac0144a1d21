"""Scribbles: sparse per-class marks on the label grid, kept apart from the label map.

Stored densely with a sentinel, exactly as written to disk (nnU-Net "ignore label"):
``0`` = background scribble, ``k`` = foreground scribble of label ``k``, and the dtype's
maximum (``UNANNOTATED``) = not annotated. Dense storage keeps brush strokes, undo and
cropping the same code paths as the label map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segviewer.model.geometry import Box, Geometry, bounding_box

BACKGROUND = 0
#: "Not annotated" for the usual uint8 scribbles (uint16 scribbles use 65535).
UNANNOTATED_UINT8 = 255


@dataclass(eq=False)
class Scribbles:
    """Per-class scribbles on ``geometry``'s grid."""

    array: np.ndarray
    geometry: Geometry

    def __post_init__(self) -> None:
        if self.array.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"scribbles are uint8 or uint16, got {self.array.dtype}")
        if tuple(self.array.shape) != self.geometry.shape:
            raise ValueError(
                f"scribble array shape {self.array.shape} does not match grid {self.geometry.shape}")

    @classmethod
    def empty(cls, geometry: Geometry, dtype: np.dtype | type = np.uint8) -> "Scribbles":
        dtype = np.dtype(dtype)
        return cls(np.full(geometry.shape, np.iinfo(dtype).max, dtype=dtype), geometry)

    @property
    def unannotated(self) -> int:
        """The reserved "not annotated" value (the dtype's maximum)."""
        return int(np.iinfo(self.array.dtype).max)

    def annotated_mask(self, box: Box | None = None) -> np.ndarray:
        region = self.array if box is None else self.array[box]
        return region != self.unannotated

    def is_empty(self) -> bool:
        return not self.annotated_mask().any()

    def classes(self) -> list[int]:
        """Scribbled class values (0 = background, k = label k), sorted."""
        values = np.unique(self.array)
        return [int(v) for v in values if v != self.unannotated]

    def bounding_box(self) -> Box | None:
        """Tightest box around every scribbled voxel."""
        return bounding_box(self.annotated_mask())

    def widen_if_needed(self, value: int) -> None:
        """Switch to uint16 (remapping the sentinel) when ``value`` would collide with it."""
        if value >= self.unannotated and self.array.dtype == np.uint8:
            wide = self.array.astype(np.uint16)
            wide[self.array == 255] = np.iinfo(np.uint16).max
            self.array = wide

    def clear(self) -> None:
        self.array.fill(self.unannotated)
