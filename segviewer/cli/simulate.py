"""``segviewer simulate REF -o SCRIBBLES``: scribbles (and clicks) a simulated user draws."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from segviewer.cli.arguments import (input_path, int_in, label_list, label_output, non_negative_float,
                                     output_file, seed)
from segviewer.evaluation.cases import read_label_array
from segviewer.evaluation.simulate import (
    STYLES,
    StrokeStyle,
    simulate_points,
    simulate_scribbles,
)
from segviewer.io.atomic import input_guard, refuse_image_name, with_sidecar
from segviewer.io.points import write_points
from segviewer.io.scribbles import write_scribbles
from segviewer.model.points import PointSet
from segviewer.model.scribbles import Scribbles

NAME = "simulate"
HELP = ("draw scribbles from a reference label map as a user would: strokes inside each structure "
        "and background strokes around it on K slices (and optional clicks)")


def add_arguments(parser) -> None:
    parser.add_argument("reference", type=input_path, help="reference label map")
    parser.add_argument("-o", "--output", required=True, type=label_output,
                        help="scribble file to write (e.g. s.nii.gz)")
    parser.add_argument("--slices", type=int_in(1, 1000), default=3, help="slices per structure (default 3)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument("--axis", type=int, default=0, choices=(0, 1, 2),
                        help="array axis the slices cut: 0 = k (axial for usual scans), 1 = j, 2 = i")
    parser.add_argument("--labels", type=label_list,
                        help="comma-separated labels to scribble (default: all present)")
    parser.add_argument("--style", choices=tuple(STYLES), default="default",
                        help="how the user draws: " + ", ".join(STYLES) + " (default: default; "
                             "--brush-radius and --background-distance change it further)")
    parser.add_argument("--no-background", action="store_true", help="draw no background strokes")
    parser.add_argument("--background-distance", type=non_negative_float,
                        help="how far outside a structure the background stroke runs, mm "
                             f"(default {StrokeStyle.background_distance_mm:g})")
    parser.add_argument("--brush-radius", type=int_in(0, 50),
                        help=f"stroke radius in voxels (default {StrokeStyle.radius_voxels}: strokes 3 voxels "
                             "wide; the style's own otherwise)")
    parser.add_argument("--points", type=output_file, help="also write clicks to this JSON file (physical mm)")
    parser.add_argument("--positive", type=int_in(0, 1000), default=1,
                        help="positive clicks per structure (default 1)")
    parser.add_argument("--negative", type=int_in(0, 1000), default=1,
                        help="negative clicks per structure (default 1)")


def run(args) -> int:
    guard = input_guard(reference=args.reference)
    guard.check_all([*with_sidecar(args.output, "the scribbles", "scribbles"), (args.points, "the clicks")])
    if args.points:
        refuse_image_name(args.points, "the clicks")  # before the scribbles are written
    reference, geometry = read_label_array(args.reference)
    changes = {"radius_voxels": args.brush_radius, "background_distance_mm": args.background_distance}
    style = dataclasses.replace(STYLES[args.style], **{k: v for k, v in changes.items() if v is not None})
    scribbles = simulate_scribbles(reference, geometry, slices=args.slices, axis=args.axis, seed=args.seed,
                                   labels=args.labels, style=style, background=not args.no_background)
    write_scribbles(args.output, Scribbles(scribbles, geometry), protected_paths=guard)
    unannotated = int(np.iinfo(scribbles.dtype).max)
    counts = {int(v): int(n) for v, n in zip(*np.unique(scribbles, return_counts=True)) if v != unannotated}
    summary = ", ".join(f"{'background' if v == 0 else f'label {v}'}: {n}" for v, n in counts.items())
    missing = sorted(set(args.labels or ()) - {int(v) for v in np.unique(reference)})
    if missing:
        print(f"segviewer: note: {args.reference} holds no label {', '.join(map(str, missing))}",
              file=sys.stderr)
    print(f"wrote {args.output} ({summary + ' voxels' if summary else 'empty: no structure to scribble'})")
    if args.points:
        points = simulate_points(reference, geometry, positive=args.positive, negative=args.negative,
                                 axis=args.axis, seed=args.seed, labels=args.labels, style=style)
        write_points(args.points, PointSet(list(points)), guard=guard)
        print(f"wrote {args.points} ({len(points)} clicks)")
    return 0
