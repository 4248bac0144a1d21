"""Real cases and a real two-worker Dask cluster for the batch tests.

Three small hippocampus MRI cases of the validation split (``images/``), their simulated
three-slice scribbles (``scribbles/``) and references (``labels/``); one cluster of two
worker processes per test module (starting one costs seconds on two cores)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from segviewer.evaluation.cases import Case, read_case, write_scribble_file
from segviewer.evaluation.simulate import simulate_scribbles

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CASE_COUNT = 3


def validation_ids(count: int) -> list[str]:
    split = json.loads((PROJECT_ROOT / "resources" / "splits" / "hippocampus.json").read_text())
    return split["validation"][:count]


@pytest.fixture(scope="session")
def batch_cases(shared_data, tmp_path_factory) -> Path:
    """``ROOT/images``, ``ROOT/scribbles`` and ``ROOT/labels`` of :data:`CASE_COUNT` cases."""
    root = tmp_path_factory.mktemp("batch_cases")
    for sub in ("images", "scribbles", "labels"):
        (root / sub).mkdir()
    source = shared_data / "hippocampus"
    for name in validation_ids(CASE_COUNT):
        image_path = shutil.copy(source / "imagesTr" / f"{name}.nii.gz", root / "images")
        label_path = shutil.copy(source / "labelsTr" / f"{name}.nii.gz", root / "labels")
        image, reference = read_case(Case(name, Path(image_path), Path(label_path)))
        scribbles = simulate_scribbles(reference, image.geometry, slices=3, seed=0)
        write_scribble_file(root / "scribbles" / f"{name}.nii.gz", scribbles, image.geometry)
    return root


@pytest.fixture(scope="module")
def cluster_address():
    """The scheduler of a real local cluster: two worker processes, one thread each (one per
    test module: no cluster outlives the batch tests)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address
