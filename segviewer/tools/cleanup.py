"""Clean-up operations on one label: islands, holes, smoothing, margins, logical operations.

Every operation works on the smallest crop that can change (the label's bounding box, grown
by the operation's reach), writes through :meth:`Session.apply_layer_crop` and so is ONE
undo step that stores only the changed voxels; locked labels stay protected. Sizes are in
millimetres (mm³ for volumes) on the image's real, possibly anisotropic, spacing.

Each function returns the undo :class:`~segviewer.model.history.Step` (None when nothing
changed); :func:`split_islands` returns the new label values as well.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import Box, bounding_box, grow_box
from segviewer.model.session import LABELS
from segviewer.tools.brush import PAINT_OVER_ALL, PAINT_OVER_BACKGROUND, writable_mask
from segviewer.tools.kernels import ellipsoid_kernel, margin_voxels, spacing_kji
from segviewer.tools.morphology import dilate, erode, within_distance


# -- helpers ------------------------------------------------------------------------------------
def label_box(session, value: int, margin_mm: float = 0.0) -> Box | None:
    """Bounding box of label ``value`` grown by ``margin_mm`` (None when the label is empty).

    Uses a projection per axis, which costs one pass over the volume.
    """
    mask = session.labels.array == value
    box = bounding_box(mask)
    if box is None:
        return None
    if margin_mm > 0:
        box = grow_box(box, margin_voxels(margin_mm, spacing_kji(session.geometry)), mask.shape)
    return box


def _structure(full_connectivity: bool) -> np.ndarray:
    return ndimage.generate_binary_structure(3, 3 if full_connectivity else 1)


def _write_mask(session, value: int, box: Box, new_mask: np.ndarray, description: str,
                paint_over: str = PAINT_OVER_BACKGROUND):
    """Make label ``value`` equal ``new_mask`` inside ``box``: voxels leaving it become 0,
    voxels joining it are taken only where ``paint_over`` allows."""
    crop = session.labels.array[box]
    old_mask = crop == value
    removed = old_mask & ~new_mask
    added = new_mask & ~old_mask
    if paint_over != PAINT_OVER_ALL:
        added &= writable_mask(crop, paint_over)
    if not removed.any() and not added.any():
        return None
    dtype = np.uint16 if value > 255 else crop.dtype
    values = np.zeros(crop.shape, dtype=dtype)
    values[added] = value
    return session.apply_layer_crop(LABELS, box, values, description, where=removed | added)


def components(mask: np.ndarray, full_connectivity: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of ``mask``: (labelled array, voxel count per component 1..n)."""
    labelled, count = ndimage.label(mask, structure=_structure(full_connectivity))
    sizes = np.bincount(labelled.reshape(-1), minlength=count + 1)[1:]
    return labelled, sizes


# -- islands ------------------------------------------------------------------------------------
def keep_largest_island(session, value: int, full_connectivity: bool = False):
    """Remove every connected piece of label ``value`` except the largest."""
    box = label_box(session, value)
    if box is None:
        return None
    mask = session.labels.array[box] == value
    labelled, sizes = components(mask, full_connectivity)
    if len(sizes) <= 1:
        return None
    keep = labelled == (int(np.argmax(sizes)) + 1)
    return _write_mask(session, value, box, keep, "Keep largest island")


def remove_small_islands(session, value: int, min_volume_mm3: float, full_connectivity: bool = False):
    """Remove connected pieces of label ``value`` smaller than ``min_volume_mm3``."""
    box = label_box(session, value)
    if box is None:
        return None
    mask = session.labels.array[box] == value
    labelled, sizes = components(mask, full_connectivity)
    voxel_mm3 = session.geometry.voxel_volume_mm3
    small = np.flatnonzero(sizes * voxel_mm3 < min_volume_mm3) + 1
    if small.size == 0:
        return None
    keep = mask & ~np.isin(labelled, small)
    return _write_mask(session, value, box, keep, f"Remove islands < {min_volume_mm3:g} mm³")


def split_islands(session, value: int, full_connectivity: bool = False,
                  min_volume_mm3: float = 0.0):
    """Split label ``value`` into connected instances, each a new label.

    The largest piece keeps ``value``; the others, largest first, get the next free label
    values (named "<name> 2", "<name> 3", …). Pieces under ``min_volume_mm3`` stay as they
    are. Returns ``(step, [new values])``.
    """
    box = label_box(session, value)
    if box is None:
        return None, []
    mask = session.labels.array[box] == value
    labelled, sizes = components(mask, full_connectivity)
    order = np.argsort(-sizes, kind="stable") + 1
    voxel_mm3 = session.geometry.voxel_volume_mm3
    order = [int(c) for c in order if sizes[c - 1] * voxel_mm3 >= min_volume_mm3]
    if len(order) <= 1:
        return None, []
    table = session.label_table
    first_new = max(table.max_value, int(session.labels.array.max())) + 1
    new_values = list(range(first_new, first_new + len(order) - 1))
    lookup = np.zeros(int(labelled.max()) + 1, dtype=np.uint16 if new_values[-1] > 255 else np.uint8)
    for component, new_value in zip(order[1:], new_values):
        lookup[component] = new_value
    values = lookup[labelled]
    where = values > 0
    base_name = table.name_of(value)
    colour_rows = []
    for n, new_value in enumerate(new_values, start=2):
        if new_value not in table:
            colour_rows.append((new_value, f"{base_name} {n}"))
    step = session.apply_layer_crop(LABELS, box, values, "Split islands", where=where)
    for new_value, name in colour_rows:
        if new_value in table:
            table.update(new_value, name=name)
        else:
            table.add(new_value, name)
    return step, new_values


# -- holes and smoothing -----------------------------------------------------------------------
def fill_holes(session, value: int, axis: int | None = None, paint_over: str = PAINT_OVER_BACKGROUND):
    """Fill enclosed holes of label ``value``: in 3D, or slice by slice normal to ``axis``.

    By default only unlabelled voxels are filled (a hole holding another label keeps it).
    """
    box = label_box(session, value)
    if box is None:
        return None
    mask = session.labels.array[box] == value
    if axis is None:
        filled = ndimage.binary_fill_holes(mask)
    else:
        filled = np.empty_like(mask)
        for index in range(mask.shape[axis]):
            where = [slice(None)] * 3
            where[axis] = index
            filled[tuple(where)] = ndimage.binary_fill_holes(mask[tuple(where)])
    return _write_mask(session, value, box, filled | mask, "Fill holes", paint_over)


SMOOTHING_METHODS = ("median", "opening", "closing", "opening_closing")


def _majority_vote(mask: np.ndarray, footprint: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary median: a voxel is inside when more than half of the ball around it is.

    Only voxels whose ball holds both inside and outside voxels can change, so the votes
    are counted there alone (a thin band along the surface), offset by offset.
    """
    band = dilate(mask, radius_mm, spacing) & dilate(~mask, radius_mm, spacing)
    result = mask.copy()
    positions = np.flatnonzero(band)
    if positions.size == 0:
        return result
    # Flat offsets of the ball in a padded copy, so no neighbour falls off the array.
    half = [n // 2 for n in footprint.shape]
    padded = np.pad(mask, [(h, h) for h in half])
    strides = np.array([padded.shape[1] * padded.shape[2], padded.shape[2], 1])
    offsets = [int(np.dot(np.array(o) - half, strides)) for o in np.argwhere(footprint)]
    coords = np.unravel_index(positions, mask.shape)
    centres = sum((c + h) * st for c, h, st in zip(coords, half, strides))
    flat = padded.reshape(-1)
    votes = np.zeros(positions.size, dtype=np.int32)
    for offset in offsets:
        votes += flat[centres + offset]
    result.reshape(-1)[positions] = votes * 2 > len(offsets)
    return result


def smooth(session, value: int, radius_mm: float = 1.0, method: str = "median",
           paint_over: str = PAINT_OVER_BACKGROUND):
    """Smooth label ``value`` with a ball of ``radius_mm`` (anisotropic spacing respected).

    ``median``: majority vote in the ball; ``opening``: removes thin protrusions;
    ``closing``: fills narrow gaps; ``opening_closing``: both (Slicer's default).
    """
    if method not in SMOOTHING_METHODS:
        raise ValueError(f"unknown smoothing {method!r}; use one of {SMOOTHING_METHODS}")
    spacing = spacing_kji(session.geometry)
    footprint = ellipsoid_kernel(radius_mm, spacing)
    # Every method's result lies within radius_mm of the label, so that margin suffices.
    box = label_box(session, value, margin_mm=radius_mm)
    if box is None:
        return None
    # Pad with outside voxels so the crop's edge behaves like the rest of the background.
    mask = session.labels.array[box] == value
    pad = [(h // 2 + 1, h // 2 + 1) for h in footprint.shape]
    padded = np.pad(mask, pad)
    if method == "median":
        result = _majority_vote(padded, footprint, radius_mm, spacing)
    elif method == "opening":
        result = dilate(erode(padded, radius_mm, spacing), radius_mm, spacing)
    elif method == "closing":
        result = erode(dilate(padded, radius_mm, spacing), radius_mm, spacing)
    else:
        opened = dilate(erode(padded, radius_mm, spacing), radius_mm, spacing)
        result = erode(dilate(opened, radius_mm, spacing), radius_mm, spacing)
    result = result[tuple(slice(p[0], p[0] + n) for p, n in zip(pad, mask.shape))]
    return _write_mask(session, value, box, result, f"Smooth ({method}, {radius_mm:g} mm)", paint_over)


# -- margins --------------------------------------------------------------------------------------
def grow(session, value: int, margin_mm: float, paint_over: str = PAINT_OVER_BACKGROUND):
    """Grow label ``value`` by ``margin_mm`` (Euclidean, on the real spacing)."""
    if margin_mm <= 0:
        return None
    box = label_box(session, value, margin_mm=margin_mm)
    if box is None:
        return None
    mask = session.labels.array[box] == value
    grown = within_distance(mask, margin_mm, spacing_kji(session.geometry))
    return _write_mask(session, value, box, grown, f"Grow {margin_mm:g} mm", paint_over)


def shrink(session, value: int, margin_mm: float):
    """Shrink label ``value`` by ``margin_mm``: voxels within that distance of its outside go.

    The volume's border does not count as outside (a label touching it is not eroded from it).
    """
    if margin_mm <= 0:
        return None
    box = label_box(session, value)
    if box is None:
        return None
    # One ring of outside voxels around the label's box holds every nearest outside voxel.
    box = grow_box(box, (1, 1, 1), session.labels.array.shape)
    mask = session.labels.array[box] == value
    near_outside = within_distance(~mask, margin_mm, spacing_kji(session.geometry))
    return _write_mask(session, value, box, mask & ~near_outside, f"Shrink {margin_mm:g} mm")


def grow_or_shrink(session, value: int, margin_mm: float, paint_over: str = PAINT_OVER_BACKGROUND):
    """Positive margins grow, negative margins shrink."""
    if margin_mm >= 0:
        return grow(session, value, margin_mm, paint_over)
    return shrink(session, value, -margin_mm)


# -- logical operations ---------------------------------------------------------------------------
LOGICAL_OPERATIONS = ("copy", "union", "subtract", "intersect", "clear")


def logical_operation(session, target: int, operation: str, modifier=None,
                      paint_over: str = PAINT_OVER_ALL):
    """Slicer's logical operators on label ``target``.

    ``modifier`` is another label value of the same map, or a boolean volume on the image
    grid (e.g. a mask from another segmentation). With M its voxels and T the target's:

    - ``copy``: T := M (T's other voxels are cleared; M's voxels are relabelled T)
    - ``union``: T := T ∪ M
    - ``subtract``: T := T \\ M
    - ``intersect``: T := T ∩ M
    - ``clear``: T := ∅ (no modifier)

    In one label map labels do not overlap, so with a label modifier ``subtract`` changes
    nothing and ``intersect`` empties T; they are meant for a mask from elsewhere.
    """
    if operation not in LOGICAL_OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; use one of {LOGICAL_OPERATIONS}")
    labels = session.labels.array
    if operation == "clear":
        return clear_label(session, target)
    if modifier is None:
        raise ValueError(f"{operation} needs a modifier label or mask")
    if isinstance(modifier, (int, np.integer)):
        modifier_mask = labels == int(modifier)
        description = f"{operation.capitalize()} label {int(modifier)} into {target}"
    else:
        modifier_mask = np.asarray(modifier, dtype=bool)
        if modifier_mask.shape != labels.shape:
            raise ValueError("the modifier mask is not on the image grid")
        description = f"{operation.capitalize()} mask into label {target}"
    target_mask = labels == target
    if operation == "copy":
        new_mask = modifier_mask
    elif operation == "union":
        new_mask = target_mask | modifier_mask
    elif operation == "subtract":
        new_mask = target_mask & ~modifier_mask
    else:
        new_mask = target_mask & modifier_mask
    box = bounding_box(new_mask != target_mask)
    if box is None:
        return None
    return _write_mask(session, target, box, new_mask[box], description, paint_over)


def clear_label(session, value: int):
    """Set every voxel of label ``value`` to 0 (the table row stays)."""
    box = label_box(session, value)
    if box is None:
        return None
    crop = session.labels.array[box]
    return session.apply_layer_crop(LABELS, box, np.zeros((), dtype=crop.dtype),
                                    f"Clear label {value}", where=crop == value)
