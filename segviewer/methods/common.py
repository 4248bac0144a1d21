"""Small helpers shared by the classical methods (no Qt, no I/O)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from segviewer.methods.base import MethodInputError, MethodRequest
from segviewer.model.image import has_non_finite

#: Samples used to estimate robust intensity percentiles of a crop.
_PERCENTILE_SAMPLES = 200_000


def sample(array: np.ndarray, count: int = _PERCENTILE_SAMPLES) -> np.ndarray:
    """A strided sample of ``array`` (at most about ``count`` values, finite only)."""
    flat = array.reshape(-1)
    step = max(1, flat.size // count)
    values = flat[::step]
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    return values


def non_finite_voxels(array: np.ndarray) -> np.ndarray | None:
    """Where ``array`` is NaN or ±inf (missing data), or None when it is finite everywhere."""
    if not has_non_finite(array):
        return None
    return ~np.isfinite(array)


def finite_image(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``array`` with its NaN/±inf voxels replaced by its lowest finite value (as if they
    were the darkest tissue, the value resampling gives voxels outside an image), and
    where they were (None, and ``array`` itself, when there are none).

    Methods then see only numbers (graph cut and watershed crashed on NaN, Otsu found no
    threshold with ±inf, one NaN made a U-Net's input all NaN); the voxels themselves are
    never labelled (:func:`segviewer.methods.request.apply_result` leaves them alone).
    """
    invalid = non_finite_voxels(array)
    if invalid is None:
        return array, None
    if invalid.all():
        raise MethodInputError("every voxel of the region is NaN or infinite: nothing to segment")
    filled = np.array(array, copy=True)
    filled[invalid] = np.min(array, where=~invalid, initial=np.inf)
    return filled, invalid


def robust_range(array: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Intensity percentiles of ``array`` (estimated on a strided sample)."""
    values = sample(array)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def normalise(array: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[np.ndarray, float, float]:
    """``array`` mapped to float32 [0, 1] by its robust range (clipped); also the range."""
    lo, hi = robust_range(array, low, high)
    out = array.astype(np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    return out, lo, hi


def require_seeds(request: MethodRequest, title: str) -> tuple[np.ndarray, int]:
    """Scribbles plus point prompts (see :func:`seeds_with_points`), or a clear error."""
    found = seeds_with_points(request)
    if found is None:
        raise MethodInputError(f"{title} needs scribbles: draw a stroke of a label and one of "
                               "background (label 0) first")
    return found


def claim_mask(result: np.ndarray, current: np.ndarray | None, classes: Iterable[int]) -> np.ndarray:
    """Voxels a result may write: where it assigns one of ``classes`` (labels it segments)
    and where the current labels hold one of them (so a shrinking result clears them).
    Voxels of other labels that the result calls background are left alone."""
    values = [int(c) for c in classes if int(c) != 0]
    claimed = np.isin(result, values) if values else np.zeros(result.shape, dtype=bool)
    if current is not None and values:
        claimed |= np.isin(current, values)
    return claimed


def to_sitk(array: np.ndarray, spacing_zyx: Sequence[float]) -> sitk.Image:
    """A SimpleITK image of a crop with its spacing (origin and direction are irrelevant
    to the filters used here, which work in index space with physical spacing)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    return image


#: Smallest Gaussian scale, in voxels, that ITK's recursive Gaussian is used with: far below
#: a voxel (1 mm on 1 m voxels) it returns NaN, and it would not smooth anything anyway.
MIN_SIGMA_VOXELS = 0.05


def smoothing_applies(sigma_mm: float, spacing, shape) -> bool:
    """Whether a recursive Gaussian of ``sigma_mm`` can run on an array of ``shape`` with
    ``spacing``: a positive sigma, 4 voxels per axis, and not far below a voxel."""
    return sigma_mm > 0 and min(shape) >= 4 and sigma_mm >= MIN_SIGMA_VOXELS * max(spacing)


def label_dtype(max_value: int) -> type:
    return np.uint8 if max_value <= 255 else np.uint16


def seeds_with_points(request: MethodRequest, radius_mm: float = 1.5) -> tuple[np.ndarray, int] | None:
    """The request's scribbles with its point prompts added as small balls of seeds
    (a positive point of label ``k`` seeds ``k``, a negative point seeds background, 0),
    and the "not annotated" value. None when there are neither scribbles nor points."""
    if request.scribbles is None and not request.points:
        return None
    if request.scribbles is not None:
        seeds = np.array(request.scribbles, copy=True)
        unannotated = request.unannotated
    else:
        top = max([p.label for p in request.points] + [0])
        dtype = label_dtype(top + 1)
        unannotated = int(np.iinfo(dtype).max)
        seeds = np.full(request.image.shape, unannotated, dtype=dtype)
    if request.points:
        spacing = np.asarray(request.spacing_zyx)
        reach = np.maximum(np.floor(radius_mm / spacing).astype(int), 0)
        for point in request.points:
            value = point.label if point.positive else 0
            centre = np.asarray(point.index)
            low = np.maximum(centre - reach, 0)
            high = np.minimum(centre + reach + 1, seeds.shape)
            if np.any(high <= low):
                continue
            grid = np.ogrid[tuple(slice(a, b) for a, b in zip(low, high))]
            distance2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing))
            ball = distance2 <= max(radius_mm, 0.0) ** 2 + 1e-9
            region = seeds[tuple(slice(a, b) for a, b in zip(low, high))]
            region[ball] = value
    if not np.any(seeds != unannotated):
        return None
    return seeds, unannotated


#: Connectivity (6, 18 or 26 neighbours) -> the rank of SciPy's 3D binary structure.
_CONNECTIVITY_RANK = {6: 1, 18: 2, 26: 3}


def keep_scribbled_components(labels: np.ndarray, seeds: np.ndarray, connectivity: int,
                              background: int = 0) -> np.ndarray:
    """``labels`` with every connected part of a value that holds none of that value's
    ``seeds`` set to ``background``.

    ``seeds`` has the shape of ``labels`` and holds, where the user marked a voxel, the value
    marked there (any other number elsewhere). Parts are connected through ``connectivity``
    (6, 18 or 26) neighbours. A value with no seed anywhere is left whole: there is nothing
    to tell its parts apart. Returns ``labels`` itself when nothing changes, else a copy.

    Why: a learned or intensity-driven result also claims look-alike tissue far from every
    stroke (another organ of the same density); what the user marked is the anchor.
    """
    from scipy import ndimage

    if connectivity not in _CONNECTIVITY_RANK:
        raise ValueError(f"connectivity must be 6, 18 or 26, not {connectivity!r}")
    structure = ndimage.generate_binary_structure(3, _CONNECTIVITY_RANK[connectivity])
    out = labels
    for value in np.unique(labels):
        if value == background:
            continue
        marked = seeds == value
        if not marked.any():
            continue
        mask = labels == value
        seeded_voxels = mask & marked
        components, count = ndimage.label(mask, structure=structure)
        if count <= 1 and seeded_voxels.any():
            continue  # one part, and it holds a seed
        keep = np.zeros(count + 1, dtype=bool)
        keep[np.unique(components[seeded_voxels])] = True
        keep[0] = False
        drop = mask & ~keep[components]
        if drop.any():
            out = out.copy() if out is labels else out
            out[drop] = background
    return out
