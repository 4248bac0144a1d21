"""Fixtures for the worker tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def blob():
    """A bright ellipsoid in noise with a label stroke and background strokes."""
    rng = np.random.default_rng(0)
    shape, spacing = (24, 40, 40), (2.0, 1.0, 1.0)
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    inside = (((k - 12) * 2.0 / 14) ** 2 + ((j - 20) / 11) ** 2 + ((i - 20) / 9) ** 2) <= 1
    image = (100 + 60 * inside + rng.normal(0, 12, shape)).astype(np.int16)
    scribbles = np.full(shape, 255, dtype=np.uint8)
    scribbles[12, 15:25, 20] = 1
    scribbles[12, 2, 2:-2] = 0
    scribbles[12, -3, 2:-2] = 0
    return image, scribbles, inside, spacing
