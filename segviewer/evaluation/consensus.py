"""One label map from several raters' masks of the same image: majority vote or STAPLE.

Both methods run SimpleITK's own filters; this module adds what they leave open:

* **Majority vote** (``LabelVotingImageFilter``): each voxel takes the value most raters gave it,
  background (0) counting as a value. A tie goes to the **smallest** tied value, so a label
  needs a strict majority over background to win, and of two tied labels the lower one wins.
  (SimpleITK marks tied voxels "undecided"; they are resolved by this rule afterwards.)
* **STAPLE** (``MultiLabelSTAPLEImageFilter``, Warfield et al. 2004; Rohlfing et al. 2004):
  the labels of maximum posterior probability, with each rater's estimated sensitivity and
  specificity per label read from the filter's confusion matrices. A voxel whose posterior is
  tied between labels (the filter's "undecided", rare) becomes background.
* **Probability maps** (soft labels), one float32 map per label: for STAPLE the posterior of
  the binary ``STAPLEImageFilter`` run for that label, for the vote the fraction of raters
  that gave the voxel that label.

Masks must share one grid exactly: :func:`read_rater_masks` refuses masks on another grid
with a message naming the difference (resampling would hide a rater's misregistration).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.errors import GeometryMismatchError, SegviewerError
from segviewer.io.atomic import OutputGuard
from segviewer.io.images import array_from_sitk, geometry_of, image_to_sitk, write_sitk_image
from segviewer.io.labels import describe_grid_difference, read_label_image
from segviewer.io.paths import IMAGE_SUFFIXES, image_suffix, strip_image_suffix
from segviewer.model.geometry import Geometry

METHODS = ("vote", "staple")

#: Called with (fraction done, text) between steps.
Progress = Callable[[float, str], None]


class ConsensusError(SegviewerError):
    """The masks cannot be combined (fewer than two, another grid, ...)."""


@dataclass
class RaterPerformance:
    """How well one rater's mask matched the consensus on one label.

    For STAPLE these are the algorithm's estimates; for the vote they are measured against
    the voted labels (``source`` says which).
    """

    rater: str
    label: int
    sensitivity: float
    specificity: float
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Consensus:
    """The consensus label map, how it was made, and (when asked) one probability map per label."""

    labels: np.ndarray
    method: str
    raters: list[str]
    performance: list[RaterPerformance]
    tied_voxels: int = 0
    probabilities: dict[int, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready description (no arrays)."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {"method": self.method, "raters": list(self.raters),
                "tie_rule": TIE_RULES[self.method], "tied_voxels": int(self.tied_voxels),
                "voxels_per_label": {str(int(v)): int(c) for v, c in zip(values, counts) if v != 0},
                "raters_performance": [p.to_dict() for p in self.performance]}


TIE_RULES = {
    "vote": "a tie goes to the smallest tied value (background wins a tie with any label)",
    "staple": "a voxel with equal posterior for two labels becomes background",
}


# -- inputs ---------------------------------------------------------------------------------
def check_masks(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """At least two masks of one shape, as one unsigned dtype (SimpleITK's filters want one)."""
    if len(masks) < 2:
        raise ConsensusError(f"a consensus needs at least two masks, got {len(masks)}")
    arrays = [np.asarray(m) for m in masks]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ConsensusError("the masks differ in shape: " + ", ".join("x".join(map(str, a.shape)) for a in arrays))
    for array in arrays:
        if array.dtype != bool and array.dtype.kind != "u" and array.size and not (
                array.dtype.kind == "i" and array.min() >= 0 and array.max() <= 65535):
            raise ConsensusError(f"a mask holds {array.dtype} values; masks hold whole numbers 0..65535")
    dtype = np.uint16 if any(a.dtype.itemsize > 1 for a in arrays) else np.uint8
    return [a.astype(dtype, copy=False) for a in arrays]


def read_rater_masks(paths: Sequence[str | Path]) -> tuple[list[np.ndarray], Geometry]:
    """Each rater's label map and their common grid; a mask on another grid is refused."""
    if len(paths) < 2:
        raise ConsensusError(f"give at least two masks (one per rater), got {len(paths)}")
    arrays, geometry, first = [], None, None
    for path in paths:
        image, _ = read_label_image(Path(path), "mask")
        own = geometry_of(image)
        if geometry is None:
            geometry, first = own, path
        elif not own.same_grid(geometry):
            raise GeometryMismatchError(
                f"{path}: is not on the grid of {first} ({describe_grid_difference(own, geometry)}); "
                "raters' masks must share one grid - resample them onto the image first")
        arrays.append(array_from_sitk(image))
    return arrays, geometry


#: Up to this many values, one comparison pass per value beats bincount (which first copies
#: the array to 64-bit integers) and fancy indexing.
FEW_VALUES = 32


def label_values(masks: Sequence[np.ndarray]) -> list[int]:
    """Every non-zero value in any mask, ascending."""
    top = max(int(m.max(initial=0)) for m in masks)
    if top <= FEW_VALUES:
        return [v for v in range(1, top + 1) if any(np.any(m == v) for m in masks)]
    present = np.zeros(top + 1, dtype=bool)
    for mask in masks:
        present[mask.reshape(-1)] = True
    return [int(v) for v in np.flatnonzero(present) if v]


def counts_of(array: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """How many elements of ``array`` hold each of ``values`` (int64)."""
    if len(values) <= FEW_VALUES:
        return np.array([np.count_nonzero(array == v) for v in values], dtype=np.int64)
    return np.bincount(array.reshape(-1), minlength=max(values) + 1)[list(values)]


def _images(masks: Sequence[np.ndarray]) -> list[sitk.Image]:
    return [sitk.GetImageFromArray(m) for m in masks]


# -- majority vote --------------------------------------------------------------------------
def majority_vote(masks: Sequence[np.ndarray], values: Sequence[int] | None = None) -> tuple[np.ndarray, int]:
    """The voted label map and the number of tied voxels (resolved to the smallest tied value).
    ``values``: the masks' non-zero values when known (:func:`label_values`)."""
    masks = check_masks(masks)
    values = [0, *(label_values(masks) if values is None else values)]
    undecided = values[-1] + 1
    if undecided > np.iinfo(masks[0].dtype).max:
        masks = [m.astype(np.uint16) for m in masks]
    voting = sitk.LabelVotingImageFilter()
    voting.SetLabelForUndecidedPixels(undecided)
    voted = sitk.GetArrayFromImage(voting.Execute(_images(masks)))
    tied = np.flatnonzero(voted.reshape(-1) == undecided)
    if tied.size:
        votes = np.stack([m.reshape(-1)[tied] for m in masks])  # raters x tied voxels
        counts = np.stack([np.count_nonzero(votes == v, axis=0) for v in values])
        # argmax returns the first maximum: the smallest tied value (the stated rule).
        voted.reshape(-1)[tied] = np.asarray(values, dtype=voted.dtype)[np.argmax(counts, axis=0)]
    return voted, int(tied.size)


def vote_probability(masks: Sequence[np.ndarray], label: int) -> np.ndarray:
    """The fraction of raters that gave each voxel ``label`` (float32)."""
    total = np.zeros(masks[0].shape, dtype=np.uint16)
    for mask in masks:
        total += mask == label
    return (total / np.float32(len(masks))).astype(np.float32)


# -- STAPLE ----------------------------------------------------------------------------------
def staple(masks: Sequence[np.ndarray], max_iterations: int | None = None, values: Sequence[int] | None = None,
           ) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """Multi-label STAPLE: the label map, each rater's confusion matrix and the label values.

    Confusion matrix ``C[r, t]`` (rows: the rater's value, the last row "undecided";
    columns: the true value, in the order of the returned values) is the estimated
    probability that the rater gives ``r`` where the truth is ``t``.
    """
    masks = check_masks(masks)
    values = [0, *(label_values(masks) if values is None else values)]
    compacted = values != list(range(len(values)))
    if compacted:
        # The filter numbers labels 0..max; compact them so absent values cost nothing.
        lookup = np.zeros(values[-1] + 1, dtype=masks[0].dtype)
        lookup[values] = np.arange(len(values))
        masks = [lookup[m] for m in masks]
    estimator = sitk.MultiLabelSTAPLEImageFilter()
    estimator.SetLabelForUndecidedPixels(0)
    if max_iterations is not None:
        estimator.SetMaximumNumberOfIterations(int(max_iterations))
    labels = sitk.GetArrayFromImage(estimator.Execute(_images(masks)))
    if compacted:
        labels = np.asarray(values, dtype=labels.dtype)[labels]
    n = len(values)
    matrices = [np.asarray(estimator.GetConfusionMatrix(r)).reshape(n + 1, n) for r in range(len(masks))]
    return labels, matrices, values


def rater_performance(matrices: Sequence[np.ndarray], values: Sequence[int], prior: np.ndarray,
                      raters: Sequence[str], source: str) -> list[RaterPerformance]:
    """Per rater and label k, from each rater's confusion matrix ``C[given, truth]`` (columns
    sum to one) and the truth's ``prior`` over ``values``: sensitivity = C[k, k];
    specificity = P(gives not k | truth not k), the other truths weighted by their prior."""
    results = []
    for name, matrix in zip(raters, matrices):
        for index, value in enumerate(values):
            if value == 0:
                continue
            others = np.arange(len(values)) != index
            weight = float(prior[others].sum())
            false_rate = float(prior[others] @ matrix[index, others]) / weight if weight else 0.0
            results.append(RaterPerformance(name, int(value), float(matrix[index, index]), 1.0 - false_rate, source))
    return results


def value_counts(masks: Sequence[np.ndarray], values: Sequence[int]) -> np.ndarray:
    """How many voxels hold each of ``values``, summed over ``masks``."""
    return sum(counts_of(mask, values) for mask in masks)


def confusion_matrix(given: np.ndarray, truth: np.ndarray, values: Sequence[int],
                     truth_counts: np.ndarray | None = None) -> np.ndarray:
    """``C[given, truth]`` over ``values`` (every value of both arrays): the fraction of each
    truth value's voxels that the rater gave each value (a zero column for an absent truth).

    Only the voxels where the two differ are gathered (few, for raters worth combining); the
    diagonal follows from ``truth_counts`` (:func:`counts_of` of ``truth``, when known).
    """
    n = len(values)
    totals = counts_of(truth, values) if truth_counts is None else np.asarray(truth_counts)
    differ = given != truth
    lookup = np.zeros(max(values[-1], int(given.max(initial=0)), int(truth.max(initial=0))) + 1, dtype=np.intp)
    lookup[list(values)] = np.arange(n)
    pairs = lookup[given[differ]] * n + lookup[truth[differ]]
    counts = np.bincount(pairs, minlength=n * n).reshape(n, n).astype(np.float64)
    counts[np.diag_indices(n)] = totals - counts.sum(axis=0)
    return counts / np.maximum(totals, 1)[None, :]


def staple_probability(masks: Sequence[np.ndarray], label: int) -> tuple[np.ndarray, list[float], list[float]]:
    """Binary STAPLE of ``label``: the posterior probability map (float32) and each rater's
    estimated sensitivity and specificity."""
    estimator = sitk.STAPLEImageFilter()
    estimator.SetForegroundValue(1)
    binary = [sitk.GetImageFromArray((m == label).view(np.uint8)) for m in masks]
    posterior = sitk.GetArrayFromImage(sitk.Cast(estimator.Execute(binary), sitk.sitkFloat32))
    return posterior, list(estimator.GetSensitivity()), list(estimator.GetSpecificity())


# -- the whole consensus ---------------------------------------------------------------------
def consensus(masks: Sequence[np.ndarray], method: str = "vote", *, raters: Sequence[str] | None = None,
              probabilities: bool = False, progress: Progress | None = None) -> Consensus:
    """Combine ``masks`` (one per rater, one grid) by ``method`` ("vote" or "staple").

    ``probabilities`` adds one float32 map per label (see the module's text). ``progress``
    is called between steps (the GUI runs this on its worker).
    """
    if method not in METHODS:
        raise ConsensusError(f"unknown consensus method {method!r}; choose one of {', '.join(METHODS)}")
    masks = check_masks(masks)
    raters = list(raters) if raters is not None else [f"rater {i + 1}" for i in range(len(masks))]
    if len(raters) != len(masks):
        raise ValueError(f"{len(raters)} rater names for {len(masks)} masks")
    report = progress or (lambda fraction, text: None)
    report(0.0, f"{method}: combining {len(masks)} masks")
    values = label_values(masks)
    tied = 0
    if method == "vote":
        labels, tied = majority_vote(masks, values)
        all_values = [0, *values]
        prior = counts_of(labels, all_values)
        matrices = [confusion_matrix(mask, labels, all_values, prior) for mask in masks]
        source = "measured against the vote"
    else:
        labels, matrices, all_values = staple(masks, values=values)
        prior = value_counts(masks, all_values)  # the filter's own default prior
        source = "STAPLE estimate"
    performance = rater_performance(matrices, all_values, prior / max(1, prior.sum()), raters, source)
    result = Consensus(labels, method, raters, performance, tied)
    if probabilities:
        for number, value in enumerate(values):
            report(0.5 + 0.5 * number / max(1, len(values)), f"probability of label {value}")
            if method == "vote":
                result.probabilities[value] = vote_probability(masks, value)
            else:
                result.probabilities[value] = staple_probability(masks, value)[0]
    report(1.0, f"{method}: done")
    return result


def probability_path(prefix: str | Path, label: int) -> Path:
    """Where the probability map of ``label`` goes: ``PREFIX_<label>.nii.gz`` (a prefix that
    already names an image suffix, ``probs.nii.gz``, keeps it: ``probs_1.nii.gz``)."""
    prefix = Path(prefix)
    if image_suffix(prefix) in IMAGE_SUFFIXES:
        stem = strip_image_suffix(prefix)
        return stem.with_name(f"{stem.name}_{label}{image_suffix(prefix)}")
    return prefix.with_name(f"{prefix.name}_{label}.nii.gz")


def write_probabilities(result: Consensus, prefix: str | Path, geometry: Geometry,
                        guard: OutputGuard) -> list[Path]:
    """Write each probability map as a float32 image on ``geometry`` (atomic, never over ``guard``)."""
    written = []
    for value, probability in sorted(result.probabilities.items()):
        path = probability_path(prefix, value)
        write_sitk_image(path, image_to_sitk(probability, geometry), f"the probability map of label {value}", guard)
        written.append(path)
    return written
