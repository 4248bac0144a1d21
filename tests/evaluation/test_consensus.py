"""Consensus of several raters: the vote and STAPLE against SimpleITK's filters called
directly, hand-computed small cases (ties), probability maps, and masks on other grids."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from segviewer.errors import GeometryMismatchError
from segviewer.evaluation.consensus import (ConsensusError, confusion_matrix, consensus, majority_vote,
                                            probability_path, read_rater_masks, staple)
from segviewer.evaluation.metrics import dice, mask_metrics
from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry


def noisy_raters(rng, count=3, shape=(16, 24, 24)) -> list[np.ndarray]:
    """Raters drawing two labels with missed voxels and stray label-1 voxels."""
    truth = np.zeros(shape, np.uint8)
    truth[4:12, 5:19, 5:14] = 1
    truth[4:12, 5:19, 14:20] = 2
    raters = []
    for _ in range(count):
        mask = truth.copy()
        mask[(truth > 0) & (rng.random(shape) < 0.15)] = 0
        mask[(truth == 0) & (rng.random(shape) < 0.02)] = 1
        raters.append(mask)
    return raters


def hippocampus_raters(shared_data) -> list[np.ndarray]:
    """Three annotators of a real expert label: as drawn, one dilated, one eroded and shifted."""
    path = sorted((shared_data / "hippocampus" / "labelsTr").glob("*.nii.gz"))[0]
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.uint8)
    grown = ndimage.grey_dilation(truth, size=(1, 3, 3))
    shrunk = np.roll(ndimage.grey_erosion(truth, size=(1, 3, 1)), 1, axis=2)
    return [truth, grown, shrunk]


def sitk_vote(masks, undecided):
    voting = sitk.LabelVotingImageFilter()
    voting.SetLabelForUndecidedPixels(undecided)
    return sitk.GetArrayFromImage(voting.Execute([sitk.GetImageFromArray(m) for m in masks]))


def sitk_staple(masks):
    estimator = sitk.MultiLabelSTAPLEImageFilter()
    estimator.SetLabelForUndecidedPixels(0)
    labels = sitk.GetArrayFromImage(estimator.Execute([sitk.GetImageFromArray(m) for m in masks]))
    return labels, estimator


def test_vote_equals_simpleitk_where_a_majority_exists(rng):
    masks = noisy_raters(rng, count=4)
    expected = sitk_vote(masks, 99)
    voted, tied = majority_vote(masks)
    decided = expected != 99
    assert np.array_equal(voted[decided], expected[decided])
    assert tied == np.count_nonzero(~decided) > 0  # four raters: two against two: ties happen


def test_vote_ties_go_to_the_smallest_tied_value():
    a = np.array([[[0, 1, 1, 2, 0, 1, 3]]], np.uint8)
    b = np.array([[[0, 1, 0, 2, 2, 2, 2]]], np.uint8)
    voted, tied = majority_vote([a, b])
    # agree, agree, 1-vs-0 -> 0, agree, 0-vs-2 -> 0, 1-vs-2 -> 1, 3-vs-2 -> 2
    assert voted.tolist() == [[[0, 1, 0, 2, 0, 1, 2]]]
    assert tied == 4
    c = np.array([[[1, 0, 1, 0, 2, 0, 3]]], np.uint8)
    voted, tied = majority_vote([a, b, c])
    # three raters: 0,0,1 -> 0; 1,1,0 -> 1; 1,0,1 -> 1; 2,2,0 -> 2; 0,2,2 -> 2; 1,2,0 -> 0 (tie); 3,2,3 -> 3
    assert voted.tolist() == [[[0, 1, 1, 2, 2, 0, 3]]]
    assert tied == 1


def test_vote_with_label_255_in_uint8_masks():
    a = np.array([[[255, 255, 0]]], np.uint8)
    b = np.array([[[255, 0, 0]]], np.uint8)
    voted, tied = majority_vote([a, b])
    assert voted.tolist() == [[[255, 0, 0]]] and tied == 1


def test_staple_equals_simpleitk_called_directly(rng):
    masks = noisy_raters(rng)
    expected, estimator = sitk_staple(masks)
    result = consensus(masks, "staple")
    assert np.array_equal(result.labels, expected)
    for rater, name in enumerate(result.raters):
        matrix = np.asarray(estimator.GetConfusionMatrix(rater)).reshape(4, 3)
        for label in (1, 2):
            found = next(p for p in result.performance if p.rater == name and p.label == label)
            assert found.sensitivity == pytest.approx(matrix[label, label])
            assert 0.9 < found.specificity <= 1.0


def test_staple_on_real_annotators_equals_simpleitk(shared_data):
    masks = hippocampus_raters(shared_data)
    expected, _ = sitk_staple(masks)
    labels, _, values = staple(masks)
    assert values == [0, 1, 2]
    assert np.array_equal(labels, expected)
    vote = consensus(masks, "vote").labels
    expected_vote = sitk_vote(masks, 9)
    assert np.array_equal(vote[expected_vote != 9], expected_vote[expected_vote != 9])
    # The grown and shrunk raters' errors cancel: the vote is closer to the expert than either.
    assert dice(vote, masks[0]) > max(dice(masks[1], masks[0]), dice(masks[2], masks[0]))


def test_staple_with_gaps_in_the_label_values_keeps_the_values(rng):
    masks = [np.where(m == 2, 7, np.where(m == 1, 3, 0)).astype(np.uint8) for m in noisy_raters(rng)]
    plain, _ = sitk_staple(noisy_raters(np.random.default_rng(1234)))
    labels, matrices, values = staple(masks)
    assert values == [0, 3, 7]
    assert matrices[0].shape == (4, 3)
    assert set(np.unique(labels)) <= {0, 3, 7}
    # The same raters with values 1, 2 give the same voxels.
    assert np.array_equal(labels == 3, plain == 1) and np.array_equal(labels == 7, plain == 2)


def test_staple_sensitivity_ranks_a_careless_rater_last(rng):
    truth = np.zeros((12, 20, 20), np.uint8)
    truth[3:9, 4:16, 4:16] = 1
    careful = [truth.copy(), truth.copy()]
    careful[0][(truth == 1) & (rng.random(truth.shape) < 0.05)] = 0
    careful[1][(truth == 1) & (rng.random(truth.shape) < 0.05)] = 0
    careless = truth.copy()
    careless[(truth == 1) & (rng.random(truth.shape) < 0.4)] = 0
    result = consensus([*careful, careless], "staple", raters=["a", "b", "careless"])
    sensitivity = {p.rater: p.sensitivity for p in result.performance}
    assert sensitivity["careless"] < 0.7 < min(sensitivity["a"], sensitivity["b"])
    binary = sitk.STAPLEImageFilter()
    binary.SetForegroundValue(1)
    binary.Execute([sitk.GetImageFromArray(m) for m in (*careful, careless)])
    assert [sensitivity[n] for n in ("a", "b", "careless")] == pytest.approx(binary.GetSensitivity(), abs=0.02)


def test_staple_probabilities_equal_the_binary_filter(rng):
    masks = noisy_raters(rng)
    result = consensus(masks, "staple", probabilities=True)
    assert sorted(result.probabilities) == [1, 2]
    for label, probability in result.probabilities.items():
        estimator = sitk.STAPLEImageFilter()
        estimator.SetForegroundValue(1)
        expected = sitk.GetArrayFromImage(estimator.Execute(
            [sitk.GetImageFromArray((m == label).astype(np.uint8)) for m in masks]))
        assert probability.dtype == np.float32
        np.testing.assert_allclose(probability, expected, atol=1e-6)


def test_vote_probabilities_are_the_fraction_of_raters():
    a = np.array([[[0, 1, 1, 2]]], np.uint8)
    b = np.array([[[0, 1, 0, 2]]], np.uint8)
    c = np.array([[[1, 1, 0, 0]]], np.uint8)
    result = consensus([a, b, c], "vote", probabilities=True)
    np.testing.assert_allclose(result.probabilities[1], [[[1 / 3, 1, 1 / 3, 0]]], rtol=1e-6)
    np.testing.assert_allclose(result.probabilities[2], [[[0, 0, 0, 2 / 3]]], rtol=1e-6)
    assert {(p.rater, p.label): p.sensitivity for p in result.performance}[("rater 3", 2)] == 0.0


def test_fewer_than_two_masks_or_unknown_method_are_refused(rng):
    masks = noisy_raters(rng, 2)
    with pytest.raises(ConsensusError, match="at least two"):
        consensus(masks[:1])
    with pytest.raises(ConsensusError, match="unknown consensus method"):
        consensus(masks, "mean")
    with pytest.raises(ConsensusError, match="differ in shape"):
        consensus([masks[0], masks[1][:-1]])


def test_masks_on_another_grid_are_refused_with_the_difference(tmp_path):
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1:3, 1:4, 1:5] = 1
    paths = []
    for name, spacing, origin in (("a", (1, 1, 2), (0, 0, 0)), ("b", (1, 1, 2), (0, 0, 0)),
                                  ("c", (1, 1, 2), (0, 5, 0))):
        paths.append(tmp_path / f"{name}.nii.gz")
        sitk.WriteImage(image_to_sitk(mask, Geometry((6, 5, 4), spacing, origin)), str(paths[-1]))
    arrays, geometry = read_rater_masks(paths[:2])
    assert geometry.spacing == (1.0, 1.0, 2.0) and len(arrays) == 2
    with pytest.raises(GeometryMismatchError, match=r"c\.nii\.gz: is not on the grid of .*a\.nii\.gz \(origin"):
        read_rater_masks(paths)


def test_probability_file_names():
    assert probability_path("out/prob", 2).as_posix() == "out/prob_2.nii.gz"
    assert probability_path("out/prob.nrrd", 1).as_posix() == "out/prob_1.nrrd"
    assert probability_path("soft.nii.gz", 12).as_posix() == "soft_12.nii.gz"


def test_vote_sensitivity_and_specificity_equal_segviewers_metrics(rng):
    masks = noisy_raters(rng, count=4)
    result = consensus(masks, "vote", raters=list("abcd"))
    for name, mask in zip("abcd", masks):
        for label in (1, 2):
            expected = mask_metrics(mask == label, result.labels == label, distances=False)
            found = next(p for p in result.performance if p.rater == name and p.label == label)
            assert (found.sensitivity, found.specificity) == pytest.approx((expected.sensitivity,
                                                                            expected.specificity))


def test_confusion_matrix_by_hand_with_gaps_in_the_values():
    given = np.array([[[0, 3, 3, 7, 0, 7]]], np.uint8)
    truth = np.array([[[0, 3, 0, 7, 7, 3]]], np.uint8)
    matrix = confusion_matrix(given, truth, [0, 3, 7])
    # columns: truth 0 (2 voxels), 3 (2 voxels), 7 (2 voxels); rows: what the rater gave
    np.testing.assert_allclose(matrix, [[0.5, 0.0, 0.5], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
