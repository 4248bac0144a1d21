"""A simulated user: scribbles and clicks drawn from a reference label map.

The strokes imitate what a person draws with a small brush, not whole slices:

* **Foreground**: for each structure (label) and each of ``slices`` slices evenly spread over
  its extent along ``axis`` (default 0, the axial array axis), one stroke along the middle
  of the structure's cross-section (a medial line: the ridge of the in-plane distance map
  along the section's main direction), a few voxels thick, kept inside the structure
  eroded by one voxel, covering most of its length.
* **Background**: on the same slices, a thin ring ``background_distance_mm`` outside the
  structure (and at least as far from every other structure), clipped to the image.
* **Corrections** (:func:`corrective_scribble`): the largest connected error region (false
  negatives of a label, or false positives that belong to the background) gets one medial
  stroke on its largest cross-section, with the value the reference has there.

**Styles** (:data:`STYLES`, ``segviewer simulate --style`` and ``segviewer bench interactive
--styles``): real users draw differently, so the same user can draw a partial background arc
instead of a closed ring, strokes off the medial axis, 1, 2 or 3 slices anywhere in the middle
80 % of the structure, thinner or thicker strokes, and a few stray voxels over the boundary. A
method tuned to one way of drawing shows it as a spread of Dice across styles.

Output uses the scribble file convention: ``0`` = background, ``k`` = label ``k``, the dtype's
maximum (255 for ``uint8``) = not annotated. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segviewer.evaluation.metrics import SpacingLike, spacing_zyx
from segviewer.model.geometry import Geometry, bounding_box, grow_box
from segviewer.model.points import PointPrompt

_EIGHT = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True)
class StrokeStyle:
    """How the simulated user draws.

    ``radius_voxels`` is the brush radius (1 → strokes 3 voxels wide); ``coverage`` the
    fraction of a section's length the foreground stroke spans; ``inside_margin_voxels`` how
    far strokes stay from the structure's edge; ``background_distance_mm`` how far outside
    the structure the background ring runs, ``background_width_voxels`` its thickness.
    """

    radius_voxels: int = 1
    coverage: float = 0.8
    inside_margin_voxels: int = 1
    background_distance_mm: float = 3.0
    background_width_voxels: float = 1.5
    #: Sections smaller than this fraction of the largest on the slice get no stroke.
    min_component_fraction: float = 0.25
    #: Fraction of the background ring kept, as one arc (1 = a closed ring around the structure).
    background_fraction: float = 1.0
    #: How far the foreground stroke runs beside the medial axis, as a fraction of the way to
    #: the edge (0 = on the axis; the side is seeded).
    medial_offset: float = 0.0
    #: Slices per structure, overriding the caller's count when set.
    slices: int | None = None
    #: "even": slices evenly spread (25/50/75 %); "random": seeded, anywhere in the middle 80 %.
    slice_placement: str = "even"
    #: Voxels of each foreground stroke that overshoot the structure's edge (users are not precise).
    stray_voxels: int = 0


#: Named drawing styles (``--style NAME``): each changes one habit of the default user, and
#: "mixed" combines the habits an independent simulator had (open background, off-axis strokes,
#: slices anywhere, a little overshoot).
STYLES: dict[str, StrokeStyle] = {
    "default": StrokeStyle(),
    "partial-background": StrokeStyle(background_fraction=0.4),
    "off-axis": StrokeStyle(medial_offset=0.6),
    "one-slice": StrokeStyle(slices=1),
    "two-slices": StrokeStyle(slices=2),
    "random-slices": StrokeStyle(slice_placement="random"),
    "thin": StrokeStyle(radius_voxels=0),
    "thick": StrokeStyle(radius_voxels=2, inside_margin_voxels=0),
    "stray": StrokeStyle(stray_voxels=3),
    "mixed": StrokeStyle(background_fraction=0.5, medial_offset=0.5, slice_placement="random",
                         stray_voxels=2),
}


def style_named(name: str) -> StrokeStyle:
    """The style called ``name`` (see :data:`STYLES`); ``KeyError`` names the choices."""
    try:
        return STYLES[name]
    except KeyError:
        raise KeyError(f"unknown style {name!r} (choose from {', '.join(STYLES)})") from None


DEFAULT_STYLE = StrokeStyle()


def _scribble_dtype(labels: Iterable[int]) -> np.dtype:
    return np.dtype(np.uint16) if any(int(v) >= 255 for v in labels) else np.dtype(np.uint8)


def empty_scribbles(shape: Sequence[int], dtype=np.uint8) -> np.ndarray:
    """An all-"not annotated" scribble array."""
    dtype = np.dtype(dtype)
    return np.full(tuple(shape), np.iinfo(dtype).max, dtype=dtype)


# -- 2D stroke geometry ----------------------------------------------------------------------
def _disk(radius: int) -> np.ndarray:
    r = int(max(0, radius))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r


def _rasterize_polyline(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Thin (one voxel) line through ``points`` ((N, 2) float row/col) on a ``shape`` grid."""
    line = np.zeros(shape, dtype=bool)
    if len(points) == 0:
        return line
    if len(points) == 1:
        r, c = np.clip(np.rint(points[0]).astype(int), 0, np.asarray(shape) - 1)
        line[r, c] = True
        return line
    for start, end in zip(points[:-1], points[1:]):
        n = int(np.ceil(np.abs(end - start).max() * 2)) + 1
        t = np.linspace(0.0, 1.0, n)[:, None]
        samples = np.rint(start[None, :] * (1 - t) + end[None, :] * t).astype(int)
        samples = np.clip(samples, 0, np.asarray(shape) - 1)
        line[samples[:, 0], samples[:, 1]] = True
    return line


def _grid_graph(mask: np.ndarray, spacing2d: np.ndarray, depth: np.ndarray):
    """8-connected graph of the pixels of ``mask``: (step lengths in mm, medial costs, index map)."""
    from scipy.sparse import coo_matrix

    index = np.full(mask.shape, -1, dtype=np.int64)
    count = int(mask.sum())
    index[mask] = np.arange(count)
    rows, cols, lengths, costs = [], [], [], []
    height, width = mask.shape
    pairs = {  # (a, b) index views of each neighbour direction
        (0, 1): (index[:, :width - 1], index[:, 1:]),
        (1, 0): (index[:height - 1, :], index[1:, :]),
        (1, 1): (index[:height - 1, :width - 1], index[1:, 1:]),
        (1, -1): (index[:height - 1, 1:], index[1:, :width - 1]),
    }
    flat_depth = depth[mask]
    for (dr, dc), (a, b) in pairs.items():
        both = (a >= 0) & (b >= 0)
        if not both.any():
            continue
        u, v = a[both], b[both]
        step = float(np.hypot(dr * spacing2d[0], dc * spacing2d[1]))
        mean_depth = 0.5 * (flat_depth[u] + flat_depth[v])
        rows.append(u)
        cols.append(v)
        lengths.append(np.full(u.size, step))
        # a path through deep voxels is cheap: it runs down the middle of the region
        costs.append(step / (mean_depth ** 2 + 1e-6))
    if not rows:
        return None, None, index
    u, v = np.concatenate(rows), np.concatenate(cols)
    length_graph = coo_matrix((np.concatenate(lengths), (u, v)), shape=(count, count)).tocsr()
    cost_graph = coo_matrix((np.concatenate(costs), (u, v)), shape=(count, count)).tocsr()
    return length_graph, cost_graph, index


def medial_path(region: np.ndarray, spacing2d: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """Ordered (row, col) points along the middle of a connected 2D region, end to end.

    The ends are the two pixels furthest apart along the region (geodesic distance, found
    by two sweeps); the path between them is the shortest one where deep pixels (far from
    the edge) are cheap, so it follows the region's medial axis — through bends too, like
    a hand following a curved structure.
    """
    from scipy.sparse.csgraph import dijkstra

    region = np.asarray(region, dtype=bool)
    spacing2d = np.asarray(spacing2d, dtype=float)
    coords = np.argwhere(region)
    if len(coords) <= 2:
        return coords.astype(float)
    depth = ndimage.distance_transform_edt(np.pad(region, 1), sampling=spacing2d)[1:-1, 1:-1]
    length_graph, cost_graph, _ = _grid_graph(region, spacing2d, depth)
    if length_graph is None:
        return coords[:1].astype(float)
    deepest = int(np.argmax(depth[region]))
    from_deepest = dijkstra(length_graph, directed=False, indices=deepest)
    first = int(np.argmax(np.where(np.isfinite(from_deepest), from_deepest, -1)))
    from_first = dijkstra(length_graph, directed=False, indices=first)
    second = int(np.argmax(np.where(np.isfinite(from_first), from_first, -1)))
    _, predecessors = dijkstra(cost_graph, directed=False, indices=first, return_predecessors=True)
    path = [second]
    while path[-1] != first and predecessors[path[-1]] >= 0:
        path.append(int(predecessors[path[-1]]))
    return coords[np.asarray(path[::-1])].astype(float)  # argwhere order = graph index order


def _trim(points: np.ndarray, spacing2d: np.ndarray, coverage: float) -> np.ndarray:
    """The middle ``coverage`` of a polyline, by length."""
    if len(points) < 3 or coverage >= 1.0:
        return points
    steps = np.linalg.norm(np.diff(points, axis=0) * spacing2d, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    margin = 0.5 * (1.0 - max(0.0, coverage)) * arc[-1]
    keep = (arc >= margin - 1e-9) & (arc <= arc[-1] - margin + 1e-9)
    return points[keep] if keep.any() else points[[len(points) // 2]]


def _offset_path(points: np.ndarray, depth: np.ndarray, fraction: float, keep_clear: float) -> np.ndarray:
    """``points`` moved sideways (perpendicular to the path, to its left for a positive
    ``fraction``) by ``fraction`` of the way from the axis to ``keep_clear`` voxels short of
    the edge (``depth`` = in-plane distance to the edge, in voxels)."""
    if len(points) < 2 or fraction == 0.0:
        return points
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    index = np.clip(np.rint(points).astype(int), 0, np.asarray(depth.shape) - 1)
    room = np.maximum(depth[index[:, 0], index[:, 1]] - keep_clear, 0.0)
    return points + normal * (fraction * room)[:, None]


def medial_stroke(region: np.ndarray, spacing2d: Sequence[float] = (1.0, 1.0),
                  style: StrokeStyle = DEFAULT_STYLE, coverage: float | None = None,
                  allowed: np.ndarray | None = None, side: int = 1) -> np.ndarray:
    """A brush stroke along the middle of a 2D region.

    The stroke follows :func:`medial_path` of the region's largest part, spans ``coverage``
    of its length and is ``2 r + 1`` voxels wide; with ``style.medial_offset`` it runs that
    far beside the axis, on the ``side`` (+1 or -1) of it. It is clipped to ``allowed`` when given,
    else to the region eroded by ``inside_margin_voxels`` (or to the region itself when
    that erosion leaves nothing), so it never leaves the structure.
    """
    region = np.asarray(region, dtype=bool)
    stroke = np.zeros_like(region)
    if not region.any():
        return stroke
    coverage = style.coverage if coverage is None else coverage
    spacing2d = np.asarray(spacing2d, dtype=float)
    box = grow_box(bounding_box(region), (style.radius_voxels + 2,) * 2, region.shape)
    sub = region[box]
    if allowed is not None:
        safe = np.asarray(allowed, dtype=bool)[box] | sub
    else:
        safe = sub
        if style.inside_margin_voxels > 0:
            eroded = ndimage.binary_erosion(sub, iterations=style.inside_margin_voxels, border_value=0)
            if eroded.any():
                safe = eroded
    components = _large_components(sub, 1.0)
    points = _trim(medial_path(components[0], spacing2d), spacing2d, coverage)
    if style.medial_offset:
        depth = ndimage.distance_transform_edt(np.pad(components[0], 1))[1:-1, 1:-1]
        points = _offset_path(points, depth, side * style.medial_offset,
                              style.radius_voxels + style.inside_margin_voxels + 0.5)
    line = _rasterize_polyline(points, sub.shape)
    if style.radius_voxels > 0:
        line = ndimage.binary_dilation(line, structure=_disk(style.radius_voxels))
    line &= safe
    if not line.any():  # nothing left inside: the region's deepest voxel
        depth = ndimage.distance_transform_edt(np.pad(sub, 1))[1:-1, 1:-1]
        line = np.zeros_like(sub)
        line[np.unravel_index(int(np.argmax(depth)), depth.shape)] = True
    stroke[box] = line
    return stroke


def _large_components(mask: np.ndarray, fraction: float) -> list[np.ndarray]:
    components, count = ndimage.label(mask, structure=_EIGHT)
    if count == 0:
        return []
    sizes = np.bincount(components.ravel())[1:]
    keep = [i + 1 for i in np.argsort(-sizes) if sizes[i] >= fraction * sizes.max()]
    return [components == i for i in keep]


def background_ring(structure: np.ndarray, any_foreground: np.ndarray, spacing2d: Sequence[float],
                    style: StrokeStyle = DEFAULT_STYLE, start_angle: float = 0.0) -> np.ndarray:
    """A thin ring ``background_distance_mm`` outside ``structure`` on one slice, kept at
    least that far from every foreground voxel (``any_foreground``).

    With ``style.background_fraction`` < 1 only an arc of the ring is kept, that fraction of
    the full turn around the structure's centre, starting at ``start_angle`` (radians): the
    background stroke of a user who does not close it."""
    if not structure.any():
        return np.zeros_like(structure, dtype=bool)
    spacing2d = np.asarray(spacing2d, dtype=float)
    distance = max(style.background_distance_mm, 2.0 * float(spacing2d.max()))
    width = style.background_width_voxels * float(spacing2d.max())
    margin = int(np.ceil((distance + width) / spacing2d.min())) + 2
    box = grow_box(bounding_box(structure), (margin, margin), structure.shape)
    to_structure = ndimage.distance_transform_edt(~structure[box], sampling=spacing2d)
    to_any = ndimage.distance_transform_edt(~any_foreground[box], sampling=spacing2d)
    ring = (to_structure >= distance) & (to_structure < distance + width) & (to_any >= distance - 1e-6)
    if style.background_fraction < 1.0:
        centre = np.argwhere(structure[box]).mean(axis=0)
        rows, cols = np.nonzero(ring)
        angle = np.mod(np.arctan2(rows - centre[0], cols - centre[1]) - start_angle, 2 * np.pi)
        ring[rows, cols] = angle < 2 * np.pi * max(style.background_fraction, 0.0)
    out = np.zeros_like(structure, dtype=bool)
    out[box] = ring
    return out


# -- slice choice ------------------------------------------------------------------------------
def choose_slices(mask: np.ndarray, count: int = 3, axis: int = 0,
                  rng: np.random.Generator | None = None, placement: str = "even") -> list[int]:
    """``count`` distinct slice indices over the mask's extent along ``axis``.

    ``placement="even"``: slice ``n`` of ``count`` sits at ``(n + 1) / (count + 1)`` of the
    extent (the middle for one slice; 25 %, 50 %, 75 % for three), moved by a small seeded
    jitter. ``"random"``: each slice anywhere in the middle 80 % (seeded). Either way a
    slice is snapped to the nearest one where the structure is present.
    """
    other = tuple(a for a in range(mask.ndim) if a != axis)
    present = np.flatnonzero(np.asarray(mask, dtype=bool).any(axis=other))
    if present.size == 0 or count <= 0:
        return []
    if present.size <= count:
        return [int(v) for v in present]
    low, high = int(present[0]), int(present[-1])
    extent = high - low
    jitter = int(extent // (4 * (count + 1)))
    chosen: list[int] = []
    for n in range(count):
        if placement == "random":
            target = low + extent * float((rng or np.random.default_rng(0)).uniform(0.1, 0.9))
        else:
            target = low + (n + 1) * extent / (count + 1)
            if rng is not None and jitter > 0:
                target += int(rng.integers(-jitter, jitter + 1))
        candidates = [int(v) for v in present if int(v) not in chosen]
        chosen.append(min(candidates, key=lambda v: (abs(v - target), v)))
    return sorted(chosen)


def _overshoot(stroke: np.ndarray, section: np.ndarray, count: int) -> np.ndarray:
    """Where a stroke drawn a little carelessly runs over the structure's edge: the ``count``
    voxels outside ``section`` nearest to ``stroke``, each joined to the stroke by a short
    line (the brush passed over the edge voxels in between)."""
    out = np.zeros_like(stroke)
    if count <= 0 or not stroke.any():
        return out
    distance, nearest = ndimage.distance_transform_edt(~stroke, return_indices=True)
    distance[section] = np.inf
    for flat in np.argsort(distance, axis=None, kind="stable")[:count]:
        if not np.isfinite(distance.flat[flat]):
            break
        end = np.array(np.unravel_index(flat, stroke.shape))
        start = nearest[(slice(None), *end)]
        out |= _rasterize_polyline(np.stack([start, end]).astype(float), stroke.shape)
    return out & ~stroke


def _plane(volume: np.ndarray, axis: int, index: int) -> tuple:
    selector: list = [slice(None)] * volume.ndim
    selector[axis] = index
    return tuple(selector)


def _in_plane_spacing(spacing: tuple[float, ...], axis: int) -> tuple[float, float]:
    values = [s for a, s in enumerate(spacing) if a != axis]
    return values[0], values[1]


# -- initial scribbles ----------------------------------------------------------------------
def simulate_scribbles(reference: np.ndarray, spacing: SpacingLike = None, slices: int = 3,
                       axis: int = 0, seed: int = 0, labels: Iterable[int] | None = None,
                       style: StrokeStyle = DEFAULT_STYLE, background: bool = True) -> np.ndarray:
    """Scribbles on ``slices`` slices per structure of a reference label map.

    Parameters
    ----------
    reference : label map in array order (0 = background).
    spacing : array-order spacing ``(sz, sy, sx)`` in mm, or the image's Geometry.
    slices : slices per structure (K), evenly spread over its extent along ``axis``.
    axis : the array axis the slices cut (0 = axial for the usual volumes).
    seed : everything random (the slice jitter) follows this seed.
    labels : structures to scribble (default: every non-zero value present).
    background : also draw background rings around each structure on the same slices.
    style : how the user draws (see :data:`STYLES`); ``style.slices`` overrides ``slices``.

    Returns
    -------
    A ``uint8`` scribble array (``uint16`` when a label is ≥ 255): 0 = background,
    k = label k, the dtype's maximum = not annotated.
    """
    reference = np.asarray(reference)
    sampling = spacing_zyx(spacing, reference.ndim)
    if labels is None:
        labels = [int(v) for v in np.unique(reference) if v != 0]
    labels = [int(v) for v in labels]
    dtype = _scribble_dtype(labels)
    scribbles = empty_scribbles(reference.shape, dtype)
    rng = np.random.default_rng(seed)
    # the style's own draws (arc start, stroke side) come from a second stream, so the
    # default style's slices are those of every earlier version for the same seed
    style_rng = np.random.default_rng([seed, 1])
    spacing2d = _in_plane_spacing(sampling, axis)
    unannotated = np.iinfo(dtype).max
    slices = style.slices or slices
    for label in labels:
        mask = reference == label
        for index in choose_slices(mask, slices, axis, rng, style.slice_placement):
            plane = _plane(reference, axis, index)
            section = mask[plane]
            out = scribbles[plane]
            if background:
                start = float(style_rng.uniform(0.0, 2 * np.pi))
                ring = background_ring(section, reference[plane] != 0, spacing2d, style, start)
                out[ring & (out == unannotated)] = 0
            for component in _large_components(section, style.min_component_fraction):
                stroke = medial_stroke(component, spacing2d, style, side=1 if style_rng.random() < 0.5 else -1)
                out[stroke] = label
                stray = _overshoot(stroke, section, style.stray_voxels)
                out[stray & ((out == unannotated) | (out == 0))] = label
    return scribbles


# -- clicks -------------------------------------------------------------------------------------
def _voxel_to_mm(index_kji: Sequence[int], geometry: Geometry) -> tuple[float, float, float]:
    k, j, i = (int(v) for v in index_kji)
    x, y, z = geometry.index_to_physical((i, j, k))
    return (float(x), float(y), float(z))


def simulate_points(reference: np.ndarray, geometry: Geometry, positive: int = 1, negative: int = 1,
                    axis: int = 0, seed: int = 0, labels: Iterable[int] | None = None,
                    style: StrokeStyle = DEFAULT_STYLE) -> list[PointPrompt]:
    """Clicks per structure, in physical mm.

    Positive clicks go to the voxel deepest inside the structure on each of ``positive``
    evenly spread slices (the centre of its largest section, as a person clicks);
    negative clicks to a seeded random voxel of the background ring on the same slices.
    """
    reference = np.asarray(reference)
    sampling = spacing_zyx(geometry, reference.ndim)
    spacing2d = _in_plane_spacing(sampling, axis)
    if labels is None:
        labels = [int(v) for v in np.unique(reference) if v != 0]
    rng = np.random.default_rng(seed)
    points: list[PointPrompt] = []
    for label in labels:
        mask = reference == label
        chosen = choose_slices(mask, max(positive, negative), axis, rng, style.slice_placement)
        for n, index in enumerate(chosen):
            plane = _plane(reference, axis, index)
            section = mask[plane]
            if n < positive:
                components = _large_components(section, 1.0)
                depth = ndimage.distance_transform_edt(components[0], sampling=spacing2d)
                r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
                points.append(PointPrompt(_voxel_to_mm(_insert(index, axis, r, c), geometry), label, True))
            if n < negative:
                ring = background_ring(section, reference[plane] != 0, spacing2d, style)
                rows, cols = np.nonzero(ring)
                if rows.size:
                    pick = int(rng.integers(rows.size))
                    points.append(PointPrompt(_voxel_to_mm(_insert(index, axis, rows[pick], cols[pick]),
                                                           geometry), label, False))
    return points


def _insert(index: int, axis: int, r: int, c: int) -> tuple[int, int, int]:
    values = [int(r), int(c)]
    values.insert(axis, int(index))
    return tuple(values)  # type: ignore[return-value]


# -- corrections --------------------------------------------------------------------------------
@dataclass
class Correction:
    """One corrective interaction: which value was scribbled where."""

    value: int  # 0 = background scribble, k = label k
    kind: str  # "false_negative" (a label missed) or "false_positive" (background claimed)
    slice_index: int
    axis: int
    region_voxels: int  # size of the 3D error region it corrects
    stroke_voxels: int
    point_kji: tuple[int, int, int]  # deepest voxel of the region's section (for a click)

    def to_dict(self) -> dict:
        return {"value": self.value, "kind": self.kind, "slice": self.slice_index, "axis": self.axis,
                "region_voxels": self.region_voxels, "stroke_voxels": self.stroke_voxels,
                "point_kji": list(self.point_kji)}


def largest_error_region(prediction: np.ndarray, reference: np.ndarray,
                         exclude: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
    """The largest 6-connected region where the prediction is wrong, grouped by the value
    the reference has there; returns (mask, reference value) or None when all is right."""
    wrong = np.asarray(prediction) != np.asarray(reference)
    if exclude is not None:
        wrong &= ~exclude
    box = bounding_box(wrong)
    if box is None:
        return None
    wrong_box = wrong[box]
    ref_box = np.asarray(reference)[box]
    best: tuple[int, int, np.ndarray, int] | None = None  # (size, -value, mask, value)
    for value in np.unique(ref_box[wrong_box]):
        components, _ = ndimage.label(wrong_box & (ref_box == value))
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        top = int(np.argmax(sizes))
        if best is None or sizes[top] > best[0]:
            best = (int(sizes[top]), -int(value), components == top, int(value))
    assert best is not None
    mask = np.zeros(wrong.shape, dtype=bool)
    mask[box] = best[2]
    return mask, best[3]


def corrective_scribble(prediction: np.ndarray, reference: np.ndarray, scribbles: np.ndarray,
                        spacing: SpacingLike = None, axis: int = 0,
                        style: StrokeStyle = DEFAULT_STYLE) -> Correction | None:
    """Add one stroke, in place, where the prediction is most wrong; None when nothing is.

    The largest error region (voxels already scribbled excluded) is found in 3D; the stroke
    is drawn on its largest section along ``axis``, with the reference value there
    (a missed label → a stroke of that label; a false positive → a background stroke).
    """
    unannotated = np.iinfo(scribbles.dtype).max
    found = largest_error_region(prediction, reference, exclude=scribbles != unannotated)
    if found is None:
        return None
    region, value = found
    sampling = spacing_zyx(spacing, region.ndim)
    other = tuple(a for a in range(region.ndim) if a != axis)
    areas = region.sum(axis=other)
    index = int(np.argmax(areas))
    plane = _plane(region, axis, index)
    section = _large_components(region[plane], 1.0)[0]
    # the stroke follows the error region but may run over correct voxels of the same class
    # (a thin band of error still gets a brush-wide stroke, as a person would paint it)
    allowed = np.asarray(reference)[plane] == value
    stroke = medial_stroke(section, _in_plane_spacing(sampling, axis), style, coverage=1.0, allowed=allowed)
    depth = ndimage.distance_transform_edt(section, sampling=_in_plane_spacing(sampling, axis))
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    scribbles[plane][stroke] = value
    predicted = np.asarray(prediction)[plane][r, c]
    kind = "false_positive" if value == 0 else "false_negative"
    if value != 0 and predicted != 0:
        kind = "wrong_label"
    return Correction(value, kind, index, axis, int(region.sum()), int(stroke.sum()),
                      _insert(index, axis, r, c))


def corrective_click(prediction: np.ndarray, reference: np.ndarray, geometry: Geometry,
                     axis: int = 0, exclude: np.ndarray | None = None) -> PointPrompt | None:
    """One click at the centre of the largest error region's largest section (positive for
    a missed label, negative — for the label predicted there — on a false positive)."""
    found = largest_error_region(prediction, reference, exclude)
    if found is None:
        return None
    region, value = found
    sampling = spacing_zyx(geometry, region.ndim)
    other = tuple(a for a in range(region.ndim) if a != axis)
    index = int(np.argmax(region.sum(axis=other)))
    plane = _plane(region, axis, index)
    section = _large_components(region[plane], 1.0)[0]
    depth = ndimage.distance_transform_edt(section, sampling=_in_plane_spacing(sampling, axis))
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    kji = _insert(index, axis, r, c)
    if value == 0:
        label = int(np.asarray(prediction)[kji])
        return PointPrompt(_voxel_to_mm(kji, geometry), label, False)
    return PointPrompt(_voxel_to_mm(kji, geometry), value, True)
