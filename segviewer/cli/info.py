"""``segviewer info IMAGE [--json]``: what an image file holds."""

from __future__ import annotations

import json

from segviewer.io.images import read_image

NAME = "info"
HELP = "print size, spacing, origin, direction, dtype and intensity range of an image"


def add_arguments(parser) -> None:
    parser.add_argument("image", help="image file or DICOM folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args) -> int:
    volume = read_image(args.image)
    geometry = volume.geometry
    info = {
        "path": str(args.image),
        "size": list(geometry.size),
        "spacing": list(geometry.spacing),
        "origin": list(geometry.origin),
        "direction": geometry.direction.tolist(),
        "orientation": "".join(geometry.orientation_letters()),
        "dtype": str(volume.array.dtype),
        "intensity_range": list(volume.intensity_range),
    }
    info.update({k: v for k, v in volume.metadata.items() if k in ("series", "series_uid")})
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:16s} {value}")
    return 0
