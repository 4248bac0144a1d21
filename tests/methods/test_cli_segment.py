"""``segviewer segment`` and ``segviewer methods``: the same method code, headless."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.evaluation.metrics import dice


def write_scribbles(path, scribbles, reference_path):
    reference = sitk.ReadImage(str(reference_path))
    image = sitk.GetImageFromArray(scribbles)
    image.CopyInformation(reference)
    sitk.WriteImage(image, str(path))


def test_methods_lists_the_registry(capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    for name in ("graphcut", "watershed", "threshold", "region_growing"):
        assert name in text
    assert "--param smoothness=2.0" in text
    assert main(["methods", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    graphcut = next(m for m in data if m["name"] == "graphcut")
    assert {p["name"] for p in graphcut["parameters"]} >= {"smoothness", "spatial_prior", "connectivity"}


def test_segment_writes_the_image_geometry(tmp_path, spleen_case, spleen_paths, capsys):
    image_path, label_path = spleen_paths
    scribbles = tmp_path / "scribbles.nii.gz"
    write_scribbles(scribbles, spleen_case.scribbles, image_path)
    out = tmp_path / "out.nii.gz"
    info = tmp_path / "info.json"
    assert main(["segment", str(image_path), "--method", "graphcut", "--scribbles", str(scribbles),
                 "-o", str(out), "--info", str(info), "-q"]) == 0
    written = sitk.ReadImage(str(out))
    source = sitk.ReadImage(str(image_path))
    assert written.GetSize() == source.GetSize()
    assert np.allclose(written.GetDirection(), source.GetDirection())
    assert np.allclose(written.GetOrigin(), source.GetOrigin())
    assert np.allclose(written.GetSpacing(), source.GetSpacing())
    labels = sitk.GetArrayFromImage(written)
    assert dice(labels == 1, spleen_case.reference == 1) >= 0.95
    assert json.loads(info.read_text())["info"]["classes"] == [0, 1]


def test_segment_writes_into_existing_labels_only_inside_the_roi(tmp_path, spleen_case, spleen_paths):
    image_path, _ = spleen_paths
    scribbles = np.full(spleen_case.scribbles.shape, 255, dtype=np.uint8)
    scribbles[12, 60:70, 60] = 1
    scribbles[12, 40, 40:90] = 0
    scribble_path = tmp_path / "s.nii.gz"
    write_scribbles(scribble_path, scribbles, image_path)
    existing = np.zeros(scribbles.shape, dtype=np.uint8)
    existing[0, 0:5, 0:5] = 9  # far outside the ROI
    existing_path = tmp_path / "existing.nii.gz"
    write_scribbles(existing_path, existing, image_path)
    out = tmp_path / "out.nii.gz"
    assert main(["segment", str(image_path), "--method", "watershed", "--scribbles", str(scribble_path),
                 "--labels", str(existing_path), "--roi-margin", "5", "-o", str(out), "-q"]) == 0
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert np.all(labels[0, 0:5, 0:5] == 9)
    assert np.all(labels[:, :, 100:] == 0)  # beyond the ROI (i 40..90 + ~7 voxels)


def test_segment_threshold_and_bad_input(tmp_path, spleen_paths, capsys):
    image_path, _ = spleen_paths
    out = tmp_path / "t.nii.gz"
    assert main(["segment", str(image_path), "--method", "threshold", "--param", "method=multi-otsu",
                 "--param", "classes=3", "-o", str(out), "-q"]) == 0
    assert set(np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(out))))) == {0, 1, 2}
    assert main(["segment", str(image_path), "--method", "nope", "-o", str(out)]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["segment", str(image_path), "--method", "graphcut", "-o", str(out)]) == 2
    assert "needs --scribbles" in capsys.readouterr().err
    assert main(["segment", str(image_path), "--method", "threshold", "--param", "bins=x", "-o", str(out)]) == 2
    assert main(["segment", str(image_path), "--method", "threshold", "--param", "classes=99",
                 "--param", "method=multi-otsu", "-o", str(out)]) == 2
    assert "maximum" in capsys.readouterr().err
    assert main(["segment", str(image_path), "--method", "threshold", "-o", str(image_path)]) == 2
