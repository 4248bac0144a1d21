"""Watershed from scribble markers."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, MethodInputError, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays


def _run(case, **kw):
    method = get_method("watershed")
    request = build_request_from_arrays(method, case.image.array, case.image.geometry, **kw)
    result = method.run(request, no_progress, CancelToken())
    return apply_result_to_array(np.zeros(case.reference.shape, dtype=np.uint8), result), result


def test_spleen(spleen_case):
    labels, result = _run(spleen_case, scribbles=spleen_case.scribbles)
    assert dice(labels == 1, spleen_case.reference == 1) > 0.9
    assert result.info["classes"] == [0, 1]


def test_multi_label_markers(hippocampus_dev):
    scores = []
    for case in hippocampus_dev[:5]:
        labels, result = _run(case, scribbles=case.scribbles)
        assert result.info["classes"] == [0, 1, 2]
        assert np.all(labels[case.scribbles == 2] == 2) and np.all(labels[case.scribbles == 1] == 1)
        scores.append([dice(labels == value, case.reference == value) for value in (1, 2)])
    assert np.mean(scores) > 0.5


def test_needs_two_classes_on_the_whole_volume(spleen_case):
    only = np.where(spleen_case.scribbles == 1, 1, 255).astype(np.uint8)
    with pytest.raises(MethodInputError, match="two classes"):
        _run(spleen_case, scribbles=only, whole_volume=True)
    labels, _ = _run(spleen_case, scribbles=only, margin_mm=10.0)  # ROI border = background
    assert labels.any()
