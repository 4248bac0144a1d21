"""``segviewer segment … --model M``: the shortcut for ``--param model=M`` of deep methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry

pytest.importorskip("torch")


@pytest.fixture
def blob_files(tmp_path):
    rng = np.random.default_rng(0)
    shape = (12, 24, 24)
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    inside = ((k - 6) / 4.5) ** 2 + ((j - 12) / 7) ** 2 + ((i - 12) / 6) ** 2 <= 1
    image = (100 + 60 * inside + rng.normal(0, 8, shape)).astype(np.int16)
    scribbles = np.full(shape, 255, np.uint8)
    scribbles[6, 9:15, 12] = 1
    scribbles[6, 2, 3:-3] = 0
    scribbles[6, -3, 3:-3] = 0
    geometry = Geometry(shape[::-1], (1.0, 1.0, 1.5), (0.0, 0.0, 0.0))
    paths = tmp_path / "image.nii.gz", tmp_path / "scribbles.nii.gz"
    sitk.WriteImage(image_to_sitk(image, geometry), str(paths[0]))
    sitk.WriteImage(image_to_sitk(scribbles, geometry), str(paths[1]))
    return paths, inside


def test_model_flag_sets_the_model_parameter(blob_files, tmp_path, capsys):
    (image, scribbles), inside = blob_files
    out, info = tmp_path / "out.nii.gz", tmp_path / "info.json"
    code = main(["segment", str(image), "--method", "finetune", "--model", "scratch", "--scribbles",
                 str(scribbles), "--param", "steps=4", "--whole-volume", "-o", str(out), "--info", str(info), "-q"])
    assert code == 0, capsys.readouterr().err
    facts = json.loads(info.read_text())["info"]
    assert facts["start"] == "scratch" and facts["steps"] == 4 and len(facts["loss_curve"]) == 4
    assert "entropy" not in facts  # maps are not written as text
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert labels.shape == inside.shape and (labels[inside] == 1).mean() > 0.5


def test_model_flag_on_a_method_without_a_model_is_an_error(blob_files, tmp_path, capsys):
    (image, scribbles), _ = blob_files
    code = main(["segment", str(image), "--method", "graphcut", "--model", "scratch", "--scribbles",
                 str(scribbles), "-o", str(tmp_path / "out.nii.gz")])
    err = capsys.readouterr().err
    assert code != 0 and "has no model" in err and "Traceback" not in err
    assert not (tmp_path / "out.nii.gz").exists()
