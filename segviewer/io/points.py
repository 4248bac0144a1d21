"""Point prompts on disk: a small JSON file in physical millimetres (LPS)::

    {"format": "segviewer-points", "version": 1, "coordinate_system": "LPS", "unit": "mm",
     "points": [{"position_mm": [12.5, -40.0, 101.0], "label": 1, "positive": true}]}

Physical coordinates keep points valid on any grid of the same anatomy. Files declaring
``"coordinate_system": "RAS"`` (3D Slicer, nibabel) are converted on reading.
"""

from __future__ import annotations

import json
from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.atomic import OutputGuard, write_text_atomically
from segviewer.model.geometry import Geometry
from segviewer.model.points import PointPrompt, PointSet

POINTS_FORMAT = "segviewer-points"
POINTS_VERSION = 1


class PointFileError(SegviewerError):
    """A point file could not be understood."""


def points_to_json(points: PointSet) -> dict:
    return {"format": POINTS_FORMAT, "version": POINTS_VERSION, "coordinate_system": "LPS",
            "unit": "mm", "points": points.to_list()}


def write_points(path: str | Path, points: PointSet, *, guard: OutputGuard | None = None) -> Path:
    """Write ``points`` atomically as JSON (never over a file ``guard`` protects)."""
    path = Path(path)
    write_text_atomically(path, json.dumps(points_to_json(points), indent=2) + "\n",
                          guard=guard, what="the points")
    return path


def read_points(path: str | Path) -> PointSet:
    """Read a point file (also a bare list of points)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PointFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PointFileError(f"{path}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise PointFileError(f"{path}: not valid JSON ({error})") from None
    return points_from_json(data, str(path))


def points_from_json(data, source: str = "points") -> PointSet:
    if isinstance(data, dict):
        version = data.get("version", POINTS_VERSION)
        if not isinstance(version, int) or version > POINTS_VERSION:
            raise PointFileError(f"{source}: point file version {version!r} is not supported "
                                 f"(this segviewer reads version {POINTS_VERSION})")
        system = str(data.get("coordinate_system", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise PointFileError(f"{source}: coordinate system {system!r}; expected LPS or RAS")
        if str(data.get("unit", "mm")).lower() != "mm":
            raise PointFileError(f"{source}: unit {data.get('unit')!r}; expected mm")
        items = data.get("points")
    else:
        system, items = "LPS", data
    if not isinstance(items, list):
        raise PointFileError(f"{source}: no list of points")
    points = []
    for number, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise TypeError("expected an object with position_mm, label and positive")
            if not isinstance(item.get("positive", True), bool):
                raise ValueError(f"positive must be true or false, got {item['positive']!r}")
            point = PointPrompt.from_dict(item)
            if not 0 <= point.label < 65535:
                raise ValueError(f"label {point.label} is outside 0..65534")
        except (KeyError, TypeError, ValueError) as error:
            raise PointFileError(f"{source}: point {number} is not valid ({error})") from None
        if system == "RAS":
            x, y, z = point.position_mm
            point = PointPrompt((-x, -y, z), point.label, point.positive)
        points.append(point)
    return PointSet(points)


def points_outside(points: PointSet, geometry: Geometry) -> list[int]:
    """Indices of the points that fall outside ``geometry``'s voxels."""
    return [n for n, point in enumerate(points) if geometry.physical_to_voxel(point.position_mm) is None]
