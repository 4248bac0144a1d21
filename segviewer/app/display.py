"""Display maths for the slice views: orientation, windowing and overlay colouring (app tier).

No Qt here, only NumPy, so all of it is tested and benchmarked without a display.

Display convention (radiological, as ITK-SNAP, 3D Slicer and most PACS show images)
----------------------------------------------------------------------------------
- **Axial**: viewed from the feet. Patient's right on the screen's left, anterior at the top.
- **Coronal**: viewed from the front. Patient's right on the screen's left, superior at the top.
- **Sagittal**: anterior on the screen's left, superior at the top.

A view shows the image on its own voxel grid: each view is normal to the image index axis
whose direction is closest to the anatomical axis of that view, and the two in-plane index
axes are assigned to screen right/down so that they point as closely as possible to the
conventional directions above (flipping an axis where needed). For an oblique image the
slices are therefore the image's own (slightly tilted) planes, never resampled, and the edge
letters are those of the nearest anatomical axes, as ITK-SNAP does.

Display coordinates are millimetres: ``x = column * column_spacing`` and
``y = row * row_spacing`` with voxel centres at integer columns/rows, so an anisotropic image
(0.8 x 0.8 x 5 mm) keeps its physical aspect ratio on screen.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from segviewer.model.geometry import Box, Geometry
from segviewer.tools.base import AXIAL, CORONAL, SAGITTAL

#: The three patient planes shown by the slice views (names used in menus and settings).
VIEW_NAMES = ("axial", "sagittal", "coronal")

# LPS unit vectors: +x = patient's Left, +y = Posterior, +z = Superior.
_X, _Y, _Z = np.eye(3)

#: For each view: (screen-right direction, screen-down direction, patient axis of the normal).
_CONVENTION = {
    "axial": (_X, _Y, 2),  # right on screen = patient L, down = P
    "coronal": (_X, -_Z, 1),  # right = L, down = I
    "sagittal": (_Y, -_Z, 0),  # right = P (anterior on the left), down = I
}

_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # positive / negative end of LPS x, y, z


def letter_of(vector: np.ndarray) -> str:
    """The anatomical letter (L/R/P/A/S/I) of the axis nearest to ``vector`` (LPS)."""
    axis = int(np.argmax(np.abs(vector)))
    positive, negative = _LETTERS[axis]
    return positive if vector[axis] > 0 else negative


def patient_axis_assignment(direction: np.ndarray) -> tuple[int, int, int]:
    """For index axes i, j, k the patient axis (0=x, 1=y, 2=z) each is shown along.

    A permutation maximising the summed alignment, so that even a 45-degree oblique image
    gets three distinct axes (nearest-axis per column could pick the same axis twice).
    """
    best, best_score = (0, 1, 2), -1.0
    for permutation in itertools.permutations(range(3)):
        score = sum(abs(direction[permutation[c], c]) for c in range(3))
        if score > best_score + 1e-9:
            best, best_score = permutation, score
    return best  # type: ignore[return-value]


@dataclass(frozen=True)
class SliceOrientation:
    """How one view maps the volume to the screen.

    Attributes
    ----------
    name : "axial", "coronal" or "sagittal"
    normal_index_axis, row_index_axis, column_index_axis : int
        Index axes (0 = i, 1 = j, 2 = k) normal to the slice, down the screen and across it.
    row_flipped, column_flipped : bool
        True when screen row/column increases as the index decreases.
    size : (rows, columns, slices)
    spacing : (row mm, column mm, slice mm)
    letters : dict
        Letter shown at each edge: "left", "right", "top", "bottom".
    """

    name: str
    normal_index_axis: int
    row_index_axis: int
    column_index_axis: int
    row_flipped: bool
    column_flipped: bool
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    letters: dict
    oblique: bool = False

    # -- axes in array order (arrays are [k, j, i]) ----------------------------------
    @property
    def normal_array_axis(self) -> int:
        """Array axis normal to the slice: what :class:`SliceEvent.axis` carries."""
        return 2 - self.normal_index_axis

    @property
    def slice_count(self) -> int:
        return self.size[2]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the displayed slice."""
        return self.size[0], self.size[1]

    @property
    def extent_mm(self) -> tuple[float, float]:
        """Width and height of the displayed slice in mm (voxel edges included)."""
        return self.size[1] * self.spacing[1], self.size[0] * self.spacing[0]

    # -- slicing --------------------------------------------------------------------
    def slice_box(self, slice_index: int) -> Box:
        """The array-order box of one slice (for comparing with changed boxes)."""
        box = [slice(None)] * 3
        box[self.normal_array_axis] = slice(int(slice_index), int(slice_index) + 1)
        return tuple(box)  # type: ignore[return-value]

    def extract(self, volume: np.ndarray, slice_index: int) -> np.ndarray:
        """The displayed slice of ``volume`` (a view: no copy), indexed [row, column]."""
        index: list = [slice(None)] * 3
        index[self.normal_array_axis] = int(slice_index)
        plane = volume[tuple(index)]
        # Remaining array axes, in order, are index axes sorted descending (k, j, i minus normal).
        remaining = [c for c in (2, 1, 0) if c != self.normal_index_axis]
        if remaining[0] != self.row_index_axis:
            plane = plane.T
        if self.row_flipped:
            plane = plane[::-1, :]
        if self.column_flipped:
            plane = plane[:, ::-1]
        return plane

    def extract_region(self, volume: np.ndarray, slice_index: int, rows: slice, columns: slice) -> np.ndarray:
        """``extract(volume, slice_index)[rows, columns]`` without touching the rest."""
        return self.extract(volume, slice_index)[rows, columns]

    def region_of_box(self, box: Box, slice_index: int) -> tuple[slice, slice] | None:
        """Display (rows, columns) touched by an array-order ``box`` on ``slice_index``,
        or None when the box does not cross the displayed slice."""
        normal = box[self.normal_array_axis]
        start = normal.start or 0
        stop = normal.stop if normal.stop is not None else self.size[2]
        if not start <= slice_index < stop:
            return None
        return (self._axis_range(box, self.row_index_axis, self.row_flipped, self.size[0]),
                self._axis_range(box, self.column_index_axis, self.column_flipped, self.size[1]))

    @staticmethod
    def _axis_range(box: Box, index_axis: int, flipped: bool, count: int) -> slice:
        part = box[2 - index_axis]
        start = part.start or 0
        stop = part.stop if part.stop is not None else count
        if flipped:
            start, stop = count - stop, count - start
        return slice(max(0, start), min(count, stop))

    # -- coordinates ---------------------------------------------------------------
    def index_to_display(self, index) -> tuple[float, float, float]:
        """Continuous index (i, j, k) to display (x mm, y mm, slice index)."""
        column = float(index[self.column_index_axis])
        row = float(index[self.row_index_axis])
        if self.column_flipped:
            column = self.size[1] - 1 - column
        if self.row_flipped:
            row = self.size[0] - 1 - row
        return column * self.spacing[1], row * self.spacing[0], float(index[self.normal_index_axis])

    def display_to_index(self, x: float, y: float, slice_index: float) -> tuple[float, float, float]:
        """Display (x mm, y mm) on slice ``slice_index`` to a continuous index (i, j, k)."""
        column = x / self.spacing[1]
        row = y / self.spacing[0]
        if self.column_flipped:
            column = self.size[1] - 1 - column
        if self.row_flipped:
            row = self.size[0] - 1 - row
        index = [0.0, 0.0, 0.0]
        index[self.column_index_axis] = column
        index[self.row_index_axis] = row
        index[self.normal_index_axis] = float(slice_index)
        return tuple(index)  # type: ignore[return-value]


def slice_orientations(geometry: Geometry) -> dict[str, SliceOrientation]:
    """The three view orientations (axial, sagittal, coronal) for ``geometry``."""
    direction = geometry.direction
    assignment = patient_axis_assignment(direction)
    index_of_patient_axis = {patient: index for index, patient in enumerate(assignment)}
    oblique = geometry.is_oblique()
    result = {}
    for name, (right, down, normal_patient_axis) in _CONVENTION.items():
        column_axis = index_of_patient_axis[int(np.argmax(np.abs(right)))]
        row_axis = index_of_patient_axis[int(np.argmax(np.abs(down)))]
        normal_axis = index_of_patient_axis[normal_patient_axis]
        column_flipped = float(direction[:, column_axis] @ right) < 0
        row_flipped = float(direction[:, row_axis] @ down) < 0
        # The real on-screen directions (they differ from the ideal ones when oblique).
        screen_right = direction[:, column_axis] * (-1 if column_flipped else 1)
        screen_down = direction[:, row_axis] * (-1 if row_flipped else 1)
        letters = {"right": letter_of(screen_right), "left": letter_of(-screen_right),
                   "bottom": letter_of(screen_down), "top": letter_of(-screen_down)}
        size = (geometry.size[row_axis], geometry.size[column_axis], geometry.size[normal_axis])
        spacing = (geometry.spacing[row_axis], geometry.spacing[column_axis], geometry.spacing[normal_axis])
        result[name] = SliceOrientation(name, normal_axis, row_axis, column_axis, row_flipped,
                                        column_flipped, size, spacing, letters, oblique)
    return result


# -- window / level ---------------------------------------------------------------------

#: CT presets as (window width, window level) in HU, the values radiology workstations use.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "Soft tissue": (400.0, 40.0),
    "Lung": (1500.0, -600.0),
    "Bone": (1800.0, 400.0),
    "Brain": (80.0, 40.0),
}


def looks_like_ct(intensity_range: tuple[float, float], modality: str | None = None) -> bool:
    """CT when the metadata says so, or when values span air (-1000 HU) to tissue."""
    if modality:
        return modality.upper() == "CT"
    low, high = intensity_range
    return low <= -900 and high >= 100


class GrayMapper:
    """Maps an image slice to ``uint8`` grey levels for a window [low, high].

    Integer images up to 16 bits go through a 65,536-entry lookup table (one gather per
    pixel, rebuilt only when the window changes); other types use clipped arithmetic in
    float32. Both give the same result: ``round(255 * (v - low) / (high - low))`` clipped.
    """

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.low, self.high = 0.0, 1.0
        self._lut: np.ndarray | None = None
        self._lut_for: tuple[float, float] | None = None
        self._uses_lut = self.dtype.kind in "iub" and self.dtype.itemsize <= 2

    def set_window(self, low: float, high: float) -> None:
        self.low, self.high = float(low), float(max(high, low + 1e-6))

    def _lookup(self) -> np.ndarray:
        if self._lut_for != (self.low, self.high):
            if self.dtype.itemsize == 1:
                values = np.arange(256, dtype=np.uint8).view(self.dtype).astype(np.float32)
            else:
                values = np.arange(65536, dtype=np.uint16).view(self.dtype).astype(np.float32)
            self._lut = self._scale(values)
            self._lut_for = (self.low, self.high)
        return self._lut  # type: ignore[return-value]

    def _scale(self, values: np.ndarray) -> np.ndarray:
        scale = np.float32(255.0 / (self.high - self.low))
        with np.errstate(over="ignore", invalid="ignore"):  # ±Inf voxels overflow, then clip
            out = (values - np.float32(self.low)) * scale
        np.clip(out, 0, 255, out=out)
        out[np.isnan(out)] = 0  # missing (NaN) voxels are drawn black, not as a cast's accident
        out += np.float32(0.5)
        return out.astype(np.uint8)

    def __call__(self, plane: np.ndarray) -> np.ndarray:
        if self._uses_lut:
            view = plane.view(np.uint8 if self.dtype.itemsize == 1 else np.uint16)
            return np.take(self._lookup(), view)
        values = plane.astype(np.float32)
        if values.dtype.kind == "f":
            np.nan_to_num(values, copy=False, nan=self.low)
        return self._scale(values)


# -- overlays ---------------------------------------------------------------------------

def outline_mask(labels: np.ndarray) -> np.ndarray:
    """True on labelled pixels that touch a pixel of another value (4-neighbourhood).

    The image edge does not count as a boundary, so a label cropped by a region update
    matches the same label computed on the whole slice when given a one-pixel margin.
    """
    edge = np.zeros(labels.shape, dtype=bool)
    differs = labels[1:, :] != labels[:-1, :]
    edge[1:, :] |= differs
    edge[:-1, :] |= differs
    differs = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= differs
    edge[:, :-1] |= differs
    edge &= labels != 0
    return edge


def colour_labels(labels: np.ndarray, lut: np.ndarray, outline: bool = False,
                  out: np.ndarray | None = None) -> np.ndarray:
    """RGBA ``uint8`` image of a label plane through ``lut`` (from :meth:`LabelTable.lookup_table`).

    Values beyond the table are shown transparent. In outline mode only boundary pixels
    keep their colour.
    """
    if labels.dtype == np.uint8 and lut.shape[0] < 256:
        lut = np.concatenate([lut, np.zeros((256 - lut.shape[0], 4), np.uint8)])
    elif labels.dtype != np.uint8 and lut.shape[0] < 65536:
        top = int(labels.max(initial=0))
        if top >= lut.shape[0]:
            lut = np.concatenate([lut, np.zeros((top + 1 - lut.shape[0], 4), np.uint8)])
    rgba = np.take(lut, labels, axis=0, out=out)
    if outline:
        rgba[~outline_mask(labels)] = 0
    return rgba


def heatmap_lut(name: str = "inferno", max_alpha: int = 200) -> np.ndarray:
    """256 RGBA entries of a perceptual colour map whose opacity ramps up with the value."""
    anchors = {
        # a few control points of matplotlib's maps (public domain colour data)
        "inferno": [(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                    (245, 125, 21), (250, 193, 39), (252, 255, 164)],
        "viridis": [(68, 1, 84), (70, 50, 127), (54, 92, 141), (39, 127, 142), (31, 161, 135),
                    (74, 194, 109), (159, 218, 58), (253, 231, 37)],
    }[name]
    stops = np.linspace(0, 255, len(anchors))
    positions = np.arange(256)
    lut = np.zeros((256, 4), dtype=np.uint8)
    for channel in range(3):
        lut[:, channel] = np.interp(positions, stops, [c[channel] for c in anchors]).round()
    lut[:, 3] = np.clip(np.linspace(0, max_alpha * 1.25, 256), 0, max_alpha).round()
    return lut


def colour_heatmap(values: np.ndarray, low: float, high: float, lut: np.ndarray) -> np.ndarray:
    """RGBA of a float plane (probabilities, uncertainty) through a 256-entry ``lut``."""
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / max(high - low, 1e-12))
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0, 255, out=scaled)
    return lut[scaled.astype(np.uint8)]
