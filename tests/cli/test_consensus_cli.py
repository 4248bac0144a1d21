"""``segviewer consensus`` and ``segviewer agreement`` as a user runs them: outputs on the
masks' grid, float probability maps, one-line refusals, and inputs never overwritten."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import geometry_of, image_to_sitk
from segviewer.model.geometry import Geometry

GEOMETRY = Geometry((24, 20, 12), (0.8, 0.8, 2.0), (10.0, -5.0, 3.0), np.diag([1.0, -1.0, 1.0]))


@pytest.fixture
def masks(tmp_path) -> list[Path]:
    """Three raters' masks of two labels on one flipped, anisotropic grid."""
    rng = np.random.default_rng(7)
    truth = np.zeros(GEOMETRY.shape, np.uint8)
    truth[3:9, 4:16, 4:12] = 1
    truth[3:9, 4:16, 12:20] = 2
    paths = []
    for name in ("ann", "bob", "cy"):
        mask = truth.copy()
        mask[(truth > 0) & (rng.random(truth.shape) < 0.2)] = 0
        paths.append(tmp_path / f"{name}.nii.gz")
        sitk.WriteImage(image_to_sitk(mask, GEOMETRY), str(paths[-1]))
    return paths


def digests(paths) -> list[str]:
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("method", ["vote", "staple"])
def test_consensus_writes_labels_and_probability_maps(capsys, masks, tmp_path, method):
    before = digests(masks)
    out = tmp_path / "consensus.nii.gz"
    code, text, err = run(capsys, "consensus", *masks, "-o", out, "--method", method,
                          "--probabilities", tmp_path / "soft", "--json")
    assert code == 0, err
    summary = json.loads(text)
    assert summary["method"] == method and summary["raters"] == ["ann", "bob", "cy"]
    assert len(summary["raters_performance"]) == 6
    written = sitk.ReadImage(str(out))
    assert geometry_of(written).same_grid(GEOMETRY)
    arrays = [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in masks]
    expected = [sitk.LabelVotingImageFilter(), sitk.MultiLabelSTAPLEImageFilter()][method == "staple"]
    expected.SetLabelForUndecidedPixels(0)  # three raters, values 0 1 2 only where drawn: no ties here
    assert np.array_equal(sitk.GetArrayFromImage(written),
                          sitk.GetArrayFromImage(expected.Execute([sitk.GetImageFromArray(a) for a in arrays])))
    for label in (1, 2):
        soft = nib.load(str(tmp_path / f"soft_{label}.nii.gz"))
        assert soft.get_data_dtype() == np.float32
        values = np.asarray(soft.dataobj)
        assert 0.0 <= values.min() and values.max() <= 1.0 and values.max() > 0.9
    assert (tmp_path / "consensus.labels.json").is_file()
    assert digests(masks) == before


def test_consensus_table_names_the_tie_rule_and_each_rater(capsys, masks, tmp_path):
    code, text, _ = run(capsys, "consensus", masks[0], masks[1], "-o", tmp_path / "c.nii.gz")
    assert code == 0
    assert "tie rule: a tie goes to the smallest tied value" in text
    assert all(name in text for name in ("ann", "bob")) and "measured against the vote" in text


@pytest.mark.parametrize("target", ["mask", "sidecar", "probabilities"])
def test_outputs_never_overwrite_inputs(capsys, masks, tmp_path, target):
    sidecar = tmp_path / "ann.labels.json"
    sidecar.write_text(json.dumps({"labels": [{"value": 1, "name": "left"}]}))
    fourth = tmp_path / "dan_1.nii.gz"  # a rater whose file is named like a probability map
    fourth.write_bytes(masks[1].read_bytes())
    inputs = [*masks, fourth, sidecar]
    before = digests(inputs)
    output = tmp_path / "c.nii.gz"
    extra = {"mask": ["-o", masks[1]],
             "sidecar": ["-o", tmp_path / "ann.nii"],  # its label table would go to ann.labels.json
             "probabilities": ["-o", output, "--probabilities", tmp_path / "dan"]}[target]
    code, _, err = run(capsys, "consensus", *masks, fourth, *extra)
    assert code == 2 and err.startswith("segviewer: error: ") and len(err.strip().splitlines()) == 1, err
    assert "refusing to overwrite" in err
    assert digests(inputs) == before
    assert not output.exists() and not (tmp_path / "ann.nii").exists()


def test_masks_on_different_grids_are_refused(capsys, masks, tmp_path):
    other = tmp_path / "other.nii.gz"
    moved = Geometry(GEOMETRY.size, GEOMETRY.spacing, (12.0, -5.0, 3.0), GEOMETRY.direction)
    sitk.WriteImage(image_to_sitk(np.zeros(GEOMETRY.shape, np.uint8), moved), str(other))
    for command in (["consensus", masks[0], other, "-o", tmp_path / "c.nii.gz"], ["agreement", masks[0], other]):
        code, _, err = run(capsys, *command)
        assert code == 2 and "is not on the grid of" in err and "origin" in err, err
    code, _, err = run(capsys, "agreement", masks[0])
    assert code == 2 and "at least two masks" in err
    assert not (tmp_path / "c.nii.gz").exists()


def test_agreement_table_and_json(capsys, masks):
    code, text, err = run(capsys, "agreement", *masks)
    assert code == 0, err
    assert "Fleiss' kappa (all values, every voxel)" in text and text.count("ann") == 4  # 2 pairs x 2 labels
    code, text, _ = run(capsys, "agreement", *masks, "--json")
    data = json.loads(text)
    assert [p["label"] for p in data["pairs"]] == [1, 2] * 3
    assert 0.5 < data["fleiss_kappa"] < 1.0
    assert 0.5 < data["labels"]["2"]["mean_dice"] < 1.0


def test_a_probability_format_that_cannot_hold_floats_is_refused_before_any_work(capsys, masks, tmp_path):
    code, _, err = run(capsys, "consensus", *masks, "-o", tmp_path / "c.nii.gz", "--probabilities",
                       tmp_path / "soft.dcm")
    assert code == 2 and "cannot save a probability map as '.dcm'" in err
    assert not (tmp_path / "c.nii.gz").exists()
    code, _, err = run(capsys, "consensus", *masks, "-o", tmp_path / "c.nii.gz", "--probabilities",
                       tmp_path / "soft.nrrd", "--method", "staple")
    assert code == 0, err
    assert sitk.ReadImage(str(tmp_path / "soft_2.nrrd")).GetPixelID() == sitk.sitkFloat32
