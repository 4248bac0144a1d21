"""Region growing from points or scribbles (SimpleITK's connected / confidence-connected).

Seeds: positive points and scribbles of each label grow that label; background scribbles
and negative points are barriers the region cannot cross. Each label grows on its own; a
voxel claimed by two labels goes to the one whose seed intensities are closest.

* ``confidence``: the interval is ``mean ± multiplier · std`` of the seeds' neighbourhood
  (radius in mm), re-estimated on the grown region ``iterations`` times.
* ``connected``: a fixed interval ``[lower, upper]``; left empty it is the seeds'
  intensity range widened by ``tolerance`` standard deviations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from segviewer.methods.base import (
    CancelToken,
    Method,
    MethodInputError,
    MethodRequest,
    MethodResult,
    Progress,
)
from segviewer.methods.common import claim_mask, label_dtype, require_seeds, smoothing_applies, to_sitk
from segviewer.model.parameters import param

#: At most this many seed voxels per label are handed to ITK (a stroke has thousands).
MAX_SEEDS = 400
#: Seeds fewer than this (a click rather than a stroke) take their statistics from the
#: neighbourhood of radius ``radius_mm`` around them.
FEW_SEEDS = 50


@dataclass
class RegionGrowingParameters:
    mode: str = param("confidence", "confidence: interval from the seeds' statistics, re-estimated; "
                                    "connected: a fixed lower/upper interval.",
                      choices=("confidence", "connected"))
    multiplier: float = param(2.0, "Confidence: width of the interval in standard deviations.",
                              min=0.1, max=10.0, step=0.1)
    iterations: int = param(0, "Confidence: times the statistics are re-estimated on the region.",
                            min=0, max=20)
    radius_mm: float = param(4.0, "Confidence: with a few seeds only (clicks), the first statistics come "
                                  "from this radius (mm) around them.", min=0.0, max=20.0, step=0.5)
    lower: float = param(math.nan, "Connected: lowest intensity (empty = from the seeds).")
    upper: float = param(math.nan, "Connected: highest intensity (empty = from the seeds).")
    tolerance: float = param(2.0, "Connected without lower/upper: the seeds' range widened by this many "
                                  "standard deviations.", min=0.0, max=10.0, step=0.1)
    smoothing_mm: float = param(0.0, "Gaussian smoothing (mm) of the image before growing (0 = none).",
                                min=0.0, max=10.0, step=0.5)
    bridge_mm: float = param(3.0, "Cut connections thinner than about twice this (mm) through which the "
                                  "region leaks into neighbouring structures (0 = keep all).",
                             min=0.0, max=20.0, step=0.5)
    fill_holes: bool = param(True, "Fill small holes enclosed by each grown region.")


def _seed_list(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """ITK indices (i, j, k) of up to MAX_SEEDS voxels of ``mask``, evenly picked."""
    where = np.argwhere(mask)
    if len(where) > MAX_SEEDS:
        where = where[np.linspace(0, len(where) - 1, MAX_SEEDS).astype(int)]
    return [(int(i), int(j), int(k)) for k, j, i in where]


def within_mm(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Voxels at most ``radius_mm`` from ``mask``: a dilation by a ball in mm, computed as a
    distance map (exact, and as cheap for a ball of a million voxels across - micrometre
    voxels - as for one of three)."""
    if not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius_mm + 1e-9


def eroded_mm(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from any voxel outside it (beyond the
    array counts as outside): an erosion by a ball in mm."""
    distance = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)
    return distance[1:-1, 1:-1, 1:-1] > radius_mm + 1e-9


def grow(image: np.ndarray, seeds: np.ndarray, barrier: np.ndarray, spacing,
         params: RegionGrowingParameters) -> np.ndarray:
    """The region grown from ``seeds`` (bool) that does not enter ``barrier`` (bool).

    Confidence mode is ITK's confidence-connected algorithm written with
    ``ConnectedThreshold`` so that barrier voxels never enter the statistics.
    """
    work = image.astype(np.float32)
    if smoothing_applies(params.smoothing_mm, spacing, work.shape):
        work = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(to_sitk(work, spacing), params.smoothing_mm))
    indices = _seed_list(seeds)
    seed_values = work[seeds]
    if params.mode == "confidence":
        neighbourhood = seeds
        if params.radius_mm > 0 and np.count_nonzero(seeds) < FEW_SEEDS:  # a click: too few to trust
            neighbourhood = within_mm(seeds, params.radius_mm, spacing)
        values = work[neighbourhood & ~barrier]
        mean, std = float(values.mean()), float(values.std())
        rounds = int(params.iterations) + 1
    else:
        mean, std = float(seed_values.mean()), float(seed_values.std())
        rounds = 1
    grown = seeds
    for round_ in range(rounds):
        if params.mode == "confidence":
            lower, upper = mean - params.multiplier * std, mean + params.multiplier * std
        else:
            lower, upper = params.lower, params.upper
            if math.isnan(lower):
                lower = min(float(seed_values.min()), mean - params.tolerance * std)
            if math.isnan(upper):
                upper = max(float(seed_values.max()), mean + params.tolerance * std)
        # seeds always belong, whatever the interval
        lower = min(lower, float(seed_values.min()))
        upper = max(upper, float(seed_values.max()))
        blocked = work
        if barrier.any():
            blocked = work.copy()
            blocked[barrier] = lower - 1.0 - abs(lower)
        region = sitk.ConnectedThreshold(to_sitk(blocked, spacing), seedList=indices, lower=float(lower),
                                         upper=float(upper), replaceValue=1)
        grown = sitk.GetArrayFromImage(region).astype(bool)
        if round_ + 1 < rounds:
            values = work[grown]
            if values.size < 2:
                break
            mean, std = float(values.mean()), float(values.std())
    grown |= seeds
    grown &= ~barrier
    if params.fill_holes:
        grown = fill_small_holes(grown, barrier)
    if params.bridge_mm > 0:
        grown = cut_bridges(grown, seeds, params.bridge_mm, spacing)
    return grown


def cut_bridges(region: np.ndarray, seeds: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Opening by reconstruction: erode by a ball of ``radius_mm``, keep the parts that hold
    a seed (or lie within the ball of one), grow them back within ``region``."""
    if radius_mm < min(spacing):
        return region  # the ball is one voxel: nothing to cut
    core = eroded_mm(region, radius_mm, spacing)
    if not core.any():
        return region
    components, count = ndimage.label(core, structure=np.ones((3, 3, 3), dtype=bool))
    near_seeds = within_mm(seeds, radius_mm, spacing)
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(components[near_seeds & core])] = True
    keep[0] = False
    kept = within_mm(keep[components], radius_mm, spacing) & region
    return kept | seeds


def fill_small_holes(region: np.ndarray, barrier: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """``region`` with its enclosed holes filled, except holes larger than ``fraction`` of the
    region (a region that grew into a shell around the body must not fill the body)."""
    filled = ndimage.binary_fill_holes(region)
    holes = filled & ~region & ~barrier
    if not holes.any():
        return region
    components, count = ndimage.label(holes)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    small = sizes <= fraction * max(int(region.sum()), 1)
    small[0] = False
    return region | small[components]


class RegionGrowingMethod(Method):
    name = "region_growing"
    title = "Region growing"
    description = ("Grow each label from its points or scribbles (confidence-connected or a fixed "
                   "interval); background scribbles and negative points are barriers.")
    Parameters = RegionGrowingParameters
    requires = frozenset({"scribbles", "points"})
    uses_roi = True

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        params = request.params if isinstance(request.params, RegionGrowingParameters) else self.default_parameters()
        seeds, unannotated = require_seeds(request, self.title)
        labels_present = sorted(int(v) for v in np.unique(seeds) if v not in (0, unannotated))
        if not labels_present:
            raise MethodInputError("region growing needs a point or a scribble of a label (not only background)")
        barrier = seeds == 0
        image = request.image
        spacing = request.spacing_zyx
        regions = []
        closeness = []
        for n, value in enumerate(labels_present):
            cancel.raise_if_cancelled()
            progress(n / len(labels_present), f"growing label {value}")
            mask = seeds == value
            grown = grow(image, mask, barrier | (seeds != unannotated) & ~mask, spacing, params)
            regions.append(grown)
            mean = float(image[mask].mean())
            closeness.append(np.abs(image.astype(np.float32) - mean) if len(labels_present) > 1 else None)
        labels = np.zeros(image.shape, dtype=label_dtype(max(labels_present)))
        if len(labels_present) == 1:
            labels[regions[0]] = labels_present[0]
        else:
            stacked = np.stack(regions)
            cost = np.where(stacked, np.stack(closeness), np.inf)
            best = np.argmin(cost, axis=0)
            claimed = stacked.any(axis=0)
            labels[claimed] = np.asarray(labels_present, dtype=labels.dtype)[best[claimed]]
        for value in labels_present:  # seeds always keep their label
            labels[seeds == value] = value
        info = {"labels": labels_present, "mode": params.mode,
                "voxels": {str(v): int(np.count_nonzero(labels == v)) for v in labels_present}}
        progress(1.0, "done")
        return MethodResult(request.roi, labels, decided=claim_mask(labels, request.labels, labels_present), info=info)
