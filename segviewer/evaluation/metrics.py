"""Segmentation quality metrics in physical units.

Overlap (Dice, IoU, sensitivity, specificity, precision), volume difference (mL and %) and
surface distances (Hausdorff, HD95, average symmetric surface distance, all in mm) per label
and for the merged foreground; instance metrics (connected components as instances: counts,
detection F1 at an IoU threshold, panoptic quality) in :func:`instance_metrics`.

Conventions
-----------
* Arrays are in array order ``(k, j, i)``; ``spacing`` is given in the **same order**
  ``(sz, sy, sx)`` (as :attr:`MethodRequest.spacing_zyx`). A :class:`Geometry` may be passed
  instead and is converted (its ``spacing`` is ITK order ``(sx, sy, sz)``).
* Surfaces are the mask voxels removed by one binary erosion with the 6-connected cross
  (outside the array counts as background). Distances are Euclidean between voxel centres,
  computed with ``scipy.ndimage.distance_transform_edt(..., sampling=spacing)`` on a box
  cropped around both masks. This is MONAI's definition: HD95 is the larger of the two
  directed 95th percentiles (``monai.metrics.compute_hausdorff_distance(percentile=95)``),
  ASSD the mean of both directed distance sets pooled
  (``compute_average_surface_distance(symmetric=True)``).

Empty masks (never NaN; every value JSON-safe):

========================  ===========================  ====================================
case                      overlap                      distances (HD, HD95, ASSD)
========================  ===========================  ====================================
both empty                Dice = IoU = 1, sens = prec  0.0
                          = 1, volume diff 0 mL, 0 %
reference empty only      Dice = IoU = 0, sensitivity  ``empty_distance`` (default: the
                          = 0, volume diff % = None    diagonal of the image in mm, the
                                                       largest distance possible on the grid)
prediction empty only     Dice = IoU = 0, precision 0  same as above
========================  ===========================  ====================================

In general a ratio whose denominator is zero is 1.0 when prediction and reference agree on
that label (both empty) and 0.0 otherwise; ``volume_diff_percent`` is None (JSON null) when
the reference is empty and the prediction is not. ``empty`` in each record says which mask
was empty ("both", "reference", "prediction" or None) so aggregations can treat it apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from segviewer.io.jsonfile import json_safe  # noqa: F401  (one helper for every JSON writer)
from segviewer.model.geometry import Box, Geometry, bounding_box, grow_box, union_box

SpacingLike = Sequence[float] | Geometry | None

_CROSS_3D = ndimage.generate_binary_structure(3, 1)


# -- helpers ------------------------------------------------------------------------------
def spacing_zyx(spacing: SpacingLike, ndim: int = 3) -> tuple[float, ...]:
    """Spacing in array order; a Geometry is converted from ITK order; None = 1 mm."""
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, Geometry):
        sx, sy, sz = spacing.spacing
        return (sz, sy, sx)
    values = tuple(float(v) for v in spacing)
    if len(values) != ndim:
        raise ValueError(f"spacing has {len(values)} values for a {ndim}D array")
    if any(v <= 0 for v in values):
        raise ValueError(f"spacing must be positive, got {values}")
    return values


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Distance in mm between the centres of the first and last voxel (the grid's diameter)."""
    return float(math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(shape, spacing))))


def _ratio(numerator: float, denominator: float, agree: bool) -> float:
    if denominator == 0:
        return 1.0 if agree else 0.0
    return float(numerator) / float(denominator)


def _check_pair(pred: np.ndarray, ref: np.ndarray) -> None:
    if pred.shape != ref.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")


def _crop_box(a: np.ndarray, b: np.ndarray) -> Box | None:
    box = union_box(bounding_box(a), bounding_box(b))
    if box is None:
        return None
    return grow_box(box, (1,) * a.ndim, a.shape)


def surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels of a boolean mask: those one 6-connected erosion removes."""
    mask = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def directed_surface_distances(pred: np.ndarray, ref: np.ndarray,
                               spacing: SpacingLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each surface voxel of ``pred`` to ``ref``'s surface, and back.

    Both masks must be non-empty. Works on a box around both masks (plus one voxel).
    """
    pred = np.asarray(pred, dtype=bool)
    ref = np.asarray(ref, dtype=bool)
    _check_pair(pred, ref)
    sampling = spacing_zyx(spacing, pred.ndim)
    box = _crop_box(pred, ref)
    if box is None or not pred.any() or not ref.any():
        raise ValueError("surface distances need two non-empty masks")
    pred_surface = surface(pred[box])
    ref_surface = surface(ref[box])
    to_ref = ndimage.distance_transform_edt(~ref_surface, sampling=sampling)
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=sampling)
    return to_ref[pred_surface], to_pred[ref_surface]


@dataclass
class SurfaceDistances:
    hausdorff_mm: float
    hd95_mm: float
    assd_mm: float


def surface_distances(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None,
                      empty_distance: float | None = None, percentile: float = 95.0) -> SurfaceDistances:
    """Hausdorff, HD at ``percentile`` and ASSD in mm, with the empty-mask convention above."""
    pred = np.asarray(pred, dtype=bool)
    ref = np.asarray(ref, dtype=bool)
    _check_pair(pred, ref)
    sampling = spacing_zyx(spacing, pred.ndim)
    has_pred, has_ref = bool(pred.any()), bool(ref.any())
    if not has_pred and not has_ref:
        return SurfaceDistances(0.0, 0.0, 0.0)
    if not has_pred or not has_ref:
        worst = image_diagonal_mm(pred.shape, sampling) if empty_distance is None else float(empty_distance)
        return SurfaceDistances(worst, worst, worst)
    forward, backward = directed_surface_distances(pred, ref, sampling)
    hausdorff = max(float(forward.max()), float(backward.max()))
    hd = max(float(np.percentile(forward, percentile)), float(np.percentile(backward, percentile)))
    assd = float((forward.sum() + backward.sum()) / (forward.size + backward.size))
    return SurfaceDistances(hausdorff, hd, assd)


# -- simple entry points for others ----------------------------------------------------------
def dice(pred: np.ndarray, ref: np.ndarray, label: int | None = None) -> float:
    """Dice of two masks (non-zero = foreground), or of one ``label`` of two label maps.

    Both empty → 1.0; exactly one empty → 0.0.
    """
    if label is None:
        p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    else:
        p, r = np.asarray(pred) == label, np.asarray(ref) == label
    _check_pair(p, r)
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(r))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(p & r)) / total


def hd95(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None, label: int | None = None,
         empty_distance: float | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (MONAI's definition).

    ``spacing`` is in array order (z, y, x) or a Geometry. Both empty → 0; one empty →
    ``empty_distance`` (default: the image diagonal in mm).
    """
    if label is None:
        p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    else:
        p, r = np.asarray(pred) == label, np.asarray(ref) == label
    return surface_distances(p, r, spacing, empty_distance).hd95_mm


def nsd(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None, tolerance_mm: float = 2.0,
        label: int | None = None) -> float:
    """Normalised surface distance (surface Dice) at ``tolerance_mm``: the fraction of both
    masks' surface voxels lying within the tolerance of the other's surface (counted per
    surface voxel, not per area). Both empty → 1.0; exactly one empty → 0.0."""
    if label is None:
        p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    else:
        p, r = np.asarray(pred) == label, np.asarray(ref) == label
    _check_pair(p, r)
    if not p.any() or not r.any():
        return float(p.any() == r.any())
    forward, backward = directed_surface_distances(p, r, spacing_zyx(spacing, p.ndim))
    close = int((forward <= tolerance_mm).sum()) + int((backward <= tolerance_mm).sum())
    return close / (forward.size + backward.size)


def hausdorff(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None, label: int | None = None,
              empty_distance: float | None = None) -> float:
    """Maximum symmetric surface distance in mm (same conventions as :func:`hd95`)."""
    if label is None:
        p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    else:
        p, r = np.asarray(pred) == label, np.asarray(ref) == label
    return surface_distances(p, r, spacing, empty_distance).hausdorff_mm


# -- full per-label evaluation ----------------------------------------------------------------
@dataclass
class MaskMetrics:
    """All metrics of one binary comparison (one label, or the merged foreground)."""

    label: int | str
    dice: float
    iou: float
    sensitivity: float
    specificity: float
    precision: float
    volume_pred_ml: float
    volume_ref_ml: float
    volume_diff_ml: float  # prediction − reference
    volume_diff_percent: float | None  # 100 × (pred − ref) / ref; None when only ref is empty
    hausdorff_mm: float
    hd95_mm: float
    assd_mm: float
    tp: int
    fp: int
    fn: int
    tn: int
    empty: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def mask_metrics(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None, label: int | str = 1,
                 empty_distance: float | None = None, distances: bool = True) -> MaskMetrics:
    """Every metric for two boolean masks (``distances=False`` skips the surface distances)."""
    p = np.asarray(pred, dtype=bool)
    r = np.asarray(ref, dtype=bool)
    _check_pair(p, r)
    sampling = spacing_zyx(spacing, p.ndim)
    tp = int(np.count_nonzero(p & r))
    n_pred = int(np.count_nonzero(p))
    n_ref = int(np.count_nonzero(r))
    fp = n_pred - tp
    fn = n_ref - tp
    tn = int(p.size) - tp - fp - fn
    agree = n_pred == 0 and n_ref == 0
    empty = "both" if agree else "reference" if n_ref == 0 else "prediction" if n_pred == 0 else None
    voxel_ml = float(np.prod(sampling)) / 1000.0
    volume_pred = n_pred * voxel_ml
    volume_ref = n_ref * voxel_ml
    if n_ref:
        percent = 100.0 * (n_pred - n_ref) / n_ref
    else:
        percent = 0.0 if n_pred == 0 else None
    if distances:
        sd = surface_distances(p, r, sampling, empty_distance)
    else:
        sd = SurfaceDistances(float("nan"), float("nan"), float("nan"))
    return MaskMetrics(
        label=label,
        dice=_ratio(2 * tp, n_pred + n_ref, agree),
        iou=_ratio(tp, tp + fp + fn, agree),
        sensitivity=_ratio(tp, tp + fn, agree),
        specificity=_ratio(tn, tn + fp, fp == 0),
        precision=_ratio(tp, tp + fp, agree),
        volume_pred_ml=volume_pred,
        volume_ref_ml=volume_ref,
        volume_diff_ml=volume_pred - volume_ref,
        volume_diff_percent=percent,
        hausdorff_mm=sd.hausdorff_mm,
        hd95_mm=sd.hd95_mm,
        assd_mm=sd.assd_mm,
        tp=tp, fp=fp, fn=fn, tn=tn,
        empty=empty,
    )


@dataclass
class Evaluation:
    """Metrics per label, for the merged foreground, and the label-mean of the main figures."""

    per_label: dict[int, MaskMetrics]
    merged: MaskMetrics
    mean: dict[str, float | None]
    spacing_zyx: tuple[float, float, float]
    shape: tuple[int, ...]
    instances: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {
            "spacing_zyx": list(self.spacing_zyx),
            "shape": list(self.shape),
            "labels": {str(k): m.to_dict() for k, m in self.per_label.items()},
            "merged": self.merged.to_dict(),
            "mean": dict(self.mean),
        }
        if self.instances is not None:
            data["instances"] = self.instances
        if self.extra:
            data["extra"] = self.extra
        return json_safe(data)


MEAN_KEYS = ("dice", "iou", "sensitivity", "specificity", "precision", "hausdorff_mm", "hd95_mm", "assd_mm")


def evaluate(pred: np.ndarray, ref: np.ndarray, spacing: SpacingLike = None,
             labels: Iterable[int] | None = None, empty_distance: float | None = None,
             instances: bool = False, iou_threshold: float = 0.5) -> Evaluation:
    """Compare two label maps: per label (default: every non-zero value in either map) and merged.

    ``mean`` averages each figure over the labels (the empty-mask conventions apply, so a
    label missing from the prediction contributes Dice 0 and the worst distance).
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    _check_pair(pred, ref)
    sampling = spacing_zyx(spacing, pred.ndim)
    if labels is None:
        values = np.union1d(np.unique(pred), np.unique(ref))
        labels = [int(v) for v in values if v != 0]
    labels = [int(v) for v in labels]
    per_label = {k: mask_metrics(pred == k, ref == k, sampling, k, empty_distance) for k in labels}
    merged = mask_metrics(pred != 0, ref != 0, sampling, "merged", empty_distance)
    mean = {key: (float(np.mean([getattr(m, key) for m in per_label.values()])) if per_label else None)
            for key in MEAN_KEYS}
    result = Evaluation(per_label, merged, mean, sampling, tuple(pred.shape))
    if instances:
        result.instances = {str(k): instance_metrics(pred == k, ref == k, iou_threshold).to_dict()
                            for k in labels}
    return result


# -- instance level ----------------------------------------------------------------------
@dataclass
class InstanceMetrics:
    """Connected components as instances, matched one-to-one by IoU.

    ``f1`` is the detection F1 at ``iou_threshold`` (= RQ); ``pq = sq × rq``. With no
    instance in either mask every score is 1.0 (nothing to get wrong).
    """

    iou_threshold: float
    n_pred: int
    n_ref: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    sq: float
    rq: float
    pq: float
    matched_iou: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def connected_components(mask: np.ndarray, connectivity: int = 3) -> tuple[np.ndarray, int]:
    """Label the connected components of ``mask`` (connectivity 1 = faces, 3 = faces, edges
    and corners, i.e. 26-connected in 3D)."""
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    components, count = ndimage.label(np.asarray(mask, dtype=bool), structure=structure)
    return components, int(count)


def instance_metrics(pred: np.ndarray, ref: np.ndarray, iou_threshold: float = 0.5,
                     connectivity: int = 3) -> InstanceMetrics:
    """Instance counts, detection F1 and panoptic quality of two binary masks.

    Components are matched by maximum total IoU (Hungarian assignment) and a pair counts as
    a true positive when its IoU exceeds ``iou_threshold`` (for thresholds ≥ 0.5 the
    match is unique, as in Kirillov et al.'s PQ).
    """
    pred = np.asarray(pred, dtype=bool)
    ref = np.asarray(ref, dtype=bool)
    _check_pair(pred, ref)
    box = _crop_box(pred, ref)
    if box is None:
        return InstanceMetrics(iou_threshold, 0, 0, 0, 0, 0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    pred_cc, n_pred = connected_components(pred[box], connectivity)
    ref_cc, n_ref = connected_components(ref[box], connectivity)
    matched: list[float] = []
    if n_pred and n_ref:
        either = (pred_cc > 0) | (ref_cc > 0)
        pair = ref_cc[either].astype(np.int64) * (n_pred + 1) + pred_cc[either]
        counts = np.bincount(pair, minlength=(n_ref + 1) * (n_pred + 1)).reshape(n_ref + 1, n_pred + 1)
        ref_sizes = counts.sum(axis=1)[1:]
        pred_sizes = counts.sum(axis=0)[1:]
        intersection = counts[1:, 1:].astype(np.float64)
        union = ref_sizes[:, None] + pred_sizes[None, :] - intersection
        iou = np.where(union > 0, intersection / np.maximum(union, 1), 0.0)
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-iou)
        matched = sorted((float(iou[r, c]) for r, c in zip(rows, cols) if iou[r, c] > iou_threshold),
                         reverse=True)
    tp = len(matched)
    fp = n_pred - tp
    fn = n_ref - tp
    precision = _ratio(tp, n_pred, n_pred == 0 and n_ref == 0)
    recall = _ratio(tp, n_ref, n_pred == 0 and n_ref == 0)
    rq = _ratio(tp, tp + 0.5 * fp + 0.5 * fn, False)
    sq = float(np.mean(matched)) if matched else 0.0
    return InstanceMetrics(iou_threshold, n_pred, n_ref, tp, fp, fn, precision, recall, rq, sq, rq,
                           sq * rq, matched)
