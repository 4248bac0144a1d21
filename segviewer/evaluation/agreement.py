"""How much several raters' masks of one image agree: pairwise Dice and HD95 per label, and
Fleiss' kappa.

* Pairwise figures use :func:`segviewer.evaluation.metrics.mask_metrics` (the same Dice and
  HD95, with the same empty-mask conventions, as ``segviewer evaluate``); the pair is symmetric,
  so each unordered pair is reported once.
* Fleiss' kappa (Fleiss 1971) treats every voxel of the grid as a subject and each label value,
  background included, as a category. ``fleiss_kappa`` is over all values at once;
  ``kappa_per_label`` is the two-category kappa of "label k" against "anything else". When
  every rater gives every voxel the same value the chance agreement is 1 and kappa is
  undefined; it is reported as 1.0 (the raters agree), as metrics.py does for empty masks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from segviewer.evaluation.consensus import check_masks, counts_of, label_values, read_rater_masks
from segviewer.evaluation.metrics import SpacingLike, mask_metrics
from segviewer.io.jsonfile import json_safe

#: Called with (fraction done, text) between pairs.
Progress = Callable[[float, str], None]


@dataclass
class PairAgreement:
    """Dice and HD95 (mm) of one label between two raters; ``empty`` names who left it empty."""

    rater_a: str
    rater_b: str
    label: int
    dice: float
    hd95_mm: float
    empty: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Agreement:
    """Pairwise figures per label and Fleiss' kappa of several raters' masks."""

    raters: list[str]
    labels: list[int]
    pairs: list[PairAgreement]
    fleiss_kappa: float
    kappa_per_label: dict[int, float] = field(default_factory=dict)

    def mean(self, label: int, key: str = "dice") -> float:
        """The mean of ``key`` ("dice" or "hd95_mm") over every pair, for one label."""
        values = [getattr(p, key) for p in self.pairs if p.label == label]
        return float(np.mean(values)) if values else float("nan")

    def to_dict(self) -> dict:
        return json_safe({
            "raters": list(self.raters),
            "fleiss_kappa": self.fleiss_kappa,
            "labels": {str(k): {"mean_dice": self.mean(k, "dice"), "mean_hd95_mm": self.mean(k, "hd95_mm"),
                                "fleiss_kappa": self.kappa_per_label.get(k)} for k in self.labels},
            "pairs": [p.to_dict() for p in self.pairs],
        })


# -- Fleiss' kappa ----------------------------------------------------------------------------
def _kappa(sum_counts: np.ndarray, sum_squares: np.ndarray, subjects: int, raters: int) -> float:
    """Fleiss' kappa from, per category, the sum over subjects of n_ij and of n_ij squared."""
    total = subjects * raters
    observed = (float(sum_squares.sum()) - total) / (total * (raters - 1))
    proportions = sum_counts / total
    chance = float(np.sum(proportions ** 2))
    if chance >= 1.0:
        return 1.0
    return (observed - chance) / (1.0 - chance)


def category_sums(masks: Sequence[np.ndarray], values: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per value: the sum over voxels of how many raters gave it, and of that number squared
    (the two sums Fleiss' kappa needs, from how many voxels have each count)."""
    sums, squares = [], []
    raters = len(masks)
    dtype = np.uint8 if raters < 256 else np.uint16
    for value in values:
        count = np.zeros(masks[0].shape, dtype=dtype)
        for mask in masks:
            count += mask == value
        levels = np.arange(raters + 1, dtype=np.float64)
        histogram = counts_of(count, range(raters + 1)).astype(np.float64)
        sums.append(float(histogram @ levels))
        squares.append(float(histogram @ levels ** 2))
    return np.asarray(sums), np.asarray(squares)


def fleiss_kappa(masks: Sequence[np.ndarray]) -> tuple[float, dict[int, float]]:
    """Fleiss' kappa over every value, and per label (label k against everything else)."""
    masks = check_masks(masks)
    values = [0, *label_values(masks)]
    subjects, raters = int(masks[0].size), len(masks)
    sums, squares = category_sums(masks, values)
    overall = _kappa(sums, squares, subjects, raters)
    per_label = {}
    for index, value in enumerate(values):
        if value == 0:
            continue
        # "not k": n - n_ik voxels per subject; its sums follow from those of k.
        rest_sum = subjects * raters - sums[index]
        rest_squares = subjects * raters ** 2 - 2 * raters * sums[index] + squares[index]
        per_label[value] = _kappa(np.array([sums[index], rest_sum]), np.array([squares[index], rest_squares]),
                                  subjects, raters)
    return overall, per_label


# -- where raters differ ------------------------------------------------------------------------
def agreeing_raters(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Per voxel where the raters differ, how many of them agree with the most common value
    there (1 .. raters - 1); 0 where every rater gave the same value (uint8)."""
    masks = check_masks(masks)
    largest = np.zeros(masks[0].shape, dtype=np.uint8)
    count = np.empty_like(largest)
    for value in [0, *label_values(masks)]:
        count.fill(0)
        for mask in masks:
            count += mask == value
        np.maximum(largest, count, out=largest)
    largest[largest == len(masks)] = 0
    return largest


# -- everything ------------------------------------------------------------------------------
def agreement(masks: Sequence[np.ndarray], spacing: SpacingLike = None, *, raters: Sequence[str] | None = None,
              empty_distance: float | None = None, progress: Progress | None = None) -> Agreement:
    """Pairwise Dice and HD95 per label and Fleiss' kappa of ``masks`` (one grid, one per rater).

    ``spacing`` is in array order (z, y, x) or a Geometry, as in metrics.py.
    """
    masks = check_masks(masks)
    raters = list(raters) if raters is not None else [f"rater {i + 1}" for i in range(len(masks))]
    if len(raters) != len(masks):
        raise ValueError(f"{len(raters)} rater names for {len(masks)} masks")
    report = progress or (lambda fraction, text: None)
    labels = label_values(masks)
    pairs = []
    pair_indices = list(combinations(range(len(masks)), 2))
    for number, (a, b) in enumerate(pair_indices):
        report(number / (len(pair_indices) + 1), f"comparing {raters[a]} and {raters[b]}")
        for label in labels:
            metrics = mask_metrics(masks[a] == label, masks[b] == label, spacing, label, empty_distance)
            empty = {"both": "both", "reference": raters[b], "prediction": raters[a]}.get(metrics.empty)
            pairs.append(PairAgreement(raters[a], raters[b], label, metrics.dice, metrics.hd95_mm, empty))
    report(len(pair_indices) / (len(pair_indices) + 1), "Fleiss' kappa")
    overall, per_label = fleiss_kappa(masks)
    report(1.0, "agreement: done")
    return Agreement(raters, labels, pairs, overall, per_label)


def agreement_summary(paths_by_annotator: Mapping[str, str | Path]) -> dict:
    """Agreement of the masks several annotators finished for one case, JSON-ready
    (``Agreement.to_dict()``): for ``campaign status``. A mask on another grid raises
    :class:`~segviewer.errors.GeometryMismatchError`."""
    names = list(paths_by_annotator)
    masks, geometry = read_rater_masks([paths_by_annotator[name] for name in names])
    return agreement(masks, geometry, raters=names).to_dict()
