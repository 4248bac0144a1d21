"""Shared fixtures: the real data folder beside the project, and small synthetic volumes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEGVIEWER_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hippocampus(shared_data) -> Path:
    """The hippocampus crops in the nnU-Net raw layout (imagesTr, labelsTr)."""
    folder = shared_data / "hippocampus"
    if not (folder / "imagesTr").is_dir():
        pytest.skip("hippocampus images not in the shared data folder")
    return folder


@pytest.fixture(scope="session")
def spleen_paths(shared_data):
    folder = shared_data / "spleen_ct"
    return folder / "spleen_ct.nii.gz", folder / "spleen_ct_label.nii.gz"


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own settings folder (the model trust store lives there): a test
    never reads or writes the user's real ~/.config."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
