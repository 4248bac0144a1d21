"""Thresholds: manual (lower/upper), Otsu, multi-Otsu with K classes, and the other
automatic histogram thresholds SimpleITK offers cheaply (Huang, Li, Triangle, Yen, …).

Automatic thresholds are computed on the ROI (the whole volume by default). A single
threshold labels the voxels above it (``side="above"``, e.g. bone or contrast in CT) or
below it; multi-Otsu with K classes writes K − 1 labels, class r ≥ 1 becoming label
``active_label + r − 1``. The thresholds found are reported in the result's info.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from segviewer.methods.base import (
    CancelToken,
    Method,
    MethodInputError,
    MethodRequest,
    MethodResult,
    Progress,
)
from segviewer.methods.common import claim_mask, label_dtype, sample, to_sitk
from segviewer.model.parameters import param

#: Single-threshold filters of SimpleITK, by the name the user picks.
AUTOMATIC = {
    "otsu": sitk.OtsuThresholdImageFilter,
    "huang": sitk.HuangThresholdImageFilter,
    "li": sitk.LiThresholdImageFilter,
    "triangle": sitk.TriangleThresholdImageFilter,
    "yen": sitk.YenThresholdImageFilter,
    "isodata": sitk.IsoDataThresholdImageFilter,
    "moments": sitk.MomentsThresholdImageFilter,
    "max-entropy": sitk.MaximumEntropyThresholdImageFilter,
    "renyi-entropy": sitk.RenyiEntropyThresholdImageFilter,
    "kittler-illingworth": sitk.KittlerIllingworthThresholdImageFilter,
    "intermodes": sitk.IntermodesThresholdImageFilter,
    "shanbhag": sitk.ShanbhagThresholdImageFilter,
}
METHODS = ("manual", "multi-otsu") + tuple(AUTOMATIC)


@dataclass
class ThresholdParameters:
    method: str = param("otsu", "How the threshold is chosen: manual (lower/upper), multi-Otsu with "
                                "K classes, or an automatic histogram method.", choices=METHODS)
    lower: float = param(math.nan, "Manual: lowest intensity labelled (empty = the Otsu threshold).")
    upper: float = param(math.nan, "Manual: highest intensity labelled (empty = the maximum).")
    side: str = param("above", "Automatic single thresholds: label the voxels above or below it.",
                      choices=("above", "below"))
    classes: int = param(3, "Multi-Otsu: number of classes K (K − 1 labels are written).", min=2, max=8)
    bins: int = param(256, "Histogram bins of the automatic methods.", min=16, max=4096)


def _float_image(array: np.ndarray, spacing) -> sitk.Image:
    return to_sitk(array.astype(np.float32, copy=False), spacing)


def automatic_threshold(array: np.ndarray, method: str, bins: int = 256, spacing=(1.0, 1.0, 1.0)) -> float:
    """The threshold an automatic method finds on ``array``."""
    if method not in AUTOMATIC:
        raise MethodInputError(f"unknown threshold method {method!r}; known: {', '.join(AUTOMATIC)}")
    flt = AUTOMATIC[method]()
    flt.SetNumberOfHistogramBins(int(bins))
    flt.SetInsideValue(0)
    flt.SetOutsideValue(1)
    flt.Execute(_float_image(array, spacing))
    return float(flt.GetThreshold())


def multi_otsu_thresholds(array: np.ndarray, classes: int, bins: int = 256, spacing=(1.0, 1.0, 1.0)) -> list[float]:
    flt = sitk.OtsuMultipleThresholdsImageFilter()
    flt.SetNumberOfThresholds(int(classes) - 1)
    flt.SetNumberOfHistogramBins(int(bins))
    flt.Execute(_float_image(array, spacing))
    return [float(t) for t in flt.GetThresholds()]


def histogram(array: np.ndarray, bins: int = 256, max_samples: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of ``array`` (a strided sample on large arrays) for the panel's plot."""
    values = sample(array, max_samples)
    if values.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return np.histogram(values, bins=bins, range=(low, high))


class ThresholdMethod(Method):
    name = "threshold"
    title = "Threshold"
    description = ("Label voxels by intensity: manual lower/upper, Otsu, multi-Otsu (K classes), or another "
                   "automatic histogram method (Huang, Li, Triangle, Yen, …).")
    Parameters = ThresholdParameters
    requires = frozenset()
    uses_roi = False

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        params = request.params if isinstance(request.params, ThresholdParameters) else self.default_parameters()
        image = request.image
        spacing = request.spacing_zyx
        label = int(request.active_label)
        progress(0.1, "computing the threshold")
        info: dict = {"method": params.method}
        if params.method == "multi-otsu":
            thresholds = multi_otsu_thresholds(image, params.classes, params.bins, spacing)
            cancel.raise_if_cancelled()
            regions = np.digitize(image, thresholds).astype(np.int32)  # 0 … K-1
            values = [label + r - 1 for r in range(1, len(thresholds) + 1)]
            top = max(values) if values else label
            lut = np.array([0] + values, dtype=label_dtype(top))
            labels = lut[regions]
            info.update(thresholds=thresholds, labels=values)
        else:
            if params.method == "manual":
                lower, upper = params.lower, params.upper
                if math.isnan(lower):
                    lower = automatic_threshold(image, "otsu", params.bins, spacing)
                if math.isnan(upper):
                    upper = float(np.max(image))
                if lower > upper:
                    raise MethodInputError(f"threshold: lower ({lower:g}) is above upper ({upper:g})")
                inside = (image >= lower) & (image <= upper)
                info.update(lower=float(lower), upper=float(upper))
            else:
                threshold = automatic_threshold(image, params.method, params.bins, spacing)
                inside = image > threshold if params.side == "above" else image <= threshold
                info.update(threshold=threshold, side=params.side)
            cancel.raise_if_cancelled()
            values = [label]
            labels = np.zeros(image.shape, dtype=label_dtype(label))
            labels[inside] = label
        info["voxels_labelled"] = int(np.count_nonzero(labels))
        progress(1.0, "done")
        return MethodResult(request.roi, labels, decided=claim_mask(labels, request.labels, values), info=info)
