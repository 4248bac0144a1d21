"""A model that knows its limits: the training domain on its card, and a check of an image
against it before inference or fine-tuning.

A card's ``domain`` says what the network was trained on: modality, spacing range,
orientation, field of view (extent in mm), and the histogram of intensities after the card's
normalisation (mean of the training images' histograms, with the largest Jensen-Shannon
distance of any training image to that mean as the scale of "unlike"). :func:`check_domain`
compares an image (spacing, modality tag where known, intensity histogram distance, size) and
says why it is outside, in words a user can act on; it never refuses. After inference,
:func:`mean_entropy_in_labels` is the model's own uncertainty where it predicted a label, and
:func:`verdict` puts both in one line ("out of domain and unsure").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from segviewer.methods.deep.card import ModelError
from segviewer.methods.deep.preprocess import normalize
from segviewer.model.geometry import Geometry

#: Normalised intensities are histogrammed over this range (z-scores; a window gives 0..1).
HISTOGRAM_RANGE = (-4.0, 6.0)
HISTOGRAM_BINS = 50
#: An image whose spacing is this factor outside the training range is out of domain.
SPACING_SLACK = 1.25
#: ... and a field of view this factor larger than the largest training one (or smaller).
FIELD_OF_VIEW_SLACK = 2.0
#: The histogram distance limit is this factor times the largest training image's distance.
HISTOGRAM_SLACK = 1.5
#: Mean normalised entropy inside the predicted labels above which the model is "unsure".
UNSURE_ENTROPY = 0.25

#: Words for DICOM modality tags in messages.
MODALITY_WORDS = {"MR": "MR", "CT": "CT", "PT": "PET", "US": "ultrasound", "CR": "X-ray", "DX": "X-ray"}


def intensity_histogram(normalised: np.ndarray) -> np.ndarray:
    """Density histogram (sums to 1) of normalised intensities over :data:`HISTOGRAM_RANGE`
    (values outside fall in the end bins, so every voxel counts)."""
    values = np.clip(np.asarray(normalised, dtype=np.float32).reshape(-1), *HISTOGRAM_RANGE)
    counts, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=HISTOGRAM_RANGE)
    return counts / max(1, counts.sum())


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2): 0 for equal histograms, 1 for disjoint ones."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(a, b, base=2))


def _extent_mm(geometry: Geometry) -> np.ndarray:
    return np.asarray(geometry.size) * np.asarray(geometry.spacing)


def _triple(values: Iterable[float], unit: str = " mm") -> str:
    return "×".join(f"{v:.3g}" for v in values) + unit


@dataclass
class TrainingDomain:
    """What a network was trained on (a card's ``domain``). Lengths are (x, y, z) in mm."""

    modality: str = ""  # DICOM tag (MR, CT ...); "" unknown
    anatomy: str = ""  # words for messages: "crops of the hippocampus"
    spacing_min: list[float] = field(default_factory=list)
    spacing_max: list[float] = field(default_factory=list)
    orientation: str = ""  # index axes' letters, e.g. RAS ("" mixed)
    field_of_view_min: list[float] = field(default_factory=list)
    field_of_view_max: list[float] = field(default_factory=list)
    normalization: dict = field(default_factory=dict)
    #: Normalised intensities: histogram (mean of the training images'), range, mean, sd,
    #: 1st/99th percentiles, and the histogram distance limit.
    intensity: dict = field(default_factory=dict)
    cases: int = 0

    def __post_init__(self) -> None:
        try:
            for name in ("spacing_min", "spacing_max", "field_of_view_min", "field_of_view_max"):
                values = getattr(self, name)
                if (not isinstance(values, (list, tuple)) or len(values) not in (0, 3)
                        or not all(isinstance(v, (int, float)) and v > 0 for v in values)):
                    raise ValueError(f"{name} is not three positive numbers")
                setattr(self, name, [float(v) for v in values])
            if self.intensity.get("histogram") is not None:
                self.intensity["histogram"] = [float(v) for v in self.intensity["histogram"]]
                if len(self.intensity["histogram"]) != HISTOGRAM_BINS:
                    raise ValueError(f"the intensity histogram does not have {HISTOGRAM_BINS} bins")
        except (TypeError, ValueError) as error:
            raise ModelError(f"the model card's training domain is malformed: {error}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainingDomain | None":
        if not data:
            return None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """"1 mm MR crops of the hippocampus (36×50×36 mm)"."""
        low, high = np.asarray(self.spacing_min), np.asarray(self.spacing_max)
        spacing = ""
        if low.size and high.size:
            spacing = (f"{low.max():.3g} mm " if np.allclose(low, low[0]) and np.allclose(low, high)
                       else f"{_triple(low, '')}–{_triple(high)} ")
        kind = MODALITY_WORDS.get(self.modality, self.modality or "images")
        view = f" (field of view up to {_triple(self.field_of_view_max)})" if self.field_of_view_max else ""
        return f"{spacing}{kind}{' ' + self.anatomy if self.anatomy else ''}{view}"


def domain_of_images(images: Iterable[tuple[np.ndarray, Geometry]], normalization: dict, *,
                     modality: str = "", anatomy: str = "") -> TrainingDomain:
    """The training domain of ``images`` (raw arrays with their geometry, before resampling)."""
    histograms, spacings, extents, letters, pooled = [], [], [], set(), []
    for array, geometry in images:
        normalised = normalize(array, normalization)
        histograms.append(intensity_histogram(normalised))
        spacings.append(geometry.spacing)
        extents.append(_extent_mm(geometry))
        letters.add("".join(geometry.orientation_letters()))
        pooled.append(normalised.reshape(-1)[:: max(1, normalised.size // 20000)])  # a sample per image
    if not histograms:
        raise ValueError("a training domain needs at least one image")
    mean_histogram = np.mean(histograms, axis=0)
    distances = [histogram_distance(h, mean_histogram) for h in histograms]
    values = np.concatenate(pooled)
    return TrainingDomain(
        modality=modality, anatomy=anatomy,
        spacing_min=np.min(spacings, axis=0).round(4).tolist(), spacing_max=np.max(spacings, axis=0).round(4).tolist(),
        orientation=letters.pop() if len(letters) == 1 else "",
        field_of_view_min=np.min(extents, axis=0).round(1).tolist(),
        field_of_view_max=np.max(extents, axis=0).round(1).tolist(),
        normalization=dict(normalization),
        intensity={
            "histogram": mean_histogram.round(6).tolist(), "range": list(HISTOGRAM_RANGE),
            "mean": round(float(values.mean()), 4), "sd": round(float(values.std()), 4),
            "p01": round(float(np.percentile(values, 1)), 4), "p99": round(float(np.percentile(values, 99)), 4),
            "largest_training_distance": round(max(distances), 4),
            "distance_limit": round(HISTOGRAM_SLACK * max(distances), 4),
        },
        cases=len(histograms),
    )


@dataclass
class DomainCheck:
    """How an image compares to a training domain; ``reasons`` is empty when it is inside."""

    reasons: list[str]
    histogram_distance: float
    image: str  # "a 0.8×0.8×5 mm CT, 406×406×130 mm"
    trained_on: str

    @property
    def in_domain(self) -> bool:
        return not self.reasons

    def text(self) -> str:
        if self.in_domain:
            return f"within the model's training domain ({self.trained_on})"
        return (f"outside the model's training domain: this model was trained on {self.trained_on}; "
                f"this is {self.image} ({'; '.join(self.reasons)})")

    def to_dict(self) -> dict:
        return {"in_domain": self.in_domain, "reasons": list(self.reasons),
                "histogram_distance": round(self.histogram_distance, 4), "text": self.text()}


def check_domain(domain: TrainingDomain, image: np.ndarray, geometry: Geometry, modality: str = "") -> DomainCheck:
    """Compare ``image`` (its raw voxels and grid) to ``domain``; never raises for a mismatch."""
    reasons = []
    spacing = np.asarray(geometry.spacing)
    if domain.spacing_min:
        low, high = np.asarray(domain.spacing_min) / SPACING_SLACK, np.asarray(domain.spacing_max) * SPACING_SLACK
        if np.any(spacing < low) or np.any(spacing > high):
            trained = (f"the training spacing {_triple(domain.spacing_min)}"
                       if np.allclose(domain.spacing_min, domain.spacing_max) else
                       f"the training range {_triple(domain.spacing_min, '')}–{_triple(domain.spacing_max)}")
            reasons.append(f"spacing {_triple(spacing)} is far from {trained}")
    if modality and domain.modality and modality.upper() != domain.modality.upper():
        reasons.append(f"modality {modality} is not the training modality {domain.modality}")
    extent = _extent_mm(geometry)
    if domain.field_of_view_max:
        if np.any(extent > FIELD_OF_VIEW_SLACK * np.asarray(domain.field_of_view_max)):
            reasons.append(f"field of view {_triple(extent)} is far larger than the largest training one "
                           f"{_triple(domain.field_of_view_max)}")
        elif np.any(extent < np.asarray(domain.field_of_view_min) / FIELD_OF_VIEW_SLACK):
            reasons.append(f"field of view {_triple(extent)} is far smaller than the smallest training one "
                           f"{_triple(domain.field_of_view_min)}")
    distance = 0.0
    if domain.intensity.get("histogram"):
        histogram = intensity_histogram(normalize(image, domain.normalization))
        distance = histogram_distance(histogram, np.asarray(domain.intensity["histogram"]))
        limit = float(domain.intensity.get("distance_limit", 1.0))
        if distance > limit:
            reasons.append(f"its intensity histogram after normalisation is unlike the training images' "
                           f"(distance {distance:.2f}, training images up to "
                           f"{domain.intensity.get('largest_training_distance', limit):.2f})")
    kind = MODALITY_WORDS.get(modality.upper(), modality) if modality else "image"
    described = f"a {_triple(spacing)} {kind}, {_triple(extent)}"
    return DomainCheck(reasons, distance, described, domain.describe())


def mean_entropy_in_labels(entropy: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean normalised entropy (0..1) over the voxels given a label (None when there are none)."""
    inside = labels > 0
    return float(entropy[inside].mean()) if inside.any() else None


def verdict(check: DomainCheck | None, mean_entropy: float | None) -> str:
    """One line a user reads at a glance: "out of domain and unsure", with the figures."""
    domain = "no training domain on the card" if check is None else (
        "in domain" if check.in_domain else "out of domain")
    if mean_entropy is None:
        sureness = "no label predicted"
    else:
        sureness = ("unsure" if mean_entropy > UNSURE_ENTROPY else "sure") + f" (mean entropy inside the labels {mean_entropy:.2f})"
    return f"{domain} and {sureness}"


# == what methods report ===========================================================================
def check_request(card, request) -> DomainCheck | None:
    """The domain check of a method request against a model card (None: the card has no domain)."""
    domain = TrainingDomain.from_dict(getattr(card, "domain", None))
    if domain is None:
        return None
    return check_domain(domain, request.image, request.geometry, getattr(request, "modality", "") or "")


def domain_info(check: DomainCheck | None, labels: np.ndarray, entropy: np.ndarray | None) -> dict:
    """Result info entries: ``verdict`` (one line), ``mean_entropy_in_labels``, ``domain`` and,
    when the image is outside, ``warnings`` (the CLI prints them, the method panel shows them)."""
    mean = mean_entropy_in_labels(entropy, labels) if entropy is not None else None
    info: dict = {"verdict": verdict(check, mean)}
    if mean is not None:
        info["mean_entropy_in_labels"] = round(mean, 4)
    if check is not None:
        info["domain"] = check.to_dict()
        if not check.in_domain:
            info["warnings"] = [check.text()]
    return info
