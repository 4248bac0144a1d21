"""``segviewer evaluate`` and ``segviewer simulate`` on real files."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from segviewer.cli import main


def test_simulate_then_evaluate(shared_data, tmp_path, capsys):
    reference = shared_data / "hippocampus" / "labelsTr" / "hippocampus_001.nii.gz"
    scribbles = tmp_path / "s.nii.gz"
    points = tmp_path / "p.json"
    assert main(["simulate", str(reference), "-o", str(scribbles), "--slices", "2", "--seed", "4",
                 "--points", str(points)]) == 0
    written = sitk.ReadImage(str(scribbles))
    ref_image = sitk.ReadImage(str(reference))
    assert written.GetSize() == ref_image.GetSize()
    assert np.allclose(written.GetDirection(), ref_image.GetDirection())
    array = sitk.GetArrayFromImage(written)
    ref = sitk.GetArrayFromImage(ref_image)
    assert set(np.unique(array)) == {0, 1, 2, 255}
    assert np.all(ref[array == 1] == 1) and np.all(ref[array == 0] == 0)
    assert (tmp_path / "s.scribbles.json").exists()
    assert len(json.loads(points.read_text())["points"]) == 4
    capsys.readouterr()

    assert main(["evaluate", str(reference), str(reference), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["merged"]["dice"] == 1.0 and set(data["labels"]) == {"1", "2"}
    assert data["spacing_zyx"] == [1.0, 1.0, 1.0]

    prediction = tmp_path / "pred.nii.gz"
    shifted = np.roll(ref, 1, axis=1)
    image = sitk.GetImageFromArray(shifted)
    image.CopyInformation(ref_image)
    sitk.WriteImage(image, str(prediction))
    assert main(["evaluate", str(prediction), str(reference), "--instances"]) == 0
    text = capsys.readouterr().out
    assert "merged" in text and "HD95" in text and "PQ" in text


def test_evaluate_refuses_a_missing_file(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")]) != 0
    assert "error" in capsys.readouterr().err


def test_simulate_style(shared_data, tmp_path, capsys):
    """``--style one-slice`` draws on one slice per structure; ``--brush-radius`` still applies on top."""
    reference = shared_data / "hippocampus" / "labelsTr" / "hippocampus_001.nii.gz"
    one, thick = tmp_path / "one.nii.gz", tmp_path / "thick.nii.gz"
    assert main(["simulate", str(reference), "-o", str(one), "--style", "one-slice"]) == 0
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(one)))
    assert all(len(np.flatnonzero((array == label).any(axis=(1, 2)))) == 1 for label in (1, 2))
    assert main(["simulate", str(reference), "-o", str(thick), "--style", "one-slice", "--brush-radius", "2"]) == 0
    thicker = sitk.GetArrayFromImage(sitk.ReadImage(str(thick)))
    assert ((thicker == 1) | (thicker == 2)).sum() > ((array == 1) | (array == 2)).sum()
    capsys.readouterr()
