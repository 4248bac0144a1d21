"""Agreement between raters: Fleiss' kappa against the textbook example, pairwise Dice and
HD95 against hand-computed cases and segviewer's own metrics, and the campaign summary."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError
from segviewer.evaluation.agreement import agreeing_raters, agreement, agreement_summary, fleiss_kappa
from segviewer.evaluation.metrics import dice, hd95
from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry

#: Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa 0.210.
FLEISS_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def raters_from_table(table) -> list[np.ndarray]:
    """One 1x1xN mask per rater whose votes per subject give ``table``'s counts."""
    raters = np.zeros((sum(table[0]), len(table)), np.uint8)
    for subject, counts in enumerate(table):
        raters[:, subject] = np.repeat(np.arange(len(counts)), counts)
    return [row.reshape(1, 1, -1) for row in raters]


def test_fleiss_kappa_of_the_textbook_example():
    overall, per_label = fleiss_kappa(raters_from_table(FLEISS_TABLE))
    assert overall == pytest.approx(0.20993, abs=1e-4)
    assert sorted(per_label) == [1, 2, 3, 4]


def test_kappa_of_one_label_equals_the_overall_kappa_with_two_values(rng):
    masks = [(rng.random((4, 6, 6)) < p).astype(np.uint8) for p in (0.3, 0.4, 0.5)]
    overall, per_label = fleiss_kappa(masks)
    assert per_label[1] == pytest.approx(overall)
    # Two categories by hand: P_i from the count of raters saying 1 per voxel.
    count = sum(m.astype(int) for m in masks).reshape(-1)
    n = 3
    observed = np.mean((count ** 2 + (n - count) ** 2 - n) / (n * (n - 1)))
    p1 = count.sum() / (count.size * n)
    chance = p1 ** 2 + (1 - p1) ** 2
    assert overall == pytest.approx((observed - chance) / (1 - chance))


def test_identical_masks_agree_perfectly():
    mask = np.zeros((5, 8, 8), np.uint8)
    mask[1:4, 2:6, 2:6] = 2
    result = agreement([mask, mask.copy(), mask.copy()])
    assert result.fleiss_kappa == pytest.approx(1.0)
    assert [(p.dice, p.hd95_mm) for p in result.pairs] == [(1.0, 0.0)] * 3
    empty = np.zeros_like(mask)
    assert fleiss_kappa([empty, empty]) == (1.0, {})


def test_pairwise_dice_and_hd95_per_label_by_hand():
    a = np.zeros((10, 10, 20), np.uint8)
    a[2:8, 2:8, 2:8] = 1
    a[2:8, 2:8, 12:16] = 2
    b = np.zeros_like(a)
    b[2:8, 2:8, 4:10] = 1  # label 1 shifted by two voxels along x
    # label 2 missing in b
    result = agreement([a, b], spacing=(2.0, 1.0, 0.5), raters=["ann", "bob"], empty_distance=99.0)
    by_label = {p.label: p for p in result.pairs}
    assert by_label[1].dice == pytest.approx(2 * 4 / 12)
    assert by_label[1].hd95_mm == pytest.approx(1.0)  # two voxels of 0.5 mm
    assert by_label[1].dice == dice(a, b, 1) and by_label[1].hd95_mm == hd95(a, b, (2.0, 1.0, 0.5), 1)
    assert (by_label[2].dice, by_label[2].hd95_mm, by_label[2].empty) == (0.0, 99.0, "bob")
    data = result.to_dict()
    assert data["labels"]["1"]["mean_dice"] == pytest.approx(2 / 3)
    assert data["labels"]["2"]["fleiss_kappa"] < 0


def test_three_raters_give_three_pairs_per_label(rng):
    masks = [(rng.random((4, 6, 6)) < 0.5).astype(np.uint8) for _ in range(3)]
    result = agreement(masks, raters=["a", "b", "c"])
    assert [(p.rater_a, p.rater_b) for p in result.pairs] == [("a", "b"), ("a", "c"), ("b", "c")]


def test_agreement_summary_reads_the_annotators_files(tmp_path):
    geometry = Geometry((8, 8, 4), (0.8, 0.8, 3.0), (0, 0, 0))
    mask = np.zeros(geometry.shape, np.uint8)
    mask[1:3, 2:6, 2:6] = 1
    other = mask.copy()
    other[1:3, 2:6, 5] = 0
    paths = {"ann": tmp_path / "ann.nii.gz", "bob": tmp_path / "bob.nii.gz"}
    sitk.WriteImage(image_to_sitk(mask, geometry), str(paths["ann"]))
    sitk.WriteImage(image_to_sitk(other, geometry), str(paths["bob"]))
    summary = agreement_summary(paths)
    assert summary["raters"] == ["ann", "bob"]
    assert summary["labels"]["1"]["mean_dice"] == pytest.approx(2 * 24 / (32 + 24))
    assert summary["pairs"][0]["hd95_mm"] == pytest.approx(0.8)
    sitk.WriteImage(image_to_sitk(other, Geometry((8, 8, 4), (0.8, 0.8, 2.0), (0, 0, 0))), str(paths["bob"]))
    with pytest.raises(GeometryMismatchError, match="spacing"):
        agreement_summary(paths)


def test_agreeing_raters_counts_the_largest_group_where_raters_differ():
    a = np.array([[[0, 1, 1, 2, 0]]], np.uint8)
    b = np.array([[[0, 1, 0, 2, 2]]], np.uint8)
    c = np.array([[[0, 1, 2, 0, 1]]], np.uint8)
    d = np.array([[[0, 1, 2, 2, 3]]], np.uint8)
    assert agreeing_raters([a, b, c, d]).tolist() == [[[0, 0, 2, 3, 1]]]
    assert agreeing_raters([a, b]).tolist() == [[[0, 0, 1, 0, 1]]]
