"""``segviewer segment IMAGE --method NAME [--scribbles S] [--points P.json] [--labels L]
[--model M] [--param key=value …] [--roi-margin MM | --whole-volume] -o OUT``.

Runs a registered method headless — the very code the GUI's worker runs — and writes the
label map with the image's geometry. With ``--labels`` the result is written into that
label map (only where the method decided, only inside its ROI); otherwise into an empty one.
``--model M`` is short for ``--param model=M`` (deep methods: a bundled model name, a model
card, a TorchScript file or a bundle folder).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from segviewer.cli.arguments import input_path, label_output, label_value, non_negative_float, output_file
from segviewer.cli.model_trust import add_trust_argument, trust_if_asked
from segviewer.io.atomic import input_guard, refuse_image_name, with_sidecar, write_text_atomically
from segviewer.io.images import read_image
from segviewer.io.jsonfile import dumps
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.points import read_points
from segviewer.io.scribbles import read_scribbles
from segviewer.methods.base import CancelToken, MethodInputError
from segviewer.methods.registry import get_method
from segviewer.methods.request import DEFAULT_MARGIN_MM, apply_result_to_array, build_request_from_arrays
from segviewer.model.labels import LabelMap
from segviewer.model.parameters import parameter_specs, parse_parameter_assignments
from segviewer.model.points import PointSet

NAME = "segment"
HELP = "run a segmentation method (graph cut, watershed, threshold …) headless and write the label map"


def add_arguments(parser) -> None:
    parser.add_argument("image", type=input_path, help="image file or DICOM folder")
    parser.add_argument("--method", required=True, help="method name (see: segviewer methods)")
    parser.add_argument("--scribbles", type=input_path,
                        help="scribble file (0 = background, k = label k, 255/65535 = none)")
    parser.add_argument("--points", type=input_path, help="point prompts (JSON, positions in mm)")
    parser.add_argument("--labels", type=input_path, help="existing label map: the result is written into it")
    parser.add_argument("--label", type=label_value, default=1,
                        help="the active label (threshold, region growing from points); default 1")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method parameter (repeatable); see: segviewer methods")
    parser.add_argument("--model", metavar="M",
                        help="the model of a deep method (unet, finetune): a bundled name, a model card "
                             "(.json), a TorchScript file or a bundle folder; short for --param model=M")
    add_trust_argument(parser)
    roi = parser.add_mutually_exclusive_group()
    roi.add_argument("--roi-margin", type=non_negative_float, default=None, metavar="MM",
                     help=f"work on the scribbles' box grown by MM millimetres (default {DEFAULT_MARGIN_MM:g})")
    roi.add_argument("--whole-volume", action="store_true", help="work on the whole volume")
    parser.add_argument("-o", "--output", required=True, type=label_output,
                        help="label map to write (.nii.gz, .nrrd, …)")
    parser.add_argument("--info", type=output_file,
                        help="also write the method's info (thresholds found, timing …) as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args) -> int:
    method = get_method(args.method)
    params = parse_parameter_assignments(method.Parameters, model_assignments(method, args.model) + args.param)
    trust_if_asked(args, params)
    output = Path(args.output)
    from segviewer.methods.deep.saving import model_files  # noqa: PLC0415 - deep methods load lazily

    guard = input_guard(image=args.image, scribbles=args.scribbles, points=args.points, labels=args.labels,
                        model=model_files(args.model) if args.model else None)
    guard.check_all([*with_sidecar(output, "the label map", "labels"), (args.info, "the method's info")])
    if args.info:
        refuse_image_name(args.info, "the method's info")  # before the label map is written
    image = read_image(args.image)
    geometry = image.geometry
    notes = [image.metadata.get("message", "")]  # e.g. NaN voxels, a duplicate DICOM slice
    scribbles = None
    unannotated = None
    if args.scribbles:
        scribbles, message = read_scribbles(args.scribbles, geometry)
        unannotated = scribbles.unannotated
        scribbles = scribbles.array
        notes.append(message)
    points = read_points(args.points) if args.points else PointSet()
    if args.labels:
        label_map, message = read_label_map(args.labels, geometry)
        notes.append(message)
    else:
        label_map = LabelMap.empty(geometry)
    for note in filter(None, notes):
        print(f"segviewer: note: {note}", file=sys.stderr)
    if "scribbles" in method.requires and "points" not in method.requires and scribbles is None:
        raise MethodInputError(f"method {method.name!r} needs --scribbles")
    if {"scribbles", "points"} <= method.requires and scribbles is None and not len(points):
        raise MethodInputError(f"method {method.name!r} needs --scribbles or --points")
    request = build_request_from_arrays(
        method, image.array, geometry, scribbles=scribbles, unannotated=unannotated, points=list(points),
        labels=label_map.array, params=params, active_label=args.label, label_values=label_map.table.values,
        modality=image.metadata.get("modality", ""), **roi_options(args))
    result, seconds = run_with_console_progress(method, request, args.quiet)
    label_map.array = apply_result_to_array(label_map.array, result, image.array)
    label_map.table.ensure(label_map.present_values())
    write_label_map(output, label_map, geometry, protected_paths=guard)
    box = " ".join(f"{s.start}:{s.stop}" for s in reversed(result.roi))
    print(f"wrote {output} ({method.name}, ROI i j k = {box}, {seconds:.2f} s)")
    info = {key: value for key, value in (result.info or {}).items()
            if not isinstance(value, np.ndarray)}  # maps (entropy) are not facts to print
    if info and not args.quiet:
        print(dumps(info, default=str))
    if args.info:
        write_text_atomically(args.info, dumps({"method": method.name, "seconds": seconds, "roi": box,
                                                "info": info}, indent=2, default=str) + "\n",
                              guard=guard, what="the method's info")
    return 0



def roi_options(args) -> dict:
    """``margin_mm`` and ``whole_volume`` for a request, from ``--roi-margin`` / ``--whole-volume``
    (neither given: the method's own default ROI)."""
    whole = True if args.whole_volume else (False if args.roi_margin is not None else None)
    return {"margin_mm": DEFAULT_MARGIN_MM if args.roi_margin is None else args.roi_margin,
            "whole_volume": whole}


def run_with_console_progress(method, request, quiet: bool):
    """Run ``method`` on ``request``, printing progress to stderr at most twice a second.

    Returns the result and the seconds it took.
    """
    last = [0.0]

    def progress(fraction: float, text: str = "", partial=None) -> None:
        now = time.perf_counter()
        if quiet or (now - last[0] < 0.5 and fraction < 1.0):
            return
        last[0] = now
        print(f"  {100 * fraction:3.0f}% {text}", file=sys.stderr)

    started = time.perf_counter()
    result = method.run(request, progress, CancelToken())
    print_warnings(result.info)
    return result, time.perf_counter() - started


def print_warnings(info: dict | None) -> None:
    """A method's warnings (an image outside its model's training domain), one line each."""
    for warning in (info or {}).get("warnings", ()):
        print(f"segviewer: warning: {warning}", file=sys.stderr)

def model_assignments(method, model: str | None) -> list[str]:
    """``--model M`` as the assignment ``model=M`` (an error for a method without a model)."""
    if model is None:
        return []
    if "model" not in {spec.name for spec in parameter_specs(method.Parameters)}:
        raise MethodInputError(f"method {method.name!r} has no model; --model is for deep methods "
                               "(see: segviewer methods)")
    return [f"model={model}"]
