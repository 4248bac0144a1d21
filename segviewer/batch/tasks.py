"""One case, start to end: the work ``segviewer segment`` and ``segviewer evaluate`` do for a
single case, shared with the batch engine so that a batch's outputs are the one-case
command's, byte for byte.

:func:`segment_case` reads the image, scribbles, points and label map of one case, runs a
method from the registry on them and writes the label map (and the method's info) through
:mod:`segviewer.io.atomic`; :func:`evaluate_case` compares a label map with its reference.
Both are plain functions of picklable arguments, so a Dask worker runs them as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from segviewer.io.atomic import OutputGuard, input_guard, refuse_image_name, with_sidecar, write_text_atomically
from segviewer.io.images import read_image
from segviewer.io.jsonfile import dumps
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.points import read_points
from segviewer.io.scribbles import read_scribbles
from segviewer.methods.base import CancelToken, Method, MethodInputError, MethodResult, Progress, no_progress
from segviewer.methods.request import (
    DEFAULT_MARGIN_MM,
    BoxPrompt,
    LassoPrompt,
    apply_result_to_array,
    build_request_from_arrays,
)
from segviewer.model.labels import LabelMap
from segviewer.model.points import PointSet


@dataclass(frozen=True)
class SegmentInputs:
    """The files of one case and how the method's box is chosen (``segviewer segment``'s
    arguments). ``whole_volume`` None = the method's own default box."""

    image: Path
    scribbles: Path | None = None
    points: Path | None = None
    labels: Path | None = None
    #: a deep method's model as the user named it (its files are protected from the outputs)
    model: str | None = None
    active_label: int = 1
    margin_mm: float = DEFAULT_MARGIN_MM
    whole_volume: bool | None = None
    #: box prompts (``segment --box``): corners in LPS mm and a label
    boxes: tuple[BoxPrompt, ...] = ()
    #: lasso prompts (``segment --lasso``), drawn into the scribbles
    lassos: tuple[LassoPrompt, ...] = ()


@dataclass
class SegmentOutcome:
    """What one case produced: the output, the method's result box, its info and timing."""

    output: Path
    method: str
    seconds: float
    roi: str  # "i0:i1 j0:j1 k0:k1", as the command prints it
    info: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def segment_case(method: Method, params: Any, inputs: SegmentInputs, output: str | Path, *,
                 info_output: str | Path | None = None, progress: Progress = no_progress,
                 cancel: CancelToken | None = None,
                 note: Callable[[str], None] = lambda text: None) -> SegmentOutcome:
    """Run ``method`` with ``params`` on one case and write its label map to ``output``.

    Every output is checked against the case's inputs before anything is read (an output
    never replaces an input) and written atomically. ``note`` receives what the readers
    noticed (NaN voxels, a label map resampled onto the image grid) before the method runs.
    """
    output = Path(output)
    guard = guard_for(inputs)
    guard.check_all([*with_sidecar(output, "the label map", "labels"), (info_output, "the method's info")])
    if info_output:
        refuse_image_name(info_output, "the method's info")  # before the label map is written
    image = read_image(inputs.image)
    guard.protect_image(image)  # a DICOM series: every slice file
    geometry = image.geometry
    notes = [image.metadata.get("message", "")]  # e.g. NaN voxels, a duplicate DICOM slice
    scribbles = unannotated = None
    if inputs.scribbles:
        loaded, message = read_scribbles(inputs.scribbles, geometry)
        scribbles, unannotated = loaded.array, loaded.unannotated
        notes.append(message)
    points = read_points(inputs.points) if inputs.points else PointSet()
    if inputs.labels:
        label_map, message = read_label_map(inputs.labels, geometry)
        notes.append(message)
    else:
        label_map = LabelMap.empty(geometry)
    notes = [text for text in notes if text]
    for text in notes:
        note(text)
    check_prompts(method, scribbles is not None or bool(inputs.lassos), len(points), len(inputs.boxes))
    request = build_request_from_arrays(
        method, image.array, geometry, scribbles=scribbles, unannotated=unannotated, points=list(points),
        labels=label_map.array, params=params, active_label=inputs.active_label,
        label_values=label_map.table.values, margin_mm=inputs.margin_mm, whole_volume=inputs.whole_volume,
        modality=image.metadata.get("modality", ""), boxes=inputs.boxes,
        lassos=inputs.lassos)
    started = time.perf_counter()
    result = method.run(request, progress, cancel or CancelToken())
    seconds = time.perf_counter() - started
    label_map.array = apply_result_to_array(label_map.array, result, image.array)
    label_map.table.ensure(label_map.present_values())
    write_label_map(output, label_map, geometry, protected_paths=guard)
    outcome = SegmentOutcome(output, method.name, seconds, roi_text(result), printable_info(result), notes)
    if info_output:
        write_text_atomically(info_output, dumps({"method": method.name, "seconds": seconds, "roi": outcome.roi,
                                                  "info": outcome.info}, indent=2, default=str) + "\n",
                              guard=guard, what="the method's info")
    return outcome


def check_prompts(method: Method, has_scribbles: bool, point_count: int, box_count: int = 0) -> None:
    """Refuse a case that lacks the prompts its method needs, in the command's words."""
    if box_count:
        if not method.takes_boxes:
            raise MethodInputError(f"method {method.name!r} takes no --box (see: segviewer methods)")
        return  # boxes suffice (scribbles and points join them as corrections)
    if "scribbles" in method.requires and "points" not in method.requires and not has_scribbles:
        raise MethodInputError(f"method {method.name!r} needs --scribbles")
    if {"scribbles", "points"} <= method.requires and not has_scribbles and not point_count:
        raise MethodInputError(f"method {method.name!r} needs --scribbles or --points")


def roi_text(result: MethodResult) -> str:
    """The result's box as ``i0:i1 j0:j1 k0:k1`` (index order, as ITK writes it)."""
    return " ".join(f"{s.start}:{s.stop}" for s in reversed(result.roi))


def printable_info(result: MethodResult) -> dict:
    """The method's facts (thresholds found, model, tiles …) without its maps (entropy)."""
    return {key: value for key, value in (result.info or {}).items() if not isinstance(value, np.ndarray)}


def evaluate_case(prediction: str | Path, reference: str | Path, *, labels=None, empty_distance=None,
                  instances: bool = False, iou_threshold: float = 0.5):
    """``segviewer evaluate PRED REF``: the prediction resampled onto the reference's grid
    and compared with it (:class:`segviewer.evaluation.metrics.Evaluation`)."""
    from segviewer.evaluation.cases import read_label_array  # noqa: PLC0415 - SciPy only when evaluating
    from segviewer.evaluation.metrics import evaluate  # noqa: PLC0415

    reference_array, geometry = read_label_array(reference)
    prediction_array, _ = read_label_array(prediction, reference=geometry)
    return evaluate(prediction_array, reference_array, geometry, labels=labels, empty_distance=empty_distance,
                    instances=instances, iou_threshold=iou_threshold)


def guard_for(inputs: SegmentInputs) -> OutputGuard:
    """The case's inputs as an :class:`OutputGuard` (what no output of the case may replace)."""
    from segviewer.methods.deep.saving import model_files  # noqa: PLC0415 - deep methods load lazily

    return input_guard(image=inputs.image, scribbles=inputs.scribbles, points=inputs.points,
                       labels=inputs.labels, model=model_files(inputs.model) if inputs.model else None)


# -- the batch's tasks: plain functions a worker runs, returning one row of results ------------
#: The figures of an evaluation that go into a batch's results (merged foreground and per label).
EVALUATION_FIGURES = ("dice", "iou", "sensitivity", "precision", "volume_diff_percent", "hd95_mm", "assd_mm")


def segment_task(method_name: str, params: Any, inputs: SegmentInputs, output: str | Path) -> dict:
    """A batch's segmentation of one case: :func:`segment_case` with a fresh method from
    the registry (no state carried between cases); the row lists the outputs written."""
    from segviewer.methods.registry import get_method  # noqa: PLC0415 - the registry imports every method

    outcome = segment_case(get_method(method_name), params, inputs, output)
    info = {f"info_{key}": value for key, value in outcome.info.items() if isinstance(value, (int, float, str))}
    return {"outputs": [str(path) for path, _ in with_sidecar(output, "the label map", "labels")],
            "method_seconds": round(outcome.seconds, 3), "roi": outcome.roi, "notes": "; ".join(outcome.notes),
            **info}


def evaluate_task(prediction: str | Path, reference: str | Path, labels=None) -> dict:
    """A batch's evaluation of one case: :data:`EVALUATION_FIGURES` of the merged foreground
    (``dice``) and of each label (``dice_1``, ``dice_2`` …)."""
    result = evaluate_case(prediction, reference, labels=labels)
    row: dict = {"prediction": str(prediction), "reference": str(reference)}
    for figure in EVALUATION_FIGURES:
        row[figure] = getattr(result.merged, figure)
        for label, metrics in result.per_label.items():
            row[f"{figure}_{label}"] = getattr(metrics, figure)
    return row
