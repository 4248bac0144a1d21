"""Thresholds on the spleen CT: automatic values match SimpleITK, results are labelled
and applied without touching other labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.methods.base import CancelToken, MethodInputError, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays
from segviewer.methods.threshold import AUTOMATIC, ThresholdParameters, histogram


def run(case, params, labels=None, active_label=1):
    method = get_method("threshold")
    request = build_request_from_arrays(method, case.image.array, case.image.geometry, params=params,
                                        labels=labels, active_label=active_label)
    return method.run(request, no_progress, CancelToken())


def test_default_roi_is_the_whole_volume(spleen_case):
    result = run(spleen_case, ThresholdParameters())
    assert tuple(s.stop - s.start for s in result.roi) == spleen_case.image.array.shape


def test_otsu_matches_simpleitk(spleen_case):
    result = run(spleen_case, ThresholdParameters(method="otsu"))
    image = sitk.Cast(sitk.ReadImage(str(spleen_case.image.path)), sitk.sitkFloat32)
    flt = sitk.OtsuThresholdImageFilter()
    flt.SetNumberOfHistogramBins(256)
    flt.Execute(image)
    assert result.info["threshold"] == pytest.approx(flt.GetThreshold())
    above = spleen_case.image.array > result.info["threshold"]
    assert np.array_equal(result.labels == 1, above)


@pytest.mark.parametrize("name", sorted(AUTOMATIC))
def test_every_automatic_method_reports_its_threshold(spleen_case, name):
    result = run(spleen_case, ThresholdParameters(method=name))
    low, high = spleen_case.image.intensity_range
    assert low <= result.info["threshold"] <= high
    assert result.info["voxels_labelled"] == int(np.count_nonzero(result.labels))


def test_multi_otsu_writes_k_minus_one_labels(spleen_case):
    result = run(spleen_case, ThresholdParameters(method="multi-otsu", classes=4), active_label=3)
    thresholds = result.info["thresholds"]
    assert len(thresholds) == 3 and thresholds == sorted(thresholds)
    assert result.info["labels"] == [3, 4, 5]
    assert set(np.unique(result.labels)) <= {0, 3, 4, 5}
    image = spleen_case.image.array
    assert np.all(result.labels[image > thresholds[-1]] == 5)


def test_manual_range_and_defaults(spleen_case):
    result = run(spleen_case, ThresholdParameters(method="manual", lower=50, upper=200))
    image = spleen_case.image.array
    assert np.array_equal(result.labels == 1, (image >= 50) & (image <= 200))
    auto = run(spleen_case, ThresholdParameters(method="manual"))
    assert auto.info["upper"] == pytest.approx(float(image.max()))
    assert not math.isnan(auto.info["lower"])
    with pytest.raises(MethodInputError, match="above upper"):
        run(spleen_case, ThresholdParameters(method="manual", lower=10, upper=0))


def test_result_leaves_other_labels_alone(spleen_case):
    image = spleen_case.image.array
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[image < -500] = 7  # another structure (air), below the threshold
    stale = np.argwhere((image > -400) & (image < -100))[0]
    labels[tuple(stale)] = 1  # an old voxel of the active label, below the new threshold
    result = run(spleen_case, ThresholdParameters(method="manual", lower=0, upper=5000), labels=labels)
    written = apply_result_to_array(labels.copy(), result)
    assert np.array_equal(written == 7, labels == 7)  # untouched
    assert written[tuple(stale)] == 0  # the active label's stale voxel is cleared
    assert np.array_equal(written == 1, (image >= 0) & (image <= 5000))


def test_histogram_for_the_panel(spleen_case):
    counts, edges = histogram(spleen_case.image.array, bins=64)
    assert counts.sum() > 0 and len(edges) == 65
