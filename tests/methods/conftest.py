"""Real cases for the method tests: the spleen CT and the hippocampus dev cases, with the
evaluation helper's simulated 3-slice scribbles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segviewer.evaluation.simulate import simulate_scribbles
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Case:
    def __init__(self, name, image, reference):
        self.name = name
        self.image = image  # ImageVolume
        self.reference = reference  # uint8 array
        self.spacing = tuple(image.geometry.spacing[::-1])
        self.scribbles = simulate_scribbles(reference, image.geometry, slices=3, seed=0)


@pytest.fixture(scope="session")
def spleen_case(spleen_paths):
    image_path, label_path = spleen_paths
    image = read_image(image_path)
    reference = read_label_map(label_path, image.geometry).label_map.array
    return Case("spleen", image, reference)


def hippocampus_dev_ids(count: int = 20) -> list[str]:
    split = json.loads((PROJECT_ROOT / "resources" / "splits" / "hippocampus.json").read_text())
    return split["validation"][:count]


@pytest.fixture(scope="session")
def hippocampus_dev(shared_data):
    folder = shared_data / "hippocampus"
    cases = []
    for case_id in hippocampus_dev_ids():
        image = read_image(folder / "imagesTr" / f"{case_id}.nii.gz")
        reference = read_label_map(folder / "labelsTr" / f"{case_id}.nii.gz", image.geometry).label_map.array
        cases.append(Case(case_id, image, reference))
    return cases


@pytest.fixture
def blob():
    """A bright ellipsoid in noise (2 x 1 x 1 mm voxels), with a stroke inside (1) and two
    background strokes (0): image, scribbles, true mask, spacing (array order)."""
    return blob_volume()


def blob_volume(shape=(24, 40, 40), spacing=(2.0, 1.0, 1.0), seed=0):
    rng = np.random.default_rng(seed)
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    centre = np.array(shape) / 2
    inside = (((k - centre[0]) * spacing[0] / 14) ** 2 + ((j - centre[1]) / 11) ** 2
              + ((i - centre[2]) / 9) ** 2) <= 1
    image = (100 + 60 * inside + rng.normal(0, 12, shape)).astype(np.int16)
    scribbles = np.full(shape, 255, dtype=np.uint8)
    mid = shape[0] // 2
    scribbles[mid, int(centre[1]) - 5:int(centre[1]) + 5, int(centre[2])] = 1
    scribbles[mid, 2, 2:-2] = 0
    scribbles[mid, -3, 2:-2] = 0
    return image, scribbles, inside, spacing
