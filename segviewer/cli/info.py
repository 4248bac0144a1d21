"""``segviewer info IMAGE [--json] [--series S]``: what an image file or DICOM folder holds."""

from __future__ import annotations

import numpy as np

from segviewer.cli.arguments import input_path
from segviewer.io.images import read_image
from segviewer.io.jsonfile import dumps
from segviewer.io.memory import format_bytes

NAME = "info"
HELP = ("print size, spacing, origin, direction, dtype and intensity range of an image "
        "(and the series found in a DICOM folder)")


def add_arguments(parser) -> None:
    parser.add_argument("image", type=input_path, help="image file or DICOM folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--series", help="DICOM folders: the series to read, by index or UID "
                                         "(default: the largest)")


def describe(volume) -> dict:
    """The facts ``info`` prints, as a JSON-ready dict."""
    geometry = volume.geometry
    array = volume.array
    info = {
        "path": str(volume.path) if volume.path else volume.name,
        "format": volume.metadata.get("format", "unknown"),
        "size": list(geometry.size),
        "spacing": list(geometry.spacing),
        "origin": list(geometry.origin),
        "direction": geometry.direction.tolist(),
        "orientation": "".join(geometry.orientation_letters()),
        "oblique": bool(geometry.is_oblique()),
        "dtype": str(array.dtype),
        "memory": format_bytes(array.nbytes),
        "intensity_range": None,
    }
    non_finite = 0
    if np.issubdtype(array.dtype, np.floating):
        non_finite = info["non_finite_voxels"] = volume.metadata.get("non_finite_voxels", volume.count_non_finite())
    if non_finite < array.size:  # an all-NaN volume has no range (not the "0 .. 0" of no finite voxel)
        info["intensity_range"] = list(volume.intensity_range)
    for key in ("series_uid", "series_description", "modality"):
        if volume.metadata.get(key):
            info[key] = volume.metadata[key]
    if "series" in volume.metadata:
        info["series_index"] = volume.metadata.get("series_index", 0)
        info["series"] = volume.metadata["series"]
    if volume.metadata.get("message"):
        info["note"] = volume.metadata["message"]
    return info


def _text(info: dict) -> str:
    lines = []
    for key, value in info.items():
        if key == "series":
            continue
        if key == "direction":
            value = " ".join("[" + " ".join(f"{v:.6g}" for v in row) + "]" for row in value)
        elif key in ("spacing", "origin"):
            value = " ".join(f"{v:.6g}" for v in value) + " mm"
        elif key == "size":
            value = " x ".join(str(v) for v in value) + " (i, j, k)"
        elif key == "intensity_range":
            value = f"{value[0]:g} .. {value[1]:g}" if value else "none: every voxel is NaN or infinite"
        lines.append(f"{key:18s} {value}")
    series = info.get("series")
    if series:
        lines.append(f"{'series found':18s} {len(series)}")
        for number, item in enumerate(series):
            mark = "*" if number == info.get("series_index") else " "
            size = "x".join(str(v) for v in item["size"])
            text = " ".join(t for t in (item["modality"], repr(item["description"]) if item["description"] else "") if t)
            lines.append(f"  {mark}[{number}] {size:>12s} {item['files']:4d} files  {text}  "
                         f"{item['uid'] or '(no series UID)'}")
    return "\n".join(lines)


def run(args) -> int:
    volume = read_image(args.image, series=args.series)
    info = describe(volume)
    print(dumps(info, indent=2) if args.json else _text(info))
    return 0
