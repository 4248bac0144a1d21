"""``segviewer stats IMAGE LABELS [--json]``: per-label volume, intensity and lesion counts."""

from __future__ import annotations

import sys

from segviewer.cli.arguments import input_path
from segviewer.io.images import read_image
from segviewer.io.jsonfile import dumps
from segviewer.io.labels import read_label_map
from segviewer.tools.statistics import format_table, label_statistics

NAME = "stats"
HELP = ("per-label voxel count, volume (mL), intensity mean/std/min/max/median, bounding box (mm) "
        "and connected components")


def add_arguments(parser) -> None:
    parser.add_argument("image", type=input_path, help="image file or DICOM folder")
    parser.add_argument("labels", type=input_path, help="label map on the image's grid")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--connectivity", type=int, choices=(6, 26), default=6,
                        help="neighbourhood joining voxels into one component (default 6: faces)")


def run(args) -> int:
    image = read_image(args.image)
    if image.metadata.get("message"):  # e.g. non-finite voxels: their statistics are null
        print(f"segviewer: note: {image.metadata['message']}", file=sys.stderr)
    label_map, message = read_label_map(args.labels, image.geometry)
    if message:
        print(f"segviewer: {args.labels}: {message}", file=sys.stderr)
    rows = label_statistics(image.array, label_map.array, image.geometry,
                            names=label_map.table.name_of,
                            full_connectivity=args.connectivity == 26)
    if args.json:
        print(dumps({"image": str(args.image), "labels": str(args.labels),
                     "connectivity": args.connectivity,
                     "spacing_mm": list(image.geometry.spacing),
                     "statistics": [r.to_dict() for r in rows]}, indent=2))
    else:
        print(format_table(rows) if rows else "no labels (every voxel is 0)")
    return 0
