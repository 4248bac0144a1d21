"""Interactive benchmark: a simulated user corrects a method's result, round after round.

Round 1 gives the method the initial scribbles (``slices`` per structure, from
:func:`simulate_scribbles`). After each result the user adds ONE corrective stroke in the
largest error region (:func:`corrective_scribble`) and the method reruns with every scribble
so far. The Dice curve against the number of interactions is recorded, with NoC@85 and
NoC@90: the number of interactions (the initial scribbles count as one) after which the
Dice first reaches 0.85 / 0.90, capped at ``max_interactions`` (20) when never reached.

Dice here is the mean over the reference's labels (per-label Dice, averaged); the merged
foreground Dice and HD95 are recorded beside it.
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
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays
from segviewer.model.geometry import Geometry

NOC_THRESHOLDS = (0.85, 0.90)
MAX_INTERACTIONS = 20


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

    @property
    def first_dice(self) -> float | None:
        return self.rounds[0].dice if self.rounds else None

    @property
    def first_hd95(self) -> float | None:
        return self.rounds[0].hd95_mm if self.rounds else None

    @property
    def seconds_per_interaction(self) -> float | None:
        return statistics.mean(r.seconds for r in self.rounds) if self.rounds else None

    def to_dict(self) -> dict:
        data = {"case": self.case, "method": self.method, "noc": self.noc, "reached": self.reached,
                "first_dice": self.first_dice, "first_hd95_mm": self.first_hd95,
                "first_per_label_dice": self.rounds[0].per_label_dice if self.rounds else None,
                "seconds_per_interaction": self.seconds_per_interaction, "error": self.error,
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
    spacing = metrics.spacing_zyx(geometry)
    for interaction in range(1, max_interactions + 1):
        request = build(method, image, geometry, scribbles, current, labels, params)
        start = time.perf_counter()
        result = method.run(request, no_progress, CancelToken())
        seconds = time.perf_counter() - start
        current = apply_result(current, result)
        dice, per_label = _mean_label_dice(current, reference, labels)
        merged = metrics.dice(current, reference)
        hd95 = metrics.hd95(current, reference, spacing)
        run.rounds.append(Round(interaction, dice, merged, hd95, seconds, per_label,
                                correction.to_dict() if correction else None))
        if stop_at is not None and dice >= stop_at:
            break
        if interaction == max_interactions:
            break
        correction = corrective_scribble(current, reference, scribbles, geometry, axis=axis, style=style)
        if correction is None:  # nothing left to correct
            break
    curve = [r.dice for r in run.rounds]
    # a run that stopped early keeps its last value for the remaining interactions
    for threshold in NOC_THRESHOLDS:
        key = f"{int(round(threshold * 100))}"
        run.noc[key], run.reached[key] = noc(curve, threshold, max_interactions)
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
