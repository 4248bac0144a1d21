"""An image volume: one array in its stored dtype plus its geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segviewer.model.geometry import Geometry


def has_non_finite(array: np.ndarray) -> bool:
    """Whether ``array`` holds a NaN or ±inf, in one pass without a boolean temporary.

    A float64 sum is finite when every value is; an infinite sum of finite values needs
    values near 1e308 (never float32), so only then is each value looked at."""
    if not np.issubdtype(array.dtype, np.floating):
        return False
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is the point here
        total = array.sum(dtype=np.float64)
    if np.isfinite(total):
        return False
    return array.dtype.itemsize <= 4 or not bool(np.isfinite(array).all())


@dataclass(eq=False)
class ImageVolume:
    """A scalar 3D image.

    The array is held once, in the dtype it was stored with (``int16`` CT stays
    ``int16``); views and methods slice or crop it instead of copying it.
    ``array[k, j, i]`` is the voxel at index ``(i, j, k)``.
    """

    array: np.ndarray
    geometry: Geometry
    name: str = "image"
    path: Path | None = None
    #: Free-form facts from the reader (modality, DICOM series UID, ...).
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"an image volume is 3D, got an array of shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.shape:
            raise ValueError(
                f"array shape {self.array.shape} does not match geometry shape {self.geometry.shape}"
            )
        self._intensity_range: tuple[float, float] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.geometry.shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.geometry.spacing

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def intensity_range(self) -> tuple[float, float]:
        """(min, max) over finite voxels, computed once."""
        if self._intensity_range is None:
            if np.issubdtype(self.array.dtype, np.floating):
                low, high = np.nanmin(self.array), np.nanmax(self.array)
                if not np.isfinite(low) or not np.isfinite(high):
                    finite = self.array[np.isfinite(self.array)]
                    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
            else:
                low, high = self.array.min(), self.array.max()
            self._intensity_range = (float(low), float(high))
        return self._intensity_range

    def percentiles(self, low: float = 0.5, high: float = 99.5, max_samples: int = 1_000_000) -> tuple[float, float]:
        """Intensity percentiles estimated on a strided sample (fast on large volumes)."""
        flat = self.array.reshape(-1)
        step = max(1, flat.size // max_samples)
        sample = flat[::step]
        if np.issubdtype(sample.dtype, np.floating):
            sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return (0.0, 0.0)
        lo, hi = np.percentile(sample, [low, high])
        return float(lo), float(hi)

    def count_non_finite(self) -> int:
        """Voxels that are NaN or ±inf (0 for integer images); one slice at a time, so no
        volume-sized temporary is made."""
        if not has_non_finite(self.array):
            return 0
        return int(sum(np.count_nonzero(~np.isfinite(plane)) for plane in self.array))

    def add_note(self, text: str) -> None:
        """Add a line for the user to ``metadata["message"]`` (shown by the GUI's status bar
        and the command line's notes), keeping what is already there."""
        if text:
            self.metadata["message"] = "; ".join(filter(None, [self.metadata.get("message", ""), text]))

    def value_at(self, index: tuple[int, int, int]) -> float:
        i, j, k = index
        return float(self.array[k, j, i])
