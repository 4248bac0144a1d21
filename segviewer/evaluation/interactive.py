"""Interactive benchmark: a simulated user corrects a method's result, round after round.

Round 1 gives the method the initial scribbles (``slices`` per structure, from
:func:`simulate_scribbles`). After each result the user adds ONE corrective stroke in the
largest error region (:func:`corrective_scribble`) and the method reruns with every scribble
so far. The Dice curve against the number of interactions is recorded, with NoC@85 and
NoC@90: the number of interactions (the initial scribbles count as one) after which the
Dice first reaches 0.85 / 0.90, capped at ``max_interactions`` (20) when never reached.

Dice here is the mean over the reference's labels (per-label Dice, averaged); the merged
foreground Dice and HD95 are recorded beside it.

The **box + 5 clicks** protocol (:func:`run_box_protocol`, that of the CVPR 2025 interactive
3D segmentation challenge) gives each structure its tight 3D box first, then up to five
corrective clicks at the centre of the largest error (:func:`corrective_click`), and scores
the area under the Dice-per-interaction curve (DSC-AUC, trapezoids over the six
interactions, normalised to [0, 1]), the final Dice and the final normalised surface
distance at 2 mm (NSD), beside NoC@85/90 on that curve.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from segviewer.evaluation import metrics
from segviewer.evaluation.simulate import (
    DEFAULT_STYLE,
    StrokeStyle,
    corrective_click,
    corrective_scribble,
    simulate_scribbles,
)
from segviewer.methods.base import (
    CancelToken,
    Method,
    MethodRequest,
    MethodResult,
    no_progress,
)
from segviewer.methods.request import BoxPrompt, apply_result_to_array, build_request_from_arrays
from segviewer.model.geometry import Geometry, bounding_box
from segviewer.model.points import PointPrompt

NOC_THRESHOLDS = (0.85, 0.90)
MAX_INTERACTIONS = 20
#: The challenge protocol: one box per structure, then this many corrective clicks.
PROTOCOL_CLICKS = 5
NSD_TOLERANCE_MM = 2.0


def build_request(method: Method, image: np.ndarray, geometry: Geometry, scribbles: np.ndarray,
                  labels: np.ndarray | None, label_values: list[int], params: Any = None,
                  active_label: int | None = None) -> MethodRequest:
    """The request the GUI and ``segviewer segment`` would build: the method's own default
    region (the scribbles' box plus the default margin, or the whole volume) via
    :func:`segviewer.methods.request.build_request_from_arrays`."""
    active = int(active_label if active_label is not None else (label_values[0] if label_values else 1))
    return build_request_from_arrays(method, image, geometry, scribbles=scribbles,
                                     unannotated=int(np.iinfo(scribbles.dtype).max), labels=labels,
                                     params=params, active_label=active, label_values=list(label_values))


def apply_result(labels: np.ndarray, result: MethodResult) -> np.ndarray:
    """A copy of ``labels`` with the result written into its ROI (only ``decided`` voxels)."""
    return apply_result_to_array(labels.copy(), result)


@dataclass
class Round:
    interaction: int  # 1 = the initial scribbles, then one per correction
    dice: float  # mean over the reference's labels
    dice_merged: float
    hd95_mm: float
    seconds: float  # the method's run time this round
    per_label_dice: dict[str, float]
    correction: dict | None = None  # the stroke that led to this round (None for round 1)


@dataclass
class CaseRun:
    case: str
    method: str
    rounds: list[Round] = field(default_factory=list)
    noc: dict[str, int] = field(default_factory=dict)
    reached: dict[str, bool] = field(default_factory=dict)
    error: str | None = None
    final_nsd: float | None = None  # the box protocol's NSD at 2 mm after the last interaction

    @property
    def first_dice(self) -> float | None:
        return self.rounds[0].dice if self.rounds else None

    @property
    def first_hd95(self) -> float | None:
        return self.rounds[0].hd95_mm if self.rounds else None

    @property
    def seconds_per_interaction(self) -> float | None:
        return statistics.mean(r.seconds for r in self.rounds) if self.rounds else None

    @property
    def final_dice(self) -> float | None:
        return self.rounds[-1].dice if self.rounds else None

    @property
    def dsc_auc(self) -> float | None:
        """Area under the Dice-per-interaction curve, normalised to [0, 1]."""
        curve = [r.dice for r in self.rounds]
        if len(curve) < 2:
            return curve[0] if curve else None
        return float(np.trapezoid(curve) / (len(curve) - 1))

    def to_dict(self) -> dict:
        data = {"case": self.case, "method": self.method, "noc": self.noc, "reached": self.reached,
                "first_dice": self.first_dice, "first_hd95_mm": self.first_hd95,
                "first_per_label_dice": self.rounds[0].per_label_dice if self.rounds else None,
                "seconds_per_interaction": self.seconds_per_interaction, "error": self.error,
                "final_dice": self.final_dice, "dsc_auc": self.dsc_auc, "final_nsd": self.final_nsd,
                "rounds": [asdict(r) for r in self.rounds]}
        return metrics.json_safe(data)


def noc(curve: list[float], threshold: float, cap: int = MAX_INTERACTIONS) -> tuple[int, bool]:
    """Interactions (1-based) until ``curve`` first reaches ``threshold``; ``cap`` if never."""
    for n, value in enumerate(curve, start=1):
        if n > cap:
            break
        if value >= threshold:
            return n, True
    return cap, False


def _mean_label_dice(pred: np.ndarray, ref: np.ndarray, labels: list[int]) -> tuple[float, dict[str, float]]:
    per = {str(k): metrics.dice(pred, ref, label=k) for k in labels}
    return (float(np.mean(list(per.values()))) if per else 1.0), per


def run_case(method: Method, image: np.ndarray, geometry: Geometry, reference: np.ndarray, *,
             case: str = "case", params: Any = None, slices: int = 3, seed: int = 0,
             max_interactions: int = MAX_INTERACTIONS, axis: int = 0,
             style: StrokeStyle = DEFAULT_STYLE, stop_at: float | None = None,
             request_builder: Callable[..., MethodRequest] | None = None) -> CaseRun:
    """Run the simulated user against ``method`` on one case.

    ``stop_at`` ends the run early once the Dice reaches it (NoC values above it are then
    reported as reached at the last round, so use it only with the highest threshold).
    """
    labels = [int(v) for v in np.unique(reference) if v != 0]
    run = CaseRun(case, method.name)
    scribbles = simulate_scribbles(reference, geometry, slices=slices, axis=axis, seed=seed, style=style)
    current = np.zeros(reference.shape, dtype=reference.dtype)
    build = request_builder or build_request
    correction = None
    for interaction in range(1, max_interactions + 1):
        request = build(method, image, geometry, scribbles, current, labels, params)
        current = _play(method, request, current, reference, labels, geometry, run,
                        correction.to_dict() if correction else None)
        if stop_at is not None and run.rounds[-1].dice >= stop_at:
            break
        if interaction == max_interactions:
            break
        correction = corrective_scribble(current, reference, scribbles, geometry, axis=axis, style=style)
        if correction is None:  # nothing left to correct
            break
    _record_noc(run, max_interactions)
    return run


def _play(method: Method, request: MethodRequest, current: np.ndarray, reference: np.ndarray, labels: list[int],
          geometry: Geometry, run: CaseRun, correction: dict | None) -> np.ndarray:
    """One interaction: run the method, apply its result, score it as the run's next round."""
    start = time.perf_counter()
    result = method.run(request, no_progress, CancelToken())
    seconds = time.perf_counter() - start
    current = apply_result(current, result)
    dice, per_label = _mean_label_dice(current, reference, labels)
    hd95 = metrics.hd95(current, reference, metrics.spacing_zyx(geometry))
    run.rounds.append(Round(len(run.rounds) + 1, dice, metrics.dice(current, reference), hd95, seconds,
                            per_label, correction))
    return current


def _record_noc(run: CaseRun, cap: int) -> None:
    """NoC@85/90 of the run's curve (a run that stopped early keeps its last value)."""
    curve = [r.dice for r in run.rounds]
    for threshold in NOC_THRESHOLDS:
        key = f"{int(round(threshold * 100))}"
        run.noc[key], run.reached[key] = noc(curve, threshold, cap)


def reference_boxes(reference: np.ndarray, geometry: Geometry, labels: list[int]) -> list[BoxPrompt]:
    """Each structure's tight 3D box, corners at the centres of its outermost voxels (mm)."""
    boxes = []
    for label in labels:
        box = bounding_box(np.asarray(reference) == label)
        first = geometry.index_to_physical([s.start for s in box][::-1])
        last = geometry.index_to_physical([s.stop - 1 for s in box][::-1])
        boxes.append(BoxPrompt(tuple(float(v) for v in first), tuple(float(v) for v in last), label))
    return boxes


def run_box_protocol(method: Method, image: np.ndarray, geometry: Geometry, reference: np.ndarray, *,
                     case: str = "case", params: Any = None, clicks: int = PROTOCOL_CLICKS,
                     axis: int = 0) -> CaseRun:
    """Box + ``clicks`` corrective clicks (see the module notes) against ``method``."""
    labels = [int(v) for v in np.unique(reference) if v != 0]
    run = CaseRun(case, method.name)
    boxes = reference_boxes(reference, geometry, labels)
    points: list[PointPrompt] = []
    current = np.zeros(reference.shape, dtype=reference.dtype)
    correction = None
    for _ in range(clicks + 1):
        request = build_request_from_arrays(method, image, geometry, boxes=boxes, points=points, labels=current,
                                            params=params, active_label=labels[0], label_values=labels)
        current = _play(method, request, current, reference, labels, geometry, run, correction)
        click = corrective_click(current, reference, geometry, axis=axis)
        if click is None:
            break
        points.append(click)
        correction = {"click_mm": list(click.position_mm), "label": click.label, "positive": click.positive}
    run.final_nsd = float(np.mean([metrics.nsd(current, reference, geometry, NSD_TOLERANCE_MM, label=k)
                                   for k in labels]))
    _record_noc(run, clicks + 1)
    return run


def summarize(runs: list[CaseRun]) -> dict:
    """Means over the cases that ran (errors are counted, not averaged)."""
    ok = [r for r in runs if r.error is None and r.rounds]

    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    summary = {
        "cases": len(runs),
        "failed": len(runs) - len(ok),
        "first_dice": mean(r.first_dice for r in ok),
        "first_hd95_mm": mean(r.first_hd95 for r in ok),
        "seconds_per_interaction": mean(r.seconds_per_interaction for r in ok),
        "final_dice": mean(r.final_dice for r in ok),
        "dsc_auc": mean(r.dsc_auc for r in ok),
        "final_nsd": mean(r.final_nsd for r in ok),
    }
    if ok:
        for key in ok[0].rounds[0].per_label_dice:
            summary[f"first_dice_label_{key}"] = mean(r.rounds[0].per_label_dice.get(key) for r in ok)
        summary["first_dice_merged"] = mean(r.rounds[0].dice_merged for r in ok)
    for threshold in NOC_THRESHOLDS:
        key = f"{int(round(threshold * 100))}"
        summary[f"noc{key}"] = mean(r.noc.get(key) for r in ok)
        summary[f"reached{key}"] = sum(1 for r in ok if r.reached.get(key))
    return metrics.json_safe(summary)
