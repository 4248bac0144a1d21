"""Bare sessions (no Qt) for driving tools with synthetic events."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import Session


def make_session(size=(40, 30, 20), spacing=(1.0, 1.0, 1.0), image=None, budget=None) -> Session:
    """A session on a grid of ``size`` (i, j, k) with a smooth synthetic int16 image."""
    geometry = Geometry(size, spacing, (0.0, 0.0, 0.0))
    if image is None:
        k, j, i = np.indices(geometry.shape)
        image = ((i * 3 + j * 2 + k) % 200).astype(np.int16)
    volume = ImageVolume(image, geometry, name="synthetic")
    kwargs = {} if budget is None else {"history_budget_bytes": budget}
    return Session(volume, **kwargs)


@pytest.fixture
def session() -> Session:
    return make_session()


@pytest.fixture
def aniso_session() -> Session:
    return make_session(size=(40, 30, 12), spacing=(0.5, 1.0, 2.5))


@pytest.fixture(name="make_session")
def make_session_fixture():
    """The :func:`make_session` factory, for tests that need a particular grid."""
    return make_session
