"""The truncated separable distance test against SciPy's exact Euclidean transforms."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from segviewer.tools import cleanup
from segviewer.tools.kernels import ellipsoid_kernel
from segviewer.tools.morphology import dilate, erode, within_distance


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 30)),
       st.tuples(*[st.floats(0.3, 3.0)] * 3), st.floats(0.0, 6.0), st.floats(0.0, 0.3),
       st.integers(0, 2**31 - 1))
def test_within_distance_equals_the_exact_transform(shape, spacing, margin, density, seed):
    sources = np.random.default_rng(seed).random(shape) < density
    ours = within_distance(sources, margin, spacing)
    if sources.any():
        exact = ndimage.distance_transform_edt(~sources, sampling=spacing) <= margin * (1 + 1e-6) + 1e-9
    else:
        exact = np.zeros(shape, bool)
    np.testing.assert_array_equal(ours, exact)


def test_dilate_and_erode_match_scipy_with_the_ball_footprint(rng):
    spacing = (2.5, 0.8, 1.1)
    mask = ndimage.binary_opening(rng.random((30, 40, 35)) < 0.55, iterations=1)
    ball = ellipsoid_kernel(3.0, spacing)
    np.testing.assert_array_equal(dilate(mask, 3.0, spacing),
                                  ndimage.binary_dilation(mask, structure=ball))
    # SciPy erodes from the array border (border_value=0); ours does not: compare inside.
    ours = erode(mask, 3.0, spacing)
    theirs = ndimage.binary_erosion(mask, structure=ball, border_value=1)
    np.testing.assert_array_equal(ours, theirs)


def test_majority_vote_matches_a_full_correlation(rng):
    spacing = (2.0, 0.8, 0.8)
    mask = ndimage.binary_opening(rng.random((20, 40, 40)) < 0.6)
    ball = ellipsoid_kernel(2.0, spacing)
    votes = ndimage.correlate(mask.astype(np.int32), ball.astype(np.int32), mode="constant")
    expected = votes * 2 > int(ball.sum())
    np.testing.assert_array_equal(cleanup._majority_vote(mask, ball, 2.0, spacing), expected)
