"""Watershed from scribble markers on a gradient magnitude computed in mm.

Every scribbled class (background 0 and each label) is a marker; positive points add
markers of their label and negative points background markers. The flooding runs on
``|∇(G_σ * I)|`` with σ in millimetres (SimpleITK's recursive Gaussian uses the spacing),
with ``MorphologicalWatershedFromMarkers`` on the ROI only. Without a background marker the
ROI's border serves as background (the ROI then bounds the object).
"""

from __future__ import annotations

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
from segviewer.methods.common import claim_mask, label_dtype, require_seeds, sample, smoothing_applies, to_sitk
from segviewer.model.parameters import param


@dataclass
class WatershedParameters:
    sigma_mm: float = param(1.0, "Gaussian scale (mm) of the gradient magnitude: larger ignores finer "
                                 "edges and noise.", min=0.0, max=10.0, step=0.25)
    fully_connected: bool = param(False, "Flood through 26 neighbours instead of 6.")


#: The flooding runs on the gradient quantised to this many levels: ITK's priority queue is
#: about 5x faster on 16-bit levels than on floats, and the result is the same (only the
#: order of the levels matters).
LEVELS = 60_000


def gradient_magnitude(image: np.ndarray, spacing, sigma_mm: float) -> sitk.Image:
    """``|∇(G_σ * I)|`` (σ in mm), quantised to ``uint16``: the 99.9th percentile maps to
    ``LEVELS``, stronger edges are clipped there (they stay walls)."""
    itk = to_sitk(image.astype(np.float32, copy=False), spacing)
    if smoothing_applies(sigma_mm, spacing, image.shape):
        gradient = sitk.GradientMagnitudeRecursiveGaussian(itk, sigma=float(sigma_mm))
    else:
        gradient = sitk.GradientMagnitude(itk)
    values = sample(sitk.GetArrayViewFromImage(gradient))
    top = float(np.percentile(values, 99.9)) if values.size else 1.0
    scale = LEVELS / top if top > 0 else 1.0
    quantised = sitk.Cast(sitk.Clamp(gradient * scale, sitk.sitkFloat32, 0.0, float(LEVELS)), sitk.sitkUInt16)
    quantised.CopyInformation(gradient)
    return quantised


def watershed_from_markers(image: np.ndarray, seeds: np.ndarray, unannotated: int, spacing,
                           params: WatershedParameters,
                           border_background: bool = False) -> tuple[np.ndarray, list[int]]:
    """Class values per voxel (0 = background) and the classes present."""
    classes = sorted(int(v) for v in np.unique(seeds) if v != unannotated)
    markers = np.zeros(seeds.shape, dtype=np.uint32)
    for value in classes:
        markers[seeds == value] = value + 1  # ITK marker 0 means "no marker"
    if 0 not in classes and border_background:
        border = np.ones(seeds.shape, dtype=bool)
        border[1:-1, 1:-1, 1:-1] = False
        markers[border & (markers == 0)] = 1
        classes = [0] + classes
    if len(classes) < 2:
        raise MethodInputError("watershed needs markers of two classes at least: a label and background "
                               "(label 0), or two labels")
    gradient = gradient_magnitude(image, spacing, params.sigma_mm)
    marker_image = sitk.GetImageFromArray(markers)
    marker_image.CopyInformation(gradient)
    flooded = sitk.MorphologicalWatershedFromMarkers(gradient, marker_image, markWatershedLine=False,
                                                     fullyConnected=bool(params.fully_connected))
    result = sitk.GetArrayFromImage(flooded).astype(np.int64) - 1
    np.maximum(result, 0, out=result)
    return result.astype(label_dtype(max(classes))), classes


class WatershedMethod(Method):
    name = "watershed"
    title = "Watershed"
    description = ("Flood the gradient magnitude (σ in mm) from scribble markers: each label and background "
                   "(0) grow until they meet on the edges between them.")
    Parameters = WatershedParameters
    requires = frozenset({"scribbles"})
    uses_roi = True

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        params = request.params if isinstance(request.params, WatershedParameters) else self.default_parameters()
        seeds, unannotated = require_seeds(request, self.title)
        progress(0.1, "gradient magnitude and flooding")
        labels, classes = watershed_from_markers(request.image, seeds, unannotated, request.spacing_zyx, params,
                                                 border_background=not request.is_whole_volume)
        cancel.raise_if_cancelled()
        info = {"classes": classes, "sigma_mm": params.sigma_mm}
        progress(1.0, "done")
        return MethodResult(request.roi, labels, decided=claim_mask(labels, request.labels, classes), info=info)
