"""Multi-atlas segmentation: register labelled images (atlases) to the image, carry their labels
over, fuse them.

Each atlas is registered with SimpleITK: centred by image moments, then an affine transform
(Mattes mutual information, three resolutions), then a deformable one - a B-spline
(``bspline``) or diffeomorphic demons on the affinely aligned image (``demons``) - or none.
Its labels follow by nearest-neighbour resampling. The warped labels are fused by

* ``vote``: the label most atlases give a voxel; a tie goes to the smallest tied value
  (background wins a tie with a label), the rule of ``segviewer consensus``;
* ``staple``: SimpleITK's ``MultiLabelSTAPLEImageFilter``, every atlas an expert with its own
  estimated sensitivity and specificity (a voxel tied in posterior becomes background);
* ``weighted``: locally weighted voting (Artaechevarria et al. 2009; Sabuncu et al. 2010):
  each atlas' vote at a voxel weighs ``exp(-local mean squared intensity difference / h)``
  after both images are normalised, ``h`` the median of those differences.

Each atlas' reliability is reported (STAPLE's estimates, else its Dice with the fused labels
and its mean weight); the per-voxel agreement - the weighted fraction of atlases giving each
label - comes back as the result's probabilities, with its normalised entropy as the
uncertainty map the GUI shows for networks. Atlases are registered a few at a time on
threads (SimpleITK releases the GIL), each one a step of progress and a point to cancel.

Atlases come from a folder of image/label pairs: nnU-Net's ``imagesTr``/``labelsTr`` (an
exported campaign: ``segviewer export nnunet``), or ``NAME`` beside ``NAME_label`` (``_seg``,
``_mask``, ``_gt``).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.io.images import array_from_sitk, image_to_sitk, read_image
from segviewer.io.labels import read_label_map
from segviewer.io.paths import IMAGE_SUFFIXES, image_suffix, strip_image_suffix
from segviewer.methods.base import CancelToken, Method, MethodCancelled, MethodInputError, MethodRequest, MethodResult, Progress
from segviewer.methods.common import label_dtype, robust_range
from segviewer.model.geometry import Geometry
from segviewer.model.parameters import param

FUSIONS = {"vote": "majority vote", "staple": "STAPLE", "weighted": "locally weighted vote"}
DEFORMABLE = {"bspline": "B-spline", "demons": "demons", "none": "affine only"}
#: Label files beside an image in a flat folder: NAME + one of these + the image's suffix.
LABEL_ENDINGS = ("_label", "_labels", "_seg", "_mask", "_gt")
#: Registrations running at once (each one multithreaded inside SimpleITK too).
PARALLEL_ATLASES = max(1, min(4, (os.cpu_count() or 2)))


@dataclass
class AtlasParameters:
    atlases: str = param("", "Folder of labelled atlases: nnU-Net imagesTr/labelsTr (a campaign exported with "
                             "'segviewer export nnunet') or NAME beside NAME_label image pairs.")
    fusion: str = param("vote", "How the atlases' labels are combined.", choices=FUSIONS)
    deformable: str = param("demons", "Deformable registration after the affine one (demons: faster here, and as good).",
                            choices=DEFORMABLE)
    max_atlases: int = param(8, "Use at most this many atlases: the ones most similar to the image after "
                                "affine registration.", min=1, max=100)
    iterations: int = param(30, "Optimiser iterations per resolution level.", min=5, max=1000)
    seed: int = param(0, "Seed of the metric's random sampling (the same seed gives the same result).",
                      min=0, max=2 ** 31 - 1)


@dataclass
class Atlas:
    """One labelled image (array order k, j, i) on its own grid."""

    name: str
    image: sitk.Image
    labels: sitk.Image


@dataclass
class AtlasReport:
    """How one atlas fared: similarity to the image after registration, reliability in the fusion."""

    name: str
    similarity: float          # Mattes MI after the affine step (lower = more similar)
    used: bool = True
    reliability: float | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return {"atlas": self.name, "used": self.used, "mutual_information": round(self.similarity, 4),
                "reliability": None if self.reliability is None else round(self.reliability, 4),
                "detail": self.detail}


# == atlases on disk ===========================================================================
def atlas_pairs(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """``(name, image, labels)`` for every pair in ``folder`` (see the module's text)."""
    folder = Path(folder)
    if not str(folder).strip() or not folder.is_dir():
        raise MethodInputError(f"atlases: {folder or '(none)'} is not a folder; give atlases=DIR, a folder of "
                               "image/label pairs")
    if (folder / "campaign.json").is_file():
        raise MethodInputError(f"atlases: {folder} is a campaign; export its finished cases first "
                               "('segviewer export nnunet CAMPAIGN OUT --dataset-id N --name NAME') and give "
                               "OUT/DatasetNNN_NAME")
    images, labels = folder / "imagesTr", folder / "labelsTr"
    pairs = []
    if images.is_dir() and labels.is_dir():
        for label in _image_files(labels):
            name = strip_image_suffix(label).name
            image = images / f"{name}_0000{image_suffix(label)}"
            pairs.append((name, image if image.is_file() else images / label.name, label))
        pairs = [p for p in pairs if p[1].is_file()]
    else:
        for image in _image_files(folder):
            stem = strip_image_suffix(image).name
            beside = [image.with_name(stem + e + image_suffix(image)) for e in LABEL_ENDINGS]
            found = [p for p in beside if p.is_file()]
            if found and not stem.endswith(LABEL_ENDINGS):
                pairs.append((stem, image, found[0]))
    if not pairs:
        raise MethodInputError(f"atlases: {folder} holds no image/label pairs (imagesTr + labelsTr, or NAME "
                               "beside NAME_label)")
    return pairs


def nnunet_ignore_label(folder: str | Path) -> int | None:
    """The value of the label named "ignore" in the folder's nnU-Net ``dataset.json`` (an
    exported campaign's scribble-only cases), or None."""
    try:
        labels = json.loads((Path(folder) / "dataset.json").read_text(encoding="utf-8")).get("labels") or {}
        return int(labels["ignore"]) if "ignore" in labels else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and image_suffix(p) in IMAGE_SUFFIXES)


def read_atlas(name: str, image: Path, labels: Path) -> Atlas:
    volume = read_image(image)
    label_map = read_label_map(labels, volume.geometry).label_map
    return Atlas(name, image_to_sitk(volume.array.astype(np.float32), volume.geometry),
                 image_to_sitk(label_map.array, volume.geometry))


# == registration ===============================================================================
def _normalised(image: sitk.Image) -> sitk.Image:
    """Intensities mapped so the 0.5-99.5 percentiles span 0..1 (MR scales differ per scan)."""
    array = sitk.GetArrayViewFromImage(image)
    low, high = robust_range(np.asarray(array))
    result = sitk.Cast((image - low) / max(high - low, 1e-6), sitk.sitkFloat32)
    result.CopyInformation(image)
    return result


def _registration(seed: int, cancel: CancelToken) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.1, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetNumberOfThreads(max(1, (os.cpu_count() or 2) // PARALLEL_ATLASES))
    # Cancel stops the optimiser at its next iteration (the result is then thrown away).
    method.AddCommand(sitk.sitkIterationEvent, lambda: cancel.cancelled and method.StopRegistration())
    return method


def register_affine(fixed: sitk.Image, moving: sitk.Image, params: AtlasParameters,
                    cancel: CancelToken) -> tuple[sitk.Transform, float]:
    """Moments-centred affine transform mapping ``fixed`` points into ``moving``, and the final
    metric value (Mattes MI, lower = more similar)."""
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                                sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = _registration(params.seed, cancel)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4,
                                                    numberOfIterations=params.iterations,
                                                    gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed, moving)
    cancel.raise_if_cancelled()
    return transform, float(method.GetMetricValue())


def register_deformable(fixed: sitk.Image, moving: sitk.Image, affine: sitk.Transform, params: AtlasParameters,
                        cancel: CancelToken) -> sitk.Transform:
    """The affine transform refined by a B-spline or demons displacement (or left as it is)."""
    if params.deformable == "none":
        return affine
    if params.deformable == "demons":
        aligned = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, 0.0)
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetNumberOfIterations(params.iterations)
        demons.SetSmoothDisplacementField(True)
        demons.SetStandardDeviations(1.5)
        demons.AddCommand(sitk.sitkIterationEvent, lambda: cancel.cancelled and demons.StopRegistration())
        field = demons.Execute(fixed, sitk.HistogramMatching(aligned, fixed))
        cancel.raise_if_cancelled()
        return sitk.CompositeTransform([affine, sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))])
    mesh = [max(1, int(round(size * spacing / 15.0))) for size, spacing in zip(fixed.GetSize(), fixed.GetSpacing())]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, order=3)
    method = _registration(params.seed, cancel)
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1, 0])
    method.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=params.iterations,
                                maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=params.iterations)
    method.SetMovingInitialTransform(affine)
    method.SetInitialTransform(bspline, inPlace=True)
    method.Execute(fixed, moving)
    cancel.raise_if_cancelled()
    return sitk.CompositeTransform([affine, bspline])


# == fusion =======================================================================================
@dataclass
class Fusion:
    labels: np.ndarray
    classes: list[int]
    probabilities: np.ndarray     # (classes, k, j, i) weighted fraction of atlases per label
    reliability: list[float]
    detail: list[str]


def weighted_vote(warped: list[np.ndarray], weights: list[np.ndarray | float], classes: list[int]) -> np.ndarray:
    """``(classes, k, j, i)``: each label's share of the (weighted) votes, float32."""
    shape = warped[0].shape
    votes = np.zeros((len(classes), *shape), dtype=np.float32)
    total = np.zeros(shape, dtype=np.float32)
    for labels, weight in zip(warped, weights):
        weight = np.broadcast_to(np.asarray(weight, dtype=np.float32), shape)
        for index, value in enumerate(classes):
            votes[index] += np.where(labels == value, weight, 0.0)
        total += weight
    return votes / np.maximum(total, 1e-12)


def _dice(a: np.ndarray, b: np.ndarray, classes: list[int]) -> float:
    scores = []
    for value in classes:
        if value == 0:
            continue
        size = np.count_nonzero(a == value) + np.count_nonzero(b == value)
        if size:
            scores.append(2.0 * np.count_nonzero((a == value) & (b == value)) / size)
    return float(np.mean(scores)) if scores else 1.0


def local_weights(fixed: np.ndarray, warped_images: list[np.ndarray], spacing_zyx) -> list[np.ndarray]:
    """Per atlas, ``exp(-local mean squared difference / h)`` (Gaussian window of 2 mm; ``h``
    the median local difference over atlases and voxels, so the weights adapt to the images)."""
    differences = []
    for image in warped_images:
        squared = sitk.GetImageFromArray((fixed - image) ** 2)
        squared.SetSpacing(tuple(reversed([float(s) for s in spacing_zyx])))
        differences.append(sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(squared, 2.0)))
    h = max(float(np.median(np.stack(differences))), 1e-6)
    return [np.exp(-d / h).astype(np.float32) for d in differences]


def fuse(warped: list[np.ndarray], method: str, weights: list[np.ndarray] | None = None) -> Fusion:
    """Fuse warped label arrays by ``method`` (see the module's text)."""
    classes = sorted({int(v) for labels in warped for v in np.unique(labels)} | {0})
    if method == "staple" and len(warped) >= 2:
        compact = np.searchsorted(classes, np.stack(warped)).astype(np.uint16)
        estimator = sitk.MultiLabelSTAPLEImageFilter()
        estimator.SetLabelForUndecidedPixels(0)
        fused = np.asarray(classes)[sitk.GetArrayFromImage(estimator.Execute([sitk.GetImageFromArray(c) for c in compact]))]
        n = len(classes)
        matrices = [np.asarray(estimator.GetConfusionMatrix(r)).reshape(n + 1, n) for r in range(len(warped))]
        reliability = [float(np.mean(np.diag(m)[1:])) if n > 1 else 1.0 for m in matrices]
        detail = ["STAPLE sensitivity per label: " + ", ".join(f"{v}: {m[i, i]:.3f}" for i, v in enumerate(classes) if v)
                  for m in matrices]
        probabilities = weighted_vote(warped, [1.0] * len(warped), classes)
        return Fusion(fused.astype(label_dtype(classes[-1])), classes, probabilities, reliability, detail)
    weights = weights if method == "weighted" and weights is not None else [1.0] * len(warped)
    probabilities = weighted_vote(warped, weights, classes)
    # argmax takes the first maximum: the smallest tied value (background wins a tie).
    fused = np.asarray(classes, dtype=label_dtype(classes[-1]))[np.argmax(probabilities, axis=0)]
    reliability = [_dice(labels, fused, classes) for labels in warped]
    detail = [f"Dice with the fused labels{'; mean local weight ' + format(float(np.mean(w)), '.3f') if method == 'weighted' else ''}"
              for w in (weights if method == "weighted" else [None] * len(warped))]
    return Fusion(fused, classes, probabilities, reliability, detail)


# == the method ===================================================================================
def segment_with_atlases(image: np.ndarray, geometry: Geometry, atlases: list[Atlas], params: AtlasParameters,
                         progress: Progress, cancel: CancelToken) -> tuple[Fusion, list[AtlasReport]]:
    """Register every atlas to ``image`` (array order k, j, i on ``geometry``), keep the
    ``params.max_atlases`` most similar, fuse their labels."""
    fixed = _normalised(image_to_sitk(image.astype(np.float32, copy=False), geometry))
    total = len(atlases)
    done = [0]

    def affine(atlas: Atlas):
        cancel.raise_if_cancelled()
        moving = _normalised(atlas.image)
        transform, metric = register_affine(fixed, moving, params, cancel)
        done[0] += 1
        progress(0.5 * done[0] / total, f"affine: {done[0]} of {total} atlases registered")
        return moving, transform, metric

    with concurrent.futures.ThreadPoolExecutor(PARALLEL_ATLASES) as pool:
        aligned = list(pool.map(affine, atlases))
    reports = [AtlasReport(a.name, m) for a, (_mv, _t, m) in zip(atlases, aligned)]
    order = sorted(range(total), key=lambda i: reports[i].similarity)[:params.max_atlases]
    for index in set(range(total)) - set(order):
        reports[index].used, reports[index].detail = False, "less similar than the atlases used"
    done[0] = 0

    def deformable(index: int):
        moving, transform, _metric = aligned[index]
        transform = register_deformable(fixed, moving, transform, params, cancel)
        labels = sitk.Resample(atlases[index].labels, fixed, transform, sitk.sitkNearestNeighbor, 0,
                               atlases[index].labels.GetPixelID())
        warped_image = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0)
        done[0] += 1
        progress(0.5 + 0.45 * done[0] / len(order), f"{DEFORMABLE[params.deformable]}: {done[0]} of {len(order)}")
        return array_from_sitk(labels), sitk.GetArrayFromImage(warped_image)

    with concurrent.futures.ThreadPoolExecutor(PARALLEL_ATLASES) as pool:
        warped = list(pool.map(deformable, order))
    cancel.raise_if_cancelled()
    progress(0.95, f"fusing {len(order)} atlases: {FUSIONS[params.fusion]}")
    weights = None
    if params.fusion == "weighted":
        spacing_zyx = tuple(reversed(geometry.spacing))
        weights = local_weights(sitk.GetArrayFromImage(fixed), [w[1] for w in warped], spacing_zyx)
    fusion = fuse([w[0] for w in warped], params.fusion, weights)
    for index, reliability, detail in zip(order, fusion.reliability, fusion.detail):
        reports[index].reliability, reports[index].detail = reliability, detail
    return fusion, reports


class AtlasMethod(Method):
    name = "atlas"
    title = "Multi-atlas"
    description = ("Register labelled atlases (a folder of image/label pairs, e.g. a campaign's finished cases "
                   "exported for nnU-Net) to the image - affine, then B-spline or demons - and fuse their labels "
                   "by majority vote, STAPLE or locally weighted voting; reports each atlas' reliability and the "
                   "per-voxel agreement.")
    Parameters = AtlasParameters
    requires = frozenset()
    uses_roi = False

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        params = request.params if isinstance(request.params, AtlasParameters) else self.default_parameters()
        if params.fusion not in FUSIONS or params.deformable not in DEFORMABLE:
            raise MethodInputError(f"atlas: fusion is one of {', '.join(FUSIONS)}; deformable one of "
                                   f"{', '.join(DEFORMABLE)}")
        started = time.perf_counter()
        pairs = atlas_pairs(params.atlases)
        progress(0.0, f"reading {len(pairs)} atlases")
        ignore = nnunet_ignore_label(params.atlases)
        atlases, partial = [], []
        for name, image, labels in pairs:
            cancel.raise_if_cancelled()
            atlas = read_atlas(name, image, labels)
            if ignore is not None and np.any(sitk.GetArrayViewFromImage(atlas.labels) == ignore):
                partial.append(name)  # scribbles only (nnU-Net's ignore label): not a whole atlas
            else:
                atlases.append(atlas)
        if not atlases:
            raise MethodInputError(f"atlases: {params.atlases} holds no fully labelled image "
                                   f"({len(partial)} with nnU-Net's ignore label, scribbles only)")
        try:
            fusion, reports = segment_with_atlases(request.image, request.geometry, atlases, params, progress, cancel)
        except RuntimeError as error:  # ITK's: an atlas that cannot be registered (no overlap ...)
            if cancel.cancelled:
                raise MethodCancelled() from None
            raise MethodInputError(f"atlas registration failed: {str(error).strip().splitlines()[-1]}") from None
        from segviewer.methods.deep.uncertainty import entropy_map, suggest_scribble  # noqa: PLC0415 - no torch

        entropy = entropy_map(fusion.probabilities)
        agreement = fusion.probabilities.max(axis=0)
        used = [r for r in reports if r.used]
        info = {"fusion": FUSIONS[params.fusion], "registration": f"affine + {DEFORMABLE[params.deformable]}",
                "atlases_used": len(used), "atlases_found": len(reports),
                **({"scribble_only_skipped": len(partial)} if partial else {}),
                "atlas_reliability": ", ".join(f"{r.name} {r.reliability:.2f}" for r in used),
                "atlases": [r.to_dict() for r in reports],
                "mean_agreement": round(float(agreement.mean()), 4),
                "entropy": entropy, "suggestion": suggest_scribble(entropy, request.roi),
                "seconds": round(time.perf_counter() - started, 2)}
        progress(1.0, "done")
        return MethodResult(request.roi, fusion.labels, probabilities=fusion.probabilities,
                            classes=fusion.classes, info=info)
