"""Metrics: synthetic cases with known answers, empty-mask conventions, and cross-checks
against MONAI's metric functions and SimpleITK's overlap and Hausdorff filters on real masks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from segviewer.evaluation import metrics as M
from segviewer.model.geometry import Geometry


def cube(shape=(20, 20, 20), low=5, high=15):
    mask = np.zeros(shape, dtype=bool)
    mask[low:high, low:high, low:high] = True
    return mask


# -- known answers -------------------------------------------------------------------------
def test_identical_masks_are_perfect():
    a = cube()
    m = M.mask_metrics(a, a, (2.0, 1.0, 1.0))
    assert m.dice == m.iou == m.sensitivity == m.precision == 1.0
    assert m.hausdorff_mm == m.hd95_mm == m.assd_mm == 0.0
    assert m.volume_diff_ml == 0.0 and m.volume_diff_percent == 0.0
    assert m.volume_ref_ml == pytest.approx(1000 * 2.0 / 1000.0)


def test_shifted_cube_distances_in_mm():
    ref = cube()
    pred = np.roll(ref, 2, axis=0)  # two slices along k; spacing 3 mm there
    m = M.mask_metrics(pred, ref, (3.0, 1.0, 1.0))
    assert m.dice == pytest.approx(2 * 800 / 2000)
    assert m.iou == pytest.approx(800 / 1200)
    assert m.hausdorff_mm == pytest.approx(6.0)
    assert m.sensitivity == pytest.approx(0.8) and m.precision == pytest.approx(0.8)
    assert M.hd95(pred, ref, (3.0, 1.0, 1.0)) == pytest.approx(m.hd95_mm)
    assert M.dice(pred, ref) == pytest.approx(0.8)


def test_geometry_spacing_is_converted_from_itk_order():
    ref = cube()
    pred = np.roll(ref, 2, axis=0)
    geometry = Geometry((20, 20, 20), (1.0, 1.0, 3.0), (0, 0, 0))  # sx, sy, sz
    assert M.hausdorff(pred, ref, geometry) == pytest.approx(6.0)
    assert M.spacing_zyx(geometry) == (3.0, 1.0, 1.0)


def test_volume_difference_sign_and_percent():
    ref = cube()
    pred = cube(low=5, high=14)  # 9³ = 729 of 1000
    m = M.mask_metrics(pred, ref, (1.0, 1.0, 1.0))
    assert m.volume_diff_ml == pytest.approx((729 - 1000) / 1000.0)
    assert m.volume_diff_percent == pytest.approx(-27.1)


# -- empty masks ---------------------------------------------------------------------------
def test_both_empty():
    z = np.zeros((5, 6, 7), dtype=bool)
    m = M.mask_metrics(z, z, (1, 1, 1))
    assert (m.dice, m.iou, m.sensitivity, m.precision, m.specificity) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.hausdorff_mm, m.hd95_mm, m.assd_mm) == (0.0, 0.0, 0.0)
    assert m.volume_diff_percent == 0.0 and m.empty == "both"
    assert M.dice(z, z) == 1.0 and M.hd95(z, z) == 0.0


@pytest.mark.parametrize("which", ["prediction", "reference"])
def test_one_empty_gives_zero_overlap_and_the_worst_finite_distance(which):
    full = cube((10, 10, 10), 2, 6)
    empty = np.zeros_like(full)
    pred, ref = (empty, full) if which == "prediction" else (full, empty)
    spacing = (2.0, 1.0, 0.5)
    m = M.mask_metrics(pred, ref, spacing)
    diagonal = math.sqrt((9 * 2.0) ** 2 + 9 ** 2 + (9 * 0.5) ** 2)
    assert m.dice == 0.0 and m.iou == 0.0 and m.empty == which
    assert m.hausdorff_mm == m.hd95_mm == m.assd_mm == pytest.approx(diagonal)
    if which == "reference":
        assert m.sensitivity == 0.0 and m.volume_diff_percent is None
    else:
        assert m.precision == 0.0 and m.volume_diff_percent == -100.0
    assert M.hd95(pred, ref, spacing, empty_distance=99.0) == 99.0
    text = json.dumps(M.json_safe(m.to_dict()), allow_nan=False)
    assert "NaN" not in text


def test_evaluate_multilabel_and_json():
    ref = np.zeros((20, 20, 20), dtype=np.uint8)
    ref[2:8, 2:8, 2:8] = 1
    ref[10:18, 10:18, 10:18] = 2
    pred = ref.copy()
    pred[pred == 2] = 0  # label 2 missed entirely
    pred[0, 0, 0] = 3  # a label that is not in the reference
    result = M.evaluate(pred, ref, (1, 1, 1), instances=True)
    assert set(result.per_label) == {1, 2, 3}
    assert result.per_label[1].dice == 1.0
    assert result.per_label[2].dice == 0.0 and result.per_label[2].empty == "prediction"
    assert result.per_label[3].empty == "reference"
    assert result.mean["dice"] == pytest.approx(1 / 3)
    assert 0 < result.merged.dice < 1
    data = result.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["instances"]["1"]["pq"] == 1.0


# -- instances ---------------------------------------------------------------------------
def test_instance_metrics_counts_f1_and_pq():
    ref = np.zeros((10, 40, 40), dtype=bool)
    ref[2:8, 2:10, 2:10] = True  # A, matched exactly by pred
    ref[2:8, 20:30, 20:30] = True  # B, matched with IoU 0.8 by pred
    ref[2:8, 2:6, 30:36] = True  # C, missed
    pred = np.zeros_like(ref)
    pred[2:8, 2:10, 2:10] = True
    pred[2:8, 20:30, 22:30] = True
    pred[2:8, 34:38, 2:6] = True  # a false positive
    inst = M.instance_metrics(pred, ref, 0.5)
    assert (inst.n_pred, inst.n_ref, inst.tp, inst.fp, inst.fn) == (3, 3, 2, 1, 1)
    assert inst.f1 == pytest.approx(2 / 3)
    assert inst.sq == pytest.approx((1.0 + 0.8) / 2)
    assert inst.pq == pytest.approx(inst.sq * inst.rq)
    assert M.instance_metrics(pred, ref, 0.9).tp == 1
    empty = M.instance_metrics(np.zeros_like(ref), np.zeros_like(ref))
    assert empty.pq == 1.0 and empty.n_pred == 0


# -- cross-checks on real masks -------------------------------------------------------------
def _perturbed(ref: np.ndarray) -> np.ndarray:
    eroded = ndimage.binary_erosion(ref, iterations=1)
    return np.roll(eroded, (1, 2, -1), axis=(0, 1, 2)) | np.roll(ref, 3, axis=2) & ~np.roll(ref, 1, axis=1)


def _cases(shared_data):
    import SimpleITK as sitk

    spleen = sitk.ReadImage(str(shared_data / "spleen_ct" / "spleen_ct_label.nii.gz"))
    hippo = sitk.ReadImage(str(shared_data / "hippocampus" / "labelsTr" / "hippocampus_001.nii.gz"))
    cases = [("spleen", spleen, 1)]
    cases += [(f"hippocampus label {k}", hippo, k) for k in (1, 2)]
    for name, image, label in cases:
        ref = sitk.GetArrayFromImage(image) == label
        sx, sy, sz = image.GetSpacing()
        yield name, image, ref, _perturbed(ref), (sz, sy, sx)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_against_monai(shared_data):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    for name, _, ref, pred, spacing in _cases(shared_data):
        ours = M.mask_metrics(pred, ref, spacing)
        p = torch.from_numpy(pred[None, None].astype(np.float32))
        r = torch.from_numpy(ref[None, None].astype(np.float32))
        dice_metric = monai_metrics.DiceMetric(include_background=True, reduction="mean")
        dice_metric(y_pred=p, y=r)
        assert ours.dice == pytest.approx(float(dice_metric.aggregate()), abs=1e-6), name
        hd = float(monai_metrics.compute_hausdorff_distance(p, r, spacing=spacing))
        hd95 = float(monai_metrics.compute_hausdorff_distance(p, r, percentile=95, spacing=spacing))
        asd = float(monai_metrics.compute_average_surface_distance(p, r, symmetric=True, spacing=spacing))
        assert ours.hausdorff_mm == pytest.approx(hd, rel=1e-5), name
        assert ours.hd95_mm == pytest.approx(hd95, rel=1e-5), name
        assert ours.assd_mm == pytest.approx(asd, rel=1e-5), name


def test_against_simpleitk(shared_data):
    import SimpleITK as sitk

    for name, image, ref, pred, _ in _cases(shared_data):
        spacing = M.spacing_zyx(tuple(reversed(image.GetSpacing())))
        ours = M.mask_metrics(pred, ref, spacing)
        pred_image = sitk.GetImageFromArray(pred.astype(np.uint8))
        pred_image.CopyInformation(image)
        ref_image = sitk.GetImageFromArray(ref.astype(np.uint8))
        ref_image.CopyInformation(image)
        overlap = sitk.LabelOverlapMeasuresImageFilter()
        overlap.Execute(pred_image, ref_image)
        assert ours.dice == pytest.approx(overlap.GetDiceCoefficient(), abs=1e-9), name
        assert ours.iou == pytest.approx(overlap.GetJaccardCoefficient(), abs=1e-9), name
        assert 1 - ours.sensitivity == pytest.approx(overlap.GetFalseNegativeError(), abs=1e-9), name
        # ITK's filter measures from every voxel of one mask to the other mask; run it on
        # the 6-connected boundaries (BinaryContourImageFilter) to get our surface distances.
        contours = []
        for mask_image in (pred_image, ref_image):
            contour = sitk.BinaryContourImageFilter()
            contour.SetFullyConnected(False)
            contour.SetForegroundValue(1)
            contour.SetBackgroundValue(0)
            contours.append(contour.Execute(mask_image))
        hausdorff = sitk.HausdorffDistanceImageFilter()
        hausdorff.Execute(contours[0], contours[1])
        assert ours.hausdorff_mm == pytest.approx(hausdorff.GetHausdorffDistance(), rel=1e-6), name
        forward, backward = M.directed_surface_distances(pred, ref, spacing)
        assert 0.5 * (forward.mean() + backward.mean()) == pytest.approx(
            hausdorff.GetAverageHausdorffDistance(), rel=1e-6), name
        # on the masks themselves ITK's maximum is at most ours (a surface voxel of one mask
        # deep inside the other counts 0 for ITK) and equal for a pure shift
        whole = sitk.HausdorffDistanceImageFilter()
        whole.Execute(pred_image, ref_image)
        assert whole.GetHausdorffDistance() <= ours.hausdorff_mm + 1e-6, name
        shifted = np.roll(ref, 2, axis=1)
        shifted_image = sitk.GetImageFromArray(shifted.astype(np.uint8))
        shifted_image.CopyInformation(image)
        whole.Execute(shifted_image, ref_image)
        assert M.hausdorff(shifted, ref, spacing) == pytest.approx(whole.GetHausdorffDistance(), rel=1e-6), name


def test_nsd_counts_surface_within_the_tolerance():
    """A cube against the same cube shifted by 2 voxels of 1 mm: every surface voxel is
    within 2 mm of the other surface (NSD 1), but not within 1 mm (NSD < 1)."""
    ref = np.zeros((30, 30, 30), dtype=np.uint8)
    ref[8:20, 8:20, 8:20] = 1
    shifted = np.roll(ref, 2, axis=2)
    assert M.nsd(ref, ref, (1, 1, 1), 0.0) == 1.0
    assert M.nsd(shifted, ref, (1, 1, 1), 2.0) == 1.0
    assert 0.3 < M.nsd(shifted, ref, (1, 1, 1), 1.0) < 1.0
    # anisotropic: the same shift along a 3 mm axis is 6 mm away
    assert M.nsd(np.roll(ref, 2, axis=0), ref, (3, 1, 1), 2.0) < 1.0
    assert M.nsd(np.zeros_like(ref), ref) == 0.0 and M.nsd(np.zeros_like(ref), np.zeros_like(ref)) == 1.0
