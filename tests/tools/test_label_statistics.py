"""Label statistics cross-checked against SimpleITK's label statistics filters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.io.images import image_to_sitk, read_image
from segviewer.model.geometry import Geometry
from segviewer.tools.statistics import format_table, label_statistics


def sitk_reference(image: np.ndarray, labels: np.ndarray, geometry: Geometry, full: bool = False):
    """Per-label facts from SimpleITK (bins set so its histogram median is exact)."""
    image_itk = image_to_sitk(image.astype(np.float64), geometry)
    labels_itk = image_to_sitk(labels, geometry)
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(labels_itk)
    intensity = sitk.LabelIntensityStatisticsImageFilter()
    low, high = float(image.min()), float(image.max())
    intensity.SetNumberOfBins(int(high - low) + 1)  # one bin per integer value
    intensity.Execute(labels_itk, image_itk)
    result = {}
    for value in shape.GetLabels():
        mask = image_to_sitk((labels == value).astype(np.uint8), geometry)
        parts = sitk.RelabelComponent(sitk.ConnectedComponent(mask, full))
        part_stats = sitk.LabelShapeStatisticsImageFilter()
        part_stats.Execute(parts)
        result[value] = {
            "count": shape.GetNumberOfPixels(value),
            "volume_mm3": shape.GetPhysicalSize(value),
            "bbox": shape.GetBoundingBox(value),
            "mean": intensity.GetMean(value), "std": intensity.GetStandardDeviation(value),
            "min": intensity.GetMinimum(value), "max": intensity.GetMaximum(value),
            "median": intensity.GetMedian(value),
            "parts_mm3": sorted((part_stats.GetPhysicalSize(p) for p in part_stats.GetLabels()),
                                reverse=True),
        }
    return result


def compare(rows, reference):
    assert {r.value for r in rows} == set(reference)
    for row in rows:
        ref = reference[row.value]
        assert row.voxel_count == ref["count"]
        assert row.volume_ml == pytest.approx(ref["volume_mm3"] / 1000.0, rel=1e-9)
        assert row.mean == pytest.approx(ref["mean"], rel=1e-9, abs=1e-9)
        assert row.std == pytest.approx(ref["std"], rel=1e-6)
        assert row.minimum == ref["min"] and row.maximum == ref["max"]
        assert row.median == pytest.approx(ref["median"], abs=1.0)
        assert tuple(row.bbox_index) + tuple(row.bbox_size) == tuple(ref["bbox"])
        assert row.component_count == len(ref["parts_mm3"])
        np.testing.assert_allclose(np.array(row.component_volumes_ml) * 1000.0, ref["parts_mm3"])


def test_spleen_statistics_match_simpleitk(spleen_paths):
    image = read_image(spleen_paths[0])
    labels = read_image(spleen_paths[1]).array.astype(np.uint8)
    rows = label_statistics(image.array, labels, image.geometry)
    compare(rows, sitk_reference(image.array, labels, image.geometry))
    spleen = rows[0]
    print(f"spleen: {spleen.voxel_count} voxels, {spleen.volume_ml:.1f} mL, "
          f"mean {spleen.mean:.1f} HU, {spleen.component_count} component(s)")


@pytest.mark.parametrize("full", [False, True])
def test_multi_label_components_on_an_oblique_grid(rng, full):
    direction = np.array([[0.0, -1.0, 0.0], [0.8, 0.0, 0.6], [-0.6, 0.0, 0.8]])
    geometry = Geometry((30, 25, 12), (0.7, 0.9, 2.5), (10.0, -20.0, 5.0), direction)
    image = rng.integers(-100, 300, size=geometry.shape).astype(np.int16)
    labels = np.zeros(geometry.shape, np.uint8)
    labels[1:4, 2:6, 3:9] = 1
    labels[6:9, 10:20, 2:5] = 1        # second component of label 1
    labels[5, 5, 5] = 1
    labels[6, 6, 6] = 1                # diagonal to (5,5,5): joined only with full connectivity
    labels[2:10, 15:24, 15:28] = 3
    rows = label_statistics(image, labels, geometry, full_connectivity=full)
    compare(rows, sitk_reference(image, labels, geometry, full))
    one = rows[0]
    assert one.component_count == (3 if full else 4)
    # the mm box holds every labelled voxel centre
    centres = geometry.index_to_physical(np.argwhere(labels == 1)[:, ::-1])
    assert (centres >= np.array(one.bbox_mm_min) - 1e-6).all()
    assert (centres <= np.array(one.bbox_mm_max) + 1e-6).all()


def test_values_subset_cancel_and_no_image(rng):
    geometry = Geometry((10, 10, 10), (1, 1, 1), (0, 0, 0))
    labels = np.zeros(geometry.shape, np.uint16)
    labels[0:2] = 2
    labels[5:7] = 300
    rows = label_statistics(None, labels, geometry, values=[300])
    assert [r.value for r in rows] == [300] and rows[0].mean is None
    assert label_statistics(None, labels, geometry, cancelled=lambda: True) == []
    assert "300" in format_table(label_statistics(None, labels, geometry))


def test_stats_command(spleen_paths, capsys):
    from segviewer.cli import main

    assert main(["stats", str(spleen_paths[0]), str(spleen_paths[1]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = data["statistics"][0]
    assert row["value"] == 1 and row["voxel_count"] == 96672
    assert row["component_count"] == 1
    assert main(["stats", str(spleen_paths[0]), str(spleen_paths[1])]) == 0
    assert "96672" in capsys.readouterr().out


def test_stats_command_refuses_a_mask_on_another_grid(spleen_paths, tmp_path, capsys):
    from segviewer.cli import main

    other = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    path = tmp_path / "other.nii.gz"
    sitk.WriteImage(other, str(path))
    assert main(["stats", str(spleen_paths[0]), str(path)]) != 0
    assert "other.nii.gz" in capsys.readouterr().err
