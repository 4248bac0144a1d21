"""``segviewer segment IMAGE --method NAME [--scribbles S] [--points P.json] [--box [L:]X0,Y0,Z0,X1,Y1,Z1] [--labels L]
[--model M] [--param key=value …] [--roi-margin MM | --whole-volume] -o OUT``.

Runs a registered method headless — the very code the GUI's worker runs — and writes the
label map with the image's geometry. With ``--labels`` the result is written into that
label map (only where the method decided, only inside its ROI); otherwise into an empty one.
``--box`` (repeatable) gives a box prompt: two opposite corners in LPS mm, label 1 unless
``L:`` says otherwise; a box flat along one axis is a 2D box on that slice. Outside the
boxes is background; scribbles and points given with it act as corrections.
``--model M`` is short for ``--param model=M`` (deep methods: a bundled model name, a model
card, a TorchScript file or a bundle folder).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from segviewer.batch.tasks import SegmentInputs, segment_case
from segviewer.cli.arguments import (device_name, input_path, label_output, label_value, non_negative_float,
                                     output_file)
from segviewer.cli.model_trust import add_trust_argument, trust_if_asked
from segviewer.errors import SegviewerError
from segviewer.io.jsonfile import dumps
from segviewer.methods.base import CancelToken, MethodInputError
from segviewer.methods.registry import get_method
from segviewer.methods.request import DEFAULT_MARGIN_MM, BoxPrompt, LassoPrompt
from segviewer.model.parameters import parameter_specs, parse_parameter_assignments

NAME = "segment"
HELP = "run a segmentation method (graph cut, watershed, threshold …) headless and write the label map"


def add_arguments(parser) -> None:
    parser.add_argument("image", type=input_path, help="image file or DICOM folder")
    parser.add_argument("--method", required=True, help="method name (see: segviewer methods)")
    parser.add_argument("--scribbles", type=input_path,
                        help="scribble file (0 = background, k = label k, 255/65535 = none)")
    parser.add_argument("--points", type=input_path, help="point prompts (JSON, positions in mm)")
    parser.add_argument("--box", dest="boxes", action="append", default=[], type=box_prompt,
                        metavar="[LABEL:]X0,Y0,Z0,X1,Y1,Z1",
                        help="box prompt: two opposite corners in LPS mm (repeatable; label 1 by default; "
                             "flat in one axis = a 2D box on that slice); outside is background")
    parser.add_argument("--lasso", dest="lassos", action="append", default=[], type=input_path, metavar="FILE.json",
                        help='lasso prompt (repeatable): {"label": 1, "points_mm": [[x, y, z], ...]}, a closed '
                             "curve on one slice; inside = the label, a band outside = background")
    parser.add_argument("--labels", type=input_path, help="existing label map: the result is written into it")
    parser.add_argument("--label", type=label_value, default=1,
                        help="the active label (threshold, region growing from points); default 1")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method parameter (repeatable); see: segviewer methods")
    parser.add_argument("--model", metavar="M",
                        help="the model of a deep method (unet, finetune): a bundled name, a model card "
                             "(.json), a TorchScript file or a bundle folder; short for --param model=M")
    add_trust_argument(parser)
    parser.add_argument("--device", type=device_name, default=None,
                        help="where a deep method's network runs: auto, cpu, cuda, cuda:N, mps; short for "
                             "--param device=D")
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
    params = parse_parameter_assignments(
        method.Parameters, model_assignments(method, args.model) + device_assignments(method, args.device) + args.param)
    trust_if_asked(args, params)
    inputs = SegmentInputs(Path(args.image), _path(args.scribbles), _path(args.points), _path(args.labels),
                           model=args.model, active_label=args.label, boxes=tuple(args.boxes),
                           lassos=tuple(read_lasso(path) for path in args.lassos),
                           **roi_options(args))
    outcome = segment_case(method, params, inputs, args.output, info_output=args.info,
                           progress=console_progress(args.quiet),
                           note=lambda text: print(f"segviewer: note: {text}", file=sys.stderr))
    print(f"wrote {outcome.output} ({method.name}, ROI i j k = {outcome.roi}, {outcome.seconds:.2f} s)")
    print_warnings(outcome.info)
    if outcome.info and not args.quiet:
        print(dumps(outcome.info, default=str))
    return 0


def box_prompt(text: str) -> BoxPrompt:
    """``[LABEL:]X0,Y0,Z0,X1,Y1,Z1`` (mm) as a box prompt."""
    label, _, corners = text.rpartition(":")
    try:
        values = [float(v) for v in corners.split(",")]
        value = int(label) if label else 1
    except ValueError:
        values, value = [], 0
    if len(values) != 6 or not all(math.isfinite(v) for v in values) or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not [LABEL:]X0,Y0,Z0,X1,Y1,Z1 (six numbers in mm, "
                                         "a label of 1 or more)")
    return BoxPrompt(tuple(values[:3]), tuple(values[3:]), value)


def read_lasso(path: str) -> LassoPrompt:
    """A lasso file: ``{"label": L, "points_mm": [[x, y, z], ...]}`` (label 1 by default)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        points = tuple(tuple(float(v) for v in point) for point in data["points_mm"])
        label = int(data.get("label", 1))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SegviewerError(f"{path}: not a lasso file ({{\"label\": 1, \"points_mm\": [[x, y, z], ...]}}): "
                             f"{error}") from None
    if any(len(point) != 3 or not all(math.isfinite(v) for v in point) for point in points):
        raise SegviewerError(f"{path}: every lasso point is three finite numbers (x, y, z in mm)")
    return LassoPrompt(points, label)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def roi_options(args) -> dict:
    """``margin_mm`` and ``whole_volume`` for a request, from ``--roi-margin`` / ``--whole-volume``
    (neither given: the method's own default ROI)."""
    whole = True if args.whole_volume else (False if args.roi_margin is not None else None)
    return {"margin_mm": DEFAULT_MARGIN_MM if args.roi_margin is None else args.roi_margin,
            "whole_volume": whole}


def console_progress(quiet: bool):
    """A method's ``progress`` that prints to stderr at most twice a second (nothing when quiet)."""
    last = [0.0]

    def progress(fraction: float, text: str = "", partial=None) -> None:
        now = time.perf_counter()
        if quiet or (now - last[0] < 0.5 and fraction < 1.0):
            return
        last[0] = now
        print(f"  {100 * fraction:3.0f}% {text}", file=sys.stderr)

    return progress


def run_with_console_progress(method, request, quiet: bool):
    """Run ``method`` on ``request``, printing progress to stderr at most twice a second.

    Returns the result and the seconds it took.
    """
    started = time.perf_counter()
    result = method.run(request, console_progress(quiet), CancelToken())
    print_warnings(result.info)
    return result, time.perf_counter() - started


def print_warnings(info: dict | None) -> None:
    """A method's warnings (an image outside its model's training domain), one line each."""
    for warning in (info or {}).get("warnings", ()):
        print(f"segviewer: warning: {warning}", file=sys.stderr)


def model_assignments(method, model: str | None) -> list[str]:
    """``--model M`` as the assignment ``model=M`` (an error for a method without a model)."""
    return flag_assignment(method, "model", model, "has no model; --model is for deep methods")


def device_assignments(method, device: str | None) -> list[str]:
    """``--device D`` as the assignment ``device=D`` (an error for a method that runs no network)."""
    return flag_assignment(method, "device", device, "runs no network; --device is for deep methods")


def flag_assignment(method, name: str, value: str | None, refusal: str) -> list[str]:
    """A flag that is short for ``--param NAME=VALUE``; ``refusal`` says why a method without
    that parameter cannot take it."""
    if value is None:
        return []
    if name not in {spec.name for spec in parameter_specs(method.Parameters)}:
        raise MethodInputError(f"method {method.name!r} {refusal} (see: segviewer methods)")
    return [f"{name}={value}"]
