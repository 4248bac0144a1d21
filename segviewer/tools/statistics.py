"""Per-label statistics: size, volume, intensity, bounding box and connected components.

One pass (``scipy.ndimage.find_objects``) finds every label's box; each label is then
measured on its own crop, so the cost follows the labelled volume, not the image size.
Pure NumPy/SciPy, safe to run in a worker thread on read-only arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import Geometry


@dataclass
class LabelStatistics:
    """Measurements of one label value."""

    value: int
    name: str
    voxel_count: int
    volume_ml: float
    mean: float | None
    std: float | None  # sample standard deviation (n - 1), as ITK reports it
    minimum: float | None
    maximum: float | None
    median: float | None
    #: First voxel (i, j, k) of the bounding box and its size in voxels (ITK's convention).
    bbox_index: tuple[int, int, int]
    bbox_size: tuple[int, int, int]
    #: Axis-aligned LPS extent (mm) of the box, voxel edges included.
    bbox_mm_min: tuple[float, float, float]
    bbox_mm_max: tuple[float, float, float]
    component_count: int
    #: Volume (mL) of each connected component, largest first.
    component_volumes_ml: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _physical_extent(geometry: Geometry, start_ijk, size_ijk):
    low = np.asarray(start_ijk, dtype=float) - 0.5
    high = low + np.asarray(size_ijk, dtype=float)
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])])
    points = geometry.index_to_physical(corners)
    return tuple(float(v) for v in points.min(axis=0)), tuple(float(v) for v in points.max(axis=0))


def label_statistics(image: np.ndarray | None, labels: np.ndarray, geometry: Geometry,
                     names: Callable[[int], str] | None = None,
                     values: Iterable[int] | None = None,
                     full_connectivity: bool = False,
                     cancelled: Callable[[], bool] | None = None) -> list[LabelStatistics]:
    """Statistics of every non-zero label in ``labels`` (or only ``values``).

    Parameters
    ----------
    image : intensities on the same grid (None: no intensity statistics)
    labels : the label array (array order k, j, i)
    geometry : the grid (spacing for volumes, transform for the mm bounding box)
    names : label value -> name (e.g. ``LabelTable.name_of``)
    full_connectivity : components joined by edges and corners too (26-neighbourhood);
        the default joins faces only (6-neighbourhood), ITK's default
    cancelled : polled between labels; when it returns True the partial list is returned
    """
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    structure = ndimage.generate_binary_structure(3, 3 if full_connectivity else 1)
    boxes = ndimage.find_objects(labels)
    wanted = None if values is None else {int(v) for v in values}
    results: list[LabelStatistics] = []
    for index, box in enumerate(boxes):
        value = index + 1
        if box is None or (wanted is not None and value not in wanted):
            continue
        if cancelled is not None and cancelled():
            break
        mask = labels[box] == value
        count = int(mask.sum())
        if count == 0:
            continue
        samples = image[box][mask].astype(np.float64) if image is not None else np.empty(0)
        samples = samples[np.isfinite(samples)]  # NaN/±inf voxels are missing data
        if samples.size:
            mean, minimum, maximum = float(samples.mean()), float(samples.min()), float(samples.max())
            std = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
            median = float(np.median(samples))
        else:
            mean = std = minimum = maximum = median = None
        component_map, component_count = ndimage.label(mask, structure=structure)
        sizes = np.bincount(component_map.reshape(-1), minlength=component_count + 1)[1:]
        sizes = np.sort(sizes)[::-1]
        # Tighten the box: find_objects boxes are exact for the value already.
        start_kji = [s.start for s in box]
        size_kji = [s.stop - s.start for s in box]
        start_ijk, size_ijk = tuple(start_kji[::-1]), tuple(size_kji[::-1])
        low, high = _physical_extent(geometry, start_ijk, size_ijk)
        results.append(LabelStatistics(
            value=value, name=names(value) if names else f"Label {value}",
            voxel_count=count, volume_ml=count * voxel_ml,
            mean=mean, std=std, minimum=minimum, maximum=maximum, median=median,
            bbox_index=tuple(int(v) for v in start_ijk), bbox_size=tuple(int(v) for v in size_ijk),
            bbox_mm_min=low, bbox_mm_max=high, component_count=int(component_count),
            component_volumes_ml=[float(s * voxel_ml) for s in sizes]))
    return results


def session_statistics(session, **options) -> list[LabelStatistics]:
    """:func:`label_statistics` of a session's image and labels."""
    return label_statistics(session.image.array, session.labels.array, session.geometry,
                            names=session.label_table.name_of, **options)


def format_table(rows: list[LabelStatistics]) -> str:
    """A plain-text table (the CLI's default output)."""
    header = (f"{'label':>5} {'name':<16} {'voxels':>9} {'mL':>9} {'mean':>9} {'std':>8} "
              f"{'min':>8} {'max':>8} {'median':>8} {'parts':>5}  bbox mm (min -> max)")
    lines = [header]
    for r in rows:
        def fmt(v, width):
            return f"{'-':>{width}}" if v is None else f"{v:>{width}.1f}"
        box = ("(" + ", ".join(f"{v:.1f}" for v in r.bbox_mm_min) + ") -> ("
               + ", ".join(f"{v:.1f}" for v in r.bbox_mm_max) + ")")
        lines.append(f"{r.value:>5} {r.name[:16]:<16} {r.voxel_count:>9} {r.volume_ml:>9.3f} "
                     f"{fmt(r.mean, 9)} {fmt(r.std, 8)} {fmt(r.minimum, 8)} {fmt(r.maximum, 8)} "
                     f"{fmt(r.median, 8)} {r.component_count:>5}  {box}")
    return "\n".join(lines)
